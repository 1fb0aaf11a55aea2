/**
 * StreamCopy: a caller's stream sent by one attempt after another, each attempt's stream read here as its
 * fetch would read it. The source hands out numbered 16-byte chunks, each only when the test lets it go, so
 * that which attempt reads what, and when, is decided by the test and not by timing.
 */

import { describe, expect, it } from "vitest";
import { StreamCopy } from "../../src/http/replayable-body.ts";

const CHUNK = 16;

/** A source of `count` 16-byte chunks (chunk n is filled with n); `let(n)` lets n more chunks out. */
function source(count: number) {
  const state = { read: 0, cancelled: false };
  let allowed = count;
  let wake = (): void => {};
  const stream = new ReadableStream<Uint8Array>(
    {
      pull: async (controller) => {
        if (state.read === count) return controller.close();
        while (state.read >= allowed) await new Promise<void>((resolve) => (wake = resolve));
        controller.enqueue(new Uint8Array(CHUNK).fill(state.read++));
      },
      cancel: () => {
        state.cancelled = true;
      },
    },
    { highWaterMark: 0 },
  );
  const whole = new Uint8Array(count * CHUNK).map((_, i) => Math.floor(i / CHUNK));
  return {
    stream,
    state,
    whole,
    /** Holds the chunks from the n-th on until `let` lets them out. */
    holdFrom: (n: number) => {
      allowed = n;
    },
    let: (n = count) => {
      allowed = Math.min(count, allowed + n);
      wake();
    },
  };
}

/** Reads `count` chunks of an attempt's stream (all of them without a count), as its fetch would. */
async function take(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  count = Number.POSITIVE_INFINITY,
): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for (let n = 0; n < count; n++) {
    const { done, value } = await reader.read();
    if (done) break;
    parts.push(value);
  }
  const bytes = new Uint8Array(parts.reduce((sum, p) => sum + p.byteLength, 0));
  let offset = 0;
  for (const part of parts) {
    bytes.set(part, offset);
    offset += part.byteLength;
  }
  return bytes;
}

/** Lets every pending promise reaction run: a read under way reaches the source. */
const turn = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 0));

const bytesOf = async (body: ReadableStream<Uint8Array> | Blob): Promise<Uint8Array> =>
  body instanceof Blob ? new Uint8Array(await body.arrayBuffer()) : take(body.getReader());

describe("StreamCopy: a body the answered attempt took past the limit is never sent again", () => {
  it("a later attempt's body fails with a TypeError naming maxBufferedBodyBytes, not the rest of the source", async () => {
    const { stream } = source(8);
    const copy = new StreamCopy(stream, 4 * CHUNK);
    // The retry was decided while the copy was whole; during the backoff the first upload went on.
    const first = (copy.body() as ReadableStream<Uint8Array>).getReader();
    await take(first, 6);
    expect(copy.resendable).toBe(false);
    expect(() => copy.body()).toThrow(TypeError);
    expect(() => copy.body()).toThrow(/maxBufferedBodyBytes \(64\)/);
  });

  it("nor a Blob of nothing once the first attempt read it to the end", async () => {
    const { stream } = source(8);
    const copy = new StreamCopy(stream, 4 * CHUNK);
    expect(await take((copy.body() as ReadableStream<Uint8Array>).getReader())).toHaveLength(8 * CHUNK);
    expect(() => copy.body()).toThrow(/cannot be sent again/);
  });
});

describe("StreamCopy: what each attempt sends", () => {
  it("an attempt stopped before it sent the chunk past the limit leaves the copy whole for the next", async () => {
    const s = source(8);
    s.holdFrom(4);
    const copy = new StreamCopy(s.stream, 4 * CHUNK);
    const first = (copy.body() as ReadableStream<Uint8Array>).getReader();
    await take(first, 4);
    const inFlight = first.read(); // the fifth chunk, past the limit, is on its way when the retry is decided
    await turn();
    copy.stop();
    s.let();
    await expect(inFlight).rejects.toMatchObject({ name: "AbortError" });
    expect(copy.resendable).toBe(true);
    expect(await bytesOf(copy.body())).toEqual(s.whole);
  });

  it("a stopped attempt's upload reads no further", async () => {
    const s = source(8);
    const copy = new StreamCopy(s.stream, 4 * CHUNK);
    const first = (copy.body() as ReadableStream<Uint8Array>).getReader();
    await take(first, 2);
    copy.stop();
    await expect(first.read()).rejects.toMatchObject({ name: "AbortError" });
    expect(s.state.read).toBe(2);
  });

  it("a chunk an earlier attempt read while the next one waited for the source is sent before the one past the limit", async () => {
    const s = source(8);
    s.holdFrom(2);
    const copy = new StreamCopy(s.stream, 3 * CHUNK);
    const first = (copy.body() as ReadableStream<Uint8Array>).getReader();
    await take(first, 2);
    const firstInFlight = first.read().catch((error: unknown) => error); // chunk 2, read for the first attempt
    await turn();
    const second = (copy.body() as ReadableStream<Uint8Array>).getReader();
    const replayed = await take(second, 2);
    const rest = take(second); // waits its turn behind the first attempt's read
    await turn();
    s.let();
    expect(await firstInFlight).toMatchObject({ name: "AbortError" });
    expect([...replayed, ...(await rest)]).toEqual([...s.whole]);
    expect(copy.resendable).toBe(false);
  });

  it("a retry after the whole source was read under the limit sends a Blob of all of it", async () => {
    const s = source(3);
    const copy = new StreamCopy(s.stream, 4 * CHUNK);
    await take((copy.body() as ReadableStream<Uint8Array>).getReader());
    const again = copy.body();
    expect(again).toBeInstanceOf(Blob);
    expect(await bytesOf(again)).toEqual(s.whole);
  });
});

describe("StreamCopy: letting go of the caller's stream", () => {
  it("a call that ends after its upload was stopped for a retry cancels the source, answered or not", async () => {
    const s = source(8);
    const copy = new StreamCopy(s.stream, 4 * CHUNK);
    await take((copy.body() as ReadableStream<Uint8Array>).getReader(), 1);
    copy.stop();
    copy.release(true);
    await Promise.resolve();
    expect(s.state.cancelled).toBe(true);
  });

  it("a call answered while its upload goes on leaves the source to that upload", async () => {
    const s = source(8);
    const copy = new StreamCopy(s.stream, 4 * CHUNK);
    const first = (copy.body() as ReadableStream<Uint8Array>).getReader();
    await take(first, 1);
    copy.release(true);
    expect(await take(first)).toEqual(s.whole.slice(CHUNK));
    expect(s.state.cancelled).toBe(false);
  });
});
