/**
 * A `Request` with a body (what ky hands `fetch`) made by a POST without an Idempotency-Key, under retries: the
 * first attempt sends the caller's own Request, and a clone is kept in case that attempt never left. What the
 * clone costs — how far it reads the caller's body, and when it lets it go — measured on the caller's stream.
 *
 * The errors are Node's own, from real requests (a closed port, a reset); the fetches that meet them are in
 * memory, so that the test decides whether a body is read or let go, not undici's buffering.
 */

import { beforeAll, describe, expect, inject, it } from "vitest";
import { createFetch, type FetchFunction, isNeverSentError } from "../../src/index.ts";
import { FakeClock } from "../support/fake-clock.ts";
import { refusedUntilOpen, scenario } from "../support/scenario.ts";

const server = inject("faultServer");

let refused: unknown;
let reset: unknown;
beforeAll(async () => {
  refused = await fetch((await refusedUntilOpen(server, "201")).url, { method: "POST" }).catch((e: unknown) => e);
  reset = await fetch(scenario(server, "reset").url, { method: "POST" }).catch((e: unknown) => e);
  expect(isNeverSentError(refused)).toBe(true);
  expect(isNeverSentError(reset)).toBe(false);
});

/**
 * A caller's body still being made: `chunks` 16-byte chunks, each only when asked (no read-ahead of its own),
 * and then nothing more until it is cancelled. `type: "bytes"` is how runtimes hold a string, a Blob or
 * FormData; a plain stream is a caller's own, as ky's upload progress makes.
 */
function callerBody(chunks: number, type?: "bytes") {
  const seen = { pulls: 0, cancelled: false };
  const stream = new ReadableStream<Uint8Array>(
    {
      type,
      pull: async (controller: ReadableStreamDefaultController<Uint8Array>) => {
        if (seen.pulls++ < chunks) controller.enqueue(new Uint8Array(16).fill(seen.pulls));
        else await new Promise(() => {});
      },
      cancel: () => {
        seen.cancelled = true;
      },
    } as UnderlyingDefaultSource<Uint8Array>,
    type === undefined ? { highWaterMark: 0 } : undefined,
  );
  return { stream, seen };
}

const post = (body: ReadableStream<Uint8Array>, url = "http://127.0.0.1:9/orders") =>
  new Request(url, { method: "POST", body, duplex: "half" } as RequestInit);

/** A fetch that lets the body it is given go unread, then ends as `outcome` says, counting the requests. */
function fetchThat(outcome: (attempt: number) => Response | unknown) {
  const requests: Request[] = [];
  const fetch: FetchFunction = async (input) => {
    requests.push(input as Request);
    void (input as Request).body?.cancel().catch(() => {});
    const result = outcome(requests.length);
    if (result instanceof Response) return result;
    throw result;
  };
  return { fetch, requests };
}

