import { getEventListeners } from "node:events";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { describe, expect, it } from "vitest";
import { compose, createFetch, timeout } from "../../src/index.ts";

// A full GC on demand, without starting the test process with --expose-gc.
setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

/** Heap in use once garbage is collected and finalizers (which run in a later task) have run too. */
async function heapAfterGc(): Promise<number> {
  for (let i = 0; i < 3; i++) {
    await new Promise((resolve) => setTimeout(resolve, 10));
    gc();
  }
  return process.memoryUsage().heapUsed;
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
    await heapAfterGc();
    await heapAfterGc();
    const reason = new Error("the reader left");
    caller.abort(reason);
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
    await heapAfterGc();
    await heapAfterGc();
    const reason = new Error("the reader left");
    caller.abort(reason);
    expect(sent?.reason).toBe(reason);
  });

  it("a real body being read still stops on the caller's abort after GC, with or without a total deadline", async () => {
    // Headers and a first chunk at once, then nothing: the body is read long after the call has returned.
    const server = createServer((_request, response) => {
      response.writeHead(200, { "content-type": "text/plain" });
      response.write("first chunk, then a stall");
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
    try {
      for (const options of [{}, { totalTimeoutMs: 30_000 }]) {
        const caller = new AbortController();
        const response = await createFetch(options)(url, { signal: caller.signal });
        const reading = response.text().then(
          () => "the body completed",
          (error: unknown) => error,
        );
        await heapAfterGc();
        await heapAfterGc();
        const reason = new Error("the reader left");
        caller.abort(reason);
        expect(await reading).toBe(reason);
      }
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it("an upload's answer being read still stops on the caller's abort after GC (FormData and streamed bodies)", async () => {
    // Reads the whole upload, then answers with headers and a first chunk, and stalls.
    const server = createServer((request, response) => {
      request.resume();
      request.on("end", () => {
        response.writeHead(200, { "content-type": "text/plain" });
        response.write("first chunk, then a stall");
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/upload`;
    const uploads: Array<[string, () => BodyInit]> = [
      ["FormData", form],
      ["a stream", () => new Blob(["streamed upload"]).stream()],
    ];
    try {
      for (const [kind, body] of uploads) {
        for (const options of [{}, { totalTimeoutMs: 30_000 }]) {
          const caller = new AbortController();
          const init = { method: "PUT", body: body(), signal: caller.signal, duplex: "half" } as RequestInit;
          const response = await createFetch(options)(url, init);
          const reading = response.text().then(
            () => "the body completed",
            (error: unknown) => error,
          );
          await heapAfterGc();
          await heapAfterGc();
          const reason = new Error(`the reader of ${kind} left`);
          caller.abort(reason);
          const outcome = await Promise.race([
            reading,
            new Promise((resolve) => setTimeout(() => resolve("still reading after 2 s"), 2_000)),
          ]);
          expect(outcome).toBe(reason);
        }
      }
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  }, 30_000);

  it("streamed and FormData bodies leave no listener per call on the caller's signal", async () => {
    const appLifetime = new AbortController();
    const resilientFetch = createFetch({
      fetch: async (input, init) => new Response(await new Request(input, init).text()),
      breaker: false,
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
