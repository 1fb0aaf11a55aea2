import { getEventListeners } from "node:events";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { describe, expect, it } from "vitest";
import { compose, createFetch, replayStreams, timeout } from "../../src/index.ts";
import { heapAfterGc } from "../support/heap.ts";

/** Collects garbage (twice: finalizers, then what they let go), then aborts `caller` with a fresh reason. */
async function abortAfterGc(caller: AbortController, why = "the reader left"): Promise<Error> {
  await heapAfterGc();
  await heapAfterGc();
  const reason = new Error(why);
  caller.abort(reason);
  return reason;
}

/** Reads the whole request, then answers with headers and a first chunk, and stalls: a body read later. */
async function withStallingServer(use: (url: string) => Promise<void>): Promise<void> {
  const server = createServer((request, response) => {
    request.resume();
    request.on("end", () => {
      response.writeHead(200, { "content-type": "text/plain" });
      response.write("first chunk, then a stall");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  try {
    await use(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
  } finally {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

/** Starts reading `response`'s body; the promise gives what the read came to. */
function startReading(response: Response): Promise<unknown> {
  return response.text().then(
    () => "the body completed",
    (error: unknown) => error,
  );
}

/** What `reading` came to, or "still reading" if it has not settled within 2 s. */
function within2s(reading: Promise<unknown>): Promise<unknown> {
  return Promise.race([reading, new Promise((resolve) => setTimeout(() => resolve("still reading after 2 s"), 2_000))]);
}

describe("the caller's signal, followed after the call has returned", () => {
  it("a signal linked through an outer deadline still follows the caller once that deadline is collected", async () => {
    const caller = new AbortController();
    let inner: AbortSignal | undefined;
    // A total deadline around an attempt's, as createFetch has: the attempt's signal is read (by fetch), the
    // outer one only to link it. After the call, nothing but the response body holds the attempt's signal.
    await compose(timeout(30_000), timeout(10_000)).execute(async ({ signal }) => {
      inner = signal;
    }, caller.signal);
    const reason = await abortAfterGc(caller);
    expect(inner?.reason).toBe(reason);
  });

  it("createFetch with both deadlines: the signal fetch got still follows the caller after GC", async () => {
    const caller = new AbortController();
    let sent: AbortSignal | undefined;
    const resilientFetch = createFetch({
      totalTimeoutMs: 30_000,
      fetch: async (_input, init) => {
        sent = init?.signal ?? undefined;
        return new Response("a body read later");
      },
    });
    await resilientFetch("http://127.0.0.1:9/", { signal: caller.signal });
    const reason = await abortAfterGc(caller);
    expect(sent?.reason).toBe(reason);
  });

  it("a real body being read still stops on the caller's abort after GC, with or without a total deadline", async () => {
    await withStallingServer(async (url) => {
      for (const options of [{}, { totalTimeoutMs: 30_000 }]) {
        const caller = new AbortController();
        const reading = startReading(await createFetch(options)(url, { signal: caller.signal }));
        const reason = await abortAfterGc(caller);
        expect(await within2s(reading)).toBe(reason);
      }
    });
  }, 30_000);

  it("an upload's answer being read still stops on the caller's abort after GC (FormData and streamed bodies)", async () => {
    const uploads: Array<[string, () => BodyInit]> = [
      ["FormData", form],
      ["a stream", () => new Blob(["streamed upload"]).stream()],
    ];
    await withStallingServer(async (url) => {
      for (const [kind, body] of uploads) {
        // The streamed body goes through the replayStreams layer, whose copy and per-attempt signals are the risk.
        for (const options of [{ replayStreams }, { totalTimeoutMs: 30_000, replayStreams }]) {
          const caller = new AbortController();
          const init = { method: "PUT", body: body(), signal: caller.signal, duplex: "half" } as RequestInit;
          const reading = startReading(await createFetch(options)(url, init));
          const reason = await abortAfterGc(caller, `the reader of ${kind} left`);
          expect(await within2s(reading)).toBe(reason);
        }
      }
      // A Request's body is sent as a new Request each attempt: the caller's signal must still reach it.
      for (const options of [{}, { totalTimeoutMs: 30_000 }]) {
        const caller = new AbortController();
        const request = new Request(url, { method: "PUT", body: "a Request's body", signal: caller.signal });
        const reading = startReading(await createFetch(options)(request));
        const reason = await abortAfterGc(caller, "the reader of a Request left");
        expect(await within2s(reading)).toBe(reason);
      }
    });
  }, 30_000);

  it("streamed and FormData bodies leave no listener per call on the caller's signal", async () => {
    const appLifetime = new AbortController();
    const resilientFetch = createFetch({
      fetch: async (input, init) => new Response(await new Request(input, init).text()),
      breaker: false,
      replayStreams,
    });
    const stream = () =>
      new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(new TextEncoder().encode("streamed"));
          controller.close();
        },
      });
    for (let i = 0; i < 200; i++) {
      const body = i % 2 === 0 ? stream() : form();
      await (
        await resilientFetch("http://127.0.0.1:9/upload", {
          method: "PUT",
          body,
          signal: appLifetime.signal,
          duplex: "half",
        } as RequestInit)
      ).text();
    }
    // Before: the template Request of each call listened to the caller's signal until collected (~1 per call,
    // with a MaxListenersExceededWarning each time past 10).
    expect(getEventListeners(appLifetime.signal, "abort").length).toBeLessThanOrEqual(2);
  });
});

function form(): FormData {
  const data = new FormData();
  data.set("field", "value");
  return data;
}