/** Lets pending cancellations reach the caller's stream. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 10));

describe("a POST Request without a key, kept in case it never leaves", () => {
  it("is sent as the caller's own Request first, and as a clone of it after a refused connection", async () => {
    const target = await refusedUntilOpen(server, "201");
    const sent: unknown[] = [];
    const client = createFetch({
      env: new FakeClock().instantSleep(),
      fetch: (input, init) => {
        sent.push(input);
        return fetch(input, init);
      },
      beforeRetry: () => target.open(),
    });
    const request = new Request(target.url, { method: "POST", body: "charge once" });
    expect(await (await client(request)).text()).toBe("201 #1");
    expect(sent).toHaveLength(2);
    expect(sent[0]).toBe(request);
    expect(sent[1]).not.toBe(request);
    expect((await target.received()).map((r) => atob(r.bodyBase64))).toEqual(["charge once"]);
  });

  it("lets the clone go once an answer came: no copy of the caller's body stays open", async () => {
    const { stream, seen } = callerBody(4, "bytes");
    const { fetch } = fetchThat(() => new Response(null, { status: 201 }));
    const response = await createFetch({ fetch })(post(stream));
    expect(response.status).toBe(201);
    await settle();
    // A stream is cancelled only once every branch of its tees was: the clone's included.
    expect(seen.cancelled).toBe(true);
  });

  it("lets the clone go after a failure that may have reached the server", async () => {
    const { stream, seen } = callerBody(4, "bytes");
    const { fetch, requests } = fetchThat(() => reset);
    await expect(createFetch({ fetch })(post(stream))).rejects.toBe(reset);
    await settle();
    expect(requests).toHaveLength(1);
    expect(seen.cancelled).toBe(true);
  });

  it("is sent whole by every attempt while each is refused", async () => {
    const bodies: string[] = [];
    const fetch: FetchFunction = async (input) => {
      bodies.push(await (input as Request).text());
      throw refused;
    };
    const client = createFetch({ fetch, env: new FakeClock().instantSleep() });
    await expect(
      client(new Request("http://127.0.0.1:9/orders", { method: "POST", body: "charge once" })),
    ).rejects.toBe(refused);
    expect(bodies).toEqual(["charge once", "charge once", "charge once"]);
  });

  it("reads a caller's own stream at most two chunks further than fetch does, and does not send it again", async () => {
    const target = await refusedUntilOpen(server, "201");
    const plain = callerBody(10);
    await fetch(post(plain.stream, target.url)).catch(() => {});
    const { stream, seen } = callerBody(10);
    let attempts = 0;
    const client = createFetch({
      env: new FakeClock().instantSleep(),
      fetch: (input, init) => {
        attempts++;
        return fetch(input, init);
      },
    });
    await expect(client(post(stream, target.url))).rejects.toSatisfy(isNeverSentError);
    await settle();
    expect(attempts).toBe(1);
    expect(seen.pulls).toBeLessThanOrEqual(plain.seen.pulls + 2);
  });

  it("does not send again a body past maxBufferedBodyBytes, nor keep more of it", async () => {
    const { stream, seen } = callerBody(10, "bytes");
    const { fetch, requests } = fetchThat(() => refused);
    const client = createFetch({ fetch, env: new FakeClock().instantSleep(), maxBufferedBodyBytes: 64 });
    await expect(client(post(stream))).rejects.toBe(refused);
    expect(requests).toHaveLength(1);
    // 64 bytes are four chunks: the fifth takes the copy past the limit, and nothing more is read.
    expect(seen.pulls).toBe(5);
  });

  it("past maxBufferedBodyBytes, lets the clones go at once, while the attempt is still under way", async () => {
    const { stream, seen } = callerBody(10, "bytes");
    let answer = (_response: Response): void => {};
    const fetch: FetchFunction = (input) => {
      void (input as Request).body?.cancel().catch(() => {});
      return new Promise((resolve) => (answer = resolve));
    };
    const pending = createFetch({ fetch, maxBufferedBodyBytes: 64 })(post(stream));
    await settle();
    // The caller's stream is cancelled once every branch is: the clones were let go before any answer came.
    expect(seen.cancelled).toBe(true);
    answer(new Response(null, { status: 201 }));
    expect((await pending).status).toBe(201);
  });

  it("is not sent again when the caller's stream fails", async () => {
    const failing = new ReadableStream<Uint8Array>({
      type: "bytes",
      pull: (controller) => controller.error(new Error("the caller's source broke")),
    });
    const { fetch, requests } = fetchThat(() => refused);
    const client = createFetch({ fetch, env: new FakeClock().instantSleep() });
    await expect(client(post(failing))).rejects.toBe(refused);
    expect(requests).toHaveLength(1);
  });

  it("is not cloned when the call makes one attempt: its body is not read", async () => {
    const { stream, seen } = callerBody(4, "bytes");
    const request = post(stream);
    const { fetch, requests } = fetchThat(() => new Response(null, { status: 201 }));
    await createFetch({ fetch, attempts: 1 })(request);
    expect(requests[0]).toBe(request);
    expect(seen.pulls).toBe(0);
  });
});
