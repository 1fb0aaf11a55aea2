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

/**
 * Runs `count` calls as traffic does, not as one endless chain of microtasks (a WeakRef's target is kept
 * alive until such a chain ends): in bursts of 500, a turn of the event loop apart.
 */
async function traffic(call: () => Promise<unknown>, count: number): Promise<void> {
  for (let i = 1; i <= count; i++) {
    await call();
    if (i % 500 === 0) await new Promise((resolve) => setImmediate(resolve));
  }
}

const clients: Array<[string, (signal: AbortSignal) => () => Promise<unknown>]> = [
  [
    "timeout",
    (signal) => {
      const policy = timeout(10_000);
      return () => policy.execute(async (context) => context.signal?.aborted, signal);
    },
  ],
  [
    "createFetch",
    (signal) => {
      const resilientFetch = createFetch({
        fetch: async (_input, init) => new Response(String(init?.signal?.aborted)),
        breaker: false,
      });
      return () => resilientFetch("http://127.0.0.1:9/", { signal });
    },
  ],
];

describe("signals linked to a long-lived caller signal", () => {
  for (const [name, client] of clients) {
    it(`${name}: 60,000 more calls under one signal leave the heap where it was`, async () => {
      const appLifetime = new AbortController();
      const call = client(appLifetime.signal);
      // Warm up until the heap has its working size (compiled code; the link set's table, which grows once
      // to hold the links made between two full GCs and keeps that capacity): ~1 MB, once.
      await traffic(call, 100_000);
      const before = await heapAfterGc();
      await traffic(call, 60_000);
      const grownBytes = (await heapAfterGc()) - before;
      // With AbortSignal.any it grew 10.6 MB here (Node 22; ~80 B a call on Node 20), and took 30 s, not 2.
      expect(grownBytes).toBeLessThan(1_000_000);
    }, 60_000);
  }

  it("the link still reaches the signals in use when the long-lived signal finally aborts", async () => {
    const appLifetime = new AbortController();
    let last: AbortSignal | undefined;
    await traffic(() => timeout(10_000).execute(async ({ signal }) => signal?.aborted, appLifetime.signal), 2_000);
    await timeout(10_000).execute(async ({ signal }) => {
      last = signal;
    }, appLifetime.signal);
    const reason = new Error("shutting down");
    appLifetime.abort(reason);
    expect(last?.reason).toBe(reason);
  });

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
