/**
 * createFetch against a real HTTP server on 127.0.0.1 that resets, stalls and answers 503/429. Written once;
 * runs in Node, workerd, Chromium and Deno. Backoff sleeps run on a fake clock (instant, recorded);
 * deadlines run on real timers.
 */

import { describe, expect, inject, it } from "vitest";
import {
  createFetch,
  type FetchFunction,
  type FetchGiveUpEvent,
  type FetchRetryEvent,
  isNetworkError,
  logTo,
  metricsTo,
  on,
  replayStreams,
} from "../../src/index.ts";
import { FakeClock } from "../support/fake-clock.ts";
import { scenario, statusOf } from "../support/scenario.ts";

const server = inject("faultServer");
const inBrowser = typeof (globalThis as { document?: unknown }).document !== "undefined";
const noJitter = { initialMs: 100, jitter: "none" } as const;

/** The response's status, after reading its body: an unread body holds its connection open. */
function setup(options: Parameters<typeof createFetch>[0] = {}) {
  const clock = new FakeClock({ startMs: Date.UTC(2026, 10, 30, 12, 0, 0) });
  const retries: FetchRetryEvent[] = [];
  const giveUps: FetchGiveUpEvent[] = [];
  const fetch = createFetch({
    env: clock.instantSleep(),
    backoff: noJitter,
    // Streamed bodies are sent again only with this layer; the tests of that default say so apart.
    replayStreams,
    ...options,
    telemetry: [
      on("fetch-retry", (e) => retries.push(e)),
      on("fetch-give-up", (e) => giveUps.push(e)),
      ...[options.telemetry ?? []].flat(),
    ],
  });
  return { clock, fetch, retries, giveUps };
}

describe("createFetch: what is retried", () => {
  it("retries a 503 and resolves with the next success", async () => {
    const { fetch, clock } = setup();
    const s = scenario(server, "503", "200");
    const res = await fetch(s.url);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe("200 #2");
    expect(await s.received()).toHaveLength(2);
    expect(clock.sleeps).toEqual([100]);
  });

  it("retries a reset connection", async () => {
    const { fetch } = setup();
    const s = scenario(server, "reset", "200");
    expect(await statusOf(fetch(s.url))).toBe(200);
    expect(await s.received()).toHaveLength(2);
  });

  it("retries an attempt that stalls past the attempt timeout", async () => {
    const { fetch, retries } = setup({ attemptTimeoutMs: 300 });
    const s = scenario(server, "stall", "200");
    expect(await statusOf(fetch(s.url))).toBe(200);
    expect(retries.map((r) => r.errorName)).toEqual(["TimeoutError"]);
  });

  for (const status of [408, 429, 500, 502, 504]) {
    it(`retries status ${status} by default`, async () => {
      const { fetch } = setup();
      const s = scenario(server, String(status), "200");
      expect(await statusOf(fetch(s.url))).toBe(200);
    });
  }

  for (const status of [400, 401, 403, 404, 409, 422, 501]) {
    it(`returns status ${status} at once, without retrying`, async () => {
      const { fetch } = setup();
      const s = scenario(server, String(status), "200");
      expect(await statusOf(fetch(s.url))).toBe(status);
      expect(await s.received()).toHaveLength(1);
    });
  }

  it("returns the last retryable response, body intact, when attempts run out", async () => {
    const { fetch, giveUps } = setup({ attempts: 3 });
    const s = scenario(server, "503");
    const res = await fetch(s.url);
    expect(res.status).toBe(503);
    expect(await res.text()).toBe("503 #3");
    expect(giveUps.map((g) => [g.reason, g.attempt, g.status])).toEqual([["attempts", 3, 503]]);
  });

  it("rejects with the last error when every attempt fails to connect", async () => {
    const { fetch } = setup({ attempts: 2 });
    const s = scenario(server, "reset");
    await expect(fetch(s.url)).rejects.toSatisfy(isNetworkError);
    expect(await s.received()).toHaveLength(2);
  });

  it("honours retryStatuses and a custom shouldRetry that sees the outcome, request, attempt and default", async () => {
    const seen: string[] = [];
    const { fetch } = setup({
      retryStatuses: [404],
      shouldRetry: (outcome, { request, attempt, retryable }) => {
        seen.push(`${request.method} ${outcome.ok && outcome.result.status} ${attempt} ${retryable}`);
        return retryable; // keep the default decision, for failures and successes alike
      },
    });
    const s = scenario(server, "404", "200");
    expect(await statusOf(fetch(s.url))).toBe(200);
    expect(seen).toEqual(["GET 404 1 true", "GET 200 2 false"]);
  });

  it("hands shouldRetry an attempt's error as an outcome, with the default decision for it", async () => {
    const seen: unknown[] = [];
    const { fetch } = setup({
      shouldRetry: (outcome, { retryable }) => {
        seen.push(outcome.ok ? outcome.result.status : isNetworkError(outcome.error), retryable);
        return retryable;
      },
    });
    const s = scenario(server, "reset", "200");
    expect(await statusOf(fetch(s.url))).toBe(200);
    expect(seen).toEqual([true, true, 200, false]);
  });

  it("refuses a shouldRetry that answers undefined, once the sign of the default decision", async () => {
    const { fetch } = setup({ shouldRetry: (() => undefined) as never });
    const s = scenario(server, "503", "200");
    await expect(fetch(s.url)).rejects.toThrow(
      new TypeError('createFetch: option "shouldRetry" must be a function that returns a boolean, got undefined'),
    );
  });

  it("a shouldRetry that throws does not leave the response's body (its connection) open", async () => {
    const seen = { requests: 0, cancelled: 0 };
    const fetch: FetchFunction = async () => {
      seen.requests++;
      const body = new ReadableStream({
        pull: (c) => c.enqueue(new Uint8Array(8)),
        cancel: () => void seen.cancelled++,
      });
      return new Response(body, { status: 503 });
    };
    const hookError = new Error("a bug in the caller's predicate");
    const client = createFetch({
      fetch,
      breaker: false,
      shouldRetry: (outcome, { retryable }) => {
        if (outcome.ok) throw hookError;
        return retryable;
      },
    });
    await expect(client("https://api.test/items")).rejects.toBe(hookError);
    expect(seen.cancelled).toBe(seen.requests);
  });

  it("a backoff function that throws does not leave the response's body (its connection) open", async () => {
    let answered: Response | undefined;
    const fetch = createFetch({
      fetch: async (input, init) => (answered = await globalThis.fetch(input, init)),
      backoff: () => -1, // refused: a delay must be a number ≥ 0
    });
    await expect(fetch(scenario(server, "503", "200").url)).rejects.toThrow(/the backoff function returned -1/);
    expect(answered?.bodyUsed).toBe(true);
  });

  it("a custom shouldRetry can refuse what the defaults would retry", async () => {
    const { fetch } = setup({
      shouldRetry: (outcome, { retryable }) => retryable && !(outcome.ok && outcome.result.status === 503),
    });
    const s = scenario(server, "503", "200");
    expect(await statusOf(fetch(s.url))).toBe(503);
  });
});

describe("createFetch: methods", () => {
  it("never sends a POST without an Idempotency-Key twice", async () => {
    const { fetch } = setup();
    const s = scenario(server, "503", "200");
    const res = await fetch(s.url, { method: "POST", body: "charge card" });
    expect(res.status).toBe(503);
    await res.body?.cancel();
    expect(await s.received()).toHaveLength(1);
  });

  it("does not retry a POST whose connection was reset", async () => {
    const { fetch } = setup();
    const s = scenario(server, "reset", "200");
    await expect(fetch(s.url, { method: "POST", body: "x" })).rejects.toSatisfy(isNetworkError);
    expect(await s.received()).toHaveLength(1);
  });

  it("retries a POST with an Idempotency-Key, with the same key and byte-identical body", async () => {
    const { fetch } = setup();
    const s = scenario(server, "503", "reset", "200");
    const body = JSON.stringify({ amount: 42, note: "☃ snow" });
    const res = await fetch(s.url, { method: "POST", body, headers: { "Idempotency-Key": "key-123" } });
    expect(res.status).toBe(200);
    await res.body?.cancel();
    const received = await s.received();
    expect(received.map((r) => r.headers["idempotency-key"])).toEqual(["key-123", "key-123", "key-123"]);
    expect(new Set(received.map((r) => r.bodySha256)).size).toBe(1);
    expect(received[0]?.bodyBytes).toBe(new TextEncoder().encode(body).byteLength);
  });

  it("retries a PATCH when the caller opts in with retryNonIdempotent", async () => {
    const { fetch } = setup({ retryNonIdempotent: true });
    const s = scenario(server, "503", "200");
    expect(await statusOf(fetch(s.url, { method: "PATCH", body: "{}" }))).toBe(200);
    expect(await s.received()).toHaveLength(2);
  });

  for (const method of ["PUT", "DELETE", "HEAD", "OPTIONS"]) {
    it(`retries ${method}, an idempotent method`, async () => {
      if (method === "OPTIONS" && inBrowser) return; // the browser would treat it as a CORS preflight
      const { fetch } = setup();
      const s = scenario(server, "503", "200");
      expect(await statusOf(fetch(s.url, { method }))).toBe(200);
    });
  }
});

describe("createFetch: request bodies are replayed exactly", () => {
  const text = "a=1&b=two ünïcödé";
  const bytes = new TextEncoder().encode(text);
  const bodies: Array<[string, () => BodyInit]> = [
    ["a string", () => text],
    ["an ArrayBuffer", () => bytes.slice().buffer],
    ["a Uint8Array", () => bytes.slice()],
    ["a DataView", () => new DataView(bytes.slice().buffer)],
    ["a Blob", () => new Blob([bytes])],
    ["URLSearchParams", () => new URLSearchParams({ a: "1", b: "two ünïcödé" })],
  ];
  for (const [label, make] of bodies) {
    it(`${label}`, async () => {
      const { fetch } = setup();
      const s = scenario(server, "503", "200");
      await statusOf(fetch(s.url, { method: "PUT", body: make() }));
      const [first, second] = await s.received();
      expect(second?.bodyBase64).toBe(first?.bodyBase64);
      expect(first?.bodyBytes).toBeGreaterThan(0);
    });
  }

  for (const [label, make] of bodies.slice(1, 4)) {
    it(`${label} answered 307 by the first attempt follows the redirect, within the attempt (undici cannot redirect bytes)`, async () => {
      const { fetch, retries } = setup();
      // Node's fetch fails the first redirect of a byte body; staunch sends that attempt again as a Blob.
      const s = scenario(server, "307|loc=self", "307|loc=self", "200");
      const res = await fetch(s.url, { method: "PUT", body: make() });
      expect([res.status, await res.text()]).toEqual([200, "200 #3"]);
      expect(retries).toEqual([]);
      const received = await s.received();
      expect(received.map((r) => r.bodyBytes)).toEqual(received.map(() => bytes.byteLength));
      expect(new Set(received.map((r) => r.bodySha256)).size).toBe(1);
    });
  }

  it("FormData, boundary included", async () => {
    const { fetch } = setup();
    const s = scenario(server, "503", "200");
    const form = new FormData();
    form.append("name", "staunch");
    form.append("file", new Blob(["file contents"], { type: "text/plain" }), "a.txt");
    await statusOf(fetch(s.url, { method: "PUT", body: form }));
    const [first, second] = await s.received();
    expect(second?.bodyBase64).toBe(first?.bodyBase64);
    expect(second?.headers["content-type"]).toBe(first?.headers["content-type"]);
    expect(atob(first?.bodyBase64 ?? "")).toMatch("file contents");
  });

  it("a Request object passed as input", async () => {
    const { fetch } = setup();
    const s = scenario(server, "503", "200");
    const res = await fetch(new Request(s.url, { method: "PUT", body: text, headers: { "x-custom": "kept" } }));
    expect(res.status).toBe(200);
    await res.body?.cancel();
    const [first, second] = await s.received();
    expect(second?.bodySha256).toBe(first?.bodySha256);
    expect(second?.headers["x-custom"]).toBe("kept");
    expect(second?.method).toBe("PUT");
  });

  it.skipIf(inBrowser)("a ReadableStream under the limit", async () => {
    const { fetch } = setup();
    const s = scenario(server, "503", "200");
    const chunks = ["first ", "second ", "third"];
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        const next = chunks.shift();
        if (next === undefined) controller.close();
        else controller.enqueue(new TextEncoder().encode(next));
      },
    });
    const res = await fetch(s.url, { method: "PUT", body: stream, duplex: "half" } as RequestInit);
    expect(res.status).toBe(200);
    await res.body?.cancel();
    const received = await s.received();
    expect(received.map((r) => atob(r.bodyBase64))).toEqual(["first second third", "first second third"]);
  });

  it.skipIf(inBrowser)("a ReadableStream above the limit is sent once, whole, and not retried", async () => {
    const { fetch } = setup({ maxBufferedBodyBytes: 1024 });
    const s = scenario(server, "503", "200");
    const chunk = new Uint8Array(700).fill(120);
    let sent = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent++ < 5) controller.enqueue(chunk);
        else controller.close();
      },
    });
    const res = await fetch(s.url, { method: "PUT", body: stream, duplex: "half" } as RequestInit);
    expect(res.status).toBe(503);
    await res.body?.cancel();
    const received = await s.received();
    expect(received).toHaveLength(1);
    expect(received[0]?.bodyBytes).toBe(3_500);
  });
});

describe("createFetch: a streamed body without the replayStreams layer", () => {
  it.skipIf(inBrowser)("is sent once, as the caller made it, and the retryable answer is returned", async () => {
    const fetch = createFetch({ env: new FakeClock().instantSleep() });
    const s = scenario(server, "503", "200");
    const stream = new Blob(["first second third"]).stream();
    const res = await fetch(s.url, { method: "PUT", body: stream, duplex: "half" } as RequestInit);
    expect(res.status).toBe(503);
    await res.body?.cancel();
    const received = await s.received();
    expect(received.map((r) => atob(r.bodyBase64))).toEqual(["first second third"]);
  });

  it("refuses a replayStreams that is not the layer, naming the option", () => {
    expect(() => createFetch({ replayStreams: true as never })).toThrow(
      'createFetch: option "replayStreams" must be a function, got true',
    );
  });
});

describe("createFetch: server-asked delays", () => {
  it("sleeps Retry-After seconds plus a jitter of at most 20 %, never less than asked", async () => {
    for (const [random, sleptMs] of [
      [0, 2_000],
      [0.5, 2_200],
      [0.999, 2_399.6],
    ] as const) {
      const { fetch, clock, retries } = setup({ backoff: { initialMs: 100, jitter: "full" } });
      clock.random = () => random;
      const s = scenario(server, "503|ra=2", "200");
      expect(await statusOf(fetch(s.url))).toBe(200);
      expect(clock.sleeps).toEqual([sleptMs]);
      expect(retries.map((r) => r.delaySource)).toEqual(["retry-after"]);
    }
  });

  it("keeps the jitter of a server-asked wait under maxRetryAfterMs and within half the time left", async () => {
    const capped = setup({ maxRetryAfterMs: 2_100 });
    capped.clock.random = () => 0.999;
    expect(await statusOf(capped.fetch(scenario(server, "503|ra=2", "200").url))).toBe(200);
    expect(capped.clock.sleeps).toEqual([2_099.9]);
    const tight = setup({ totalTimeoutMs: 2_100 });
    tight.clock.random = () => 0.999;
    expect(await statusOf(tight.fetch(scenario(server, "503|ra=2", "200").url))).toBe(200);
    expect(tight.clock.sleeps[0]).toBeGreaterThanOrEqual(2_000);
    expect(tight.clock.sleeps[0]).toBeLessThanOrEqual(2_050);
  });

  it("keeps the jitter of a server-asked wait within maxElapsedMs, so a wait that fits is taken", async () => {
    const { fetch, clock, giveUps } = setup({ maxElapsedMs: 1_150 });
    clock.random = () => 0.9;
    const s = scenario(server, "503|ra=1", "200");
    expect(await statusOf(fetch(s.url))).toBe(200);
    expect(await s.received()).toHaveLength(2);
    expect(clock.sleeps).toEqual([1_135]); // 1 s plus 0.9 of the 150 ms maxElapsedMs leaves, not of 200 ms
    expect(giveUps).toEqual([]);
  });

  it("reads each HTTP-date form of Retry-After against the clock", async () => {
    const { fetch, clock } = setup();
    const at = new Date(clock.now() + 3_000);
    const imf = at.toUTCString();
    const days = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
    const [dd, mon, yyyy, time] = imf.slice(5, -4).split(" ") as [string, string, string, string];
    const rfc850 = `${days[at.getUTCDay()]}, ${dd}-${mon}-${yyyy.slice(2)} ${time} GMT`;
    const asctime = `${imf.slice(0, 3)} ${mon} ${String(at.getUTCDate()).padStart(2, " ")} ${time} ${yyyy}`;
    const s = scenario(server, `429|ra=${imf}`, `429|ra=${rfc850}`, `429|ra=${asctime}`, "200");
    expect(await statusOf(createFetch({ env: clock.instantSleep(), attempts: 4 })(s.url))).toBe(200);
    // Each date is 3 s after the start; the fake clock has moved by the earlier sleeps.
    expect(clock.sleeps).toEqual([3_300, 0, 0]); // 3 s plus the jitter (10 % at random 0.5)
    void fetch;
  });

  it("ignores a junk Retry-After and uses the normal backoff", async () => {
    const { fetch, clock, retries } = setup();
    const s = scenario(server, "503|ra=soon-ish", "200");
    expect(await statusOf(fetch(s.url))).toBe(200);
    expect(clock.sleeps).toEqual([100]);
    expect(retries[0]?.delaySource).toBe("backoff");
  });

  it("reads the IETF RateLimit field when Retry-After is absent", async () => {
    const { fetch, clock } = setup();
    const s = scenario(server, '429|rl="default";r=0;t=7', "200");
    expect(await statusOf(fetch(s.url))).toBe(200);
    expect(clock.sleeps).toEqual([7_700]); // plus the jitter: 10 % at random 0.5
  });

  it("reads X-RateLimit-Reset as epoch seconds", async () => {
    const { fetch, clock } = setup();
    const s = scenario(server, `429|xr=${Math.floor(clock.now() / 1000) + 5}`, "200");
    expect(await statusOf(fetch(s.url))).toBe(200);
    expect(clock.sleeps).toEqual([5_500]); // plus the jitter: 10 % at random 0.5
  });

  it("returns at once the response whose Retry-After exceeds maxRetryAfterMs", async () => {
    const { fetch, clock, giveUps } = setup({ maxRetryAfterMs: 10_000 });
    const s = scenario(server, "503|ra=3600", "200");
    const res = await fetch(s.url);
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).toBe("3600");
    await res.body?.cancel();
    expect(clock.sleeps).toEqual([]);
    expect(giveUps.map((g) => g.reason)).toEqual(["retry-after"]);
  });

  it("returns at once the response whose Retry-After ends past the total deadline", async () => {
    const { fetch, clock } = setup({ totalTimeoutMs: 5_000 });
    const s = scenario(server, "429|ra=30", "200");
    expect(await statusOf(fetch(s.url))).toBe(429);
    expect(clock.sleeps).toEqual([]);
  });
});

describe("createFetch: timeouts and aborts", () => {
  it("ends the call with a TimeoutError at the total deadline", async () => {
    const fetch = createFetch({ totalTimeoutMs: 400, attemptTimeoutMs: 250, backoff: { initialMs: 0 } });
    const s = scenario(server, "stall");
    const started = Date.now();
    await expect(fetch(s.url)).rejects.toMatchObject({ name: "TimeoutError" });
    expect(Date.now() - started).toBeLessThan(3_000);
    expect((await s.received()).length).toBeGreaterThanOrEqual(1);
  });

  it("a call whose backoff would end at the total deadline ends with its last response, not a TimeoutError", async () => {
    // Cut by the deadline, the sleep would lose the 429 (and count a rate-limiting origin as failing).
    const clock = new FakeClock();
    let requests = 0;
    const giveUps: FetchGiveUpEvent[] = [];
    const fetch = createFetch({
      fetch: async () => {
        requests++;
        return new Response(null, { status: 429 });
      },
      env: clock,
      totalTimeoutMs: 250,
      backoff: { initialMs: 200, jitter: "none" },
      telemetry: on("fetch-give-up", (e) => giveUps.push(e)),
    });
    const outcome = clock.run(
      fetch("https://api.test/items").then(
        (r) => r.status,
        (e: unknown) => e,
      ),
    );
    expect(await outcome).toBe(429);
    expect(requests).toBe(2); // the second backoff (400 ms) would end past the deadline
    expect(giveUps.map((g) => `${g.status} ${g.reason}`)).toEqual(["429 elapsed"]);
  });

  it("a caller's abort during the backoff sleep rejects at once with the caller's reason", async () => {
    const controller = new AbortController();
    const reason = new Error("the user left");
    const fetch = createFetch({
      backoff: { initialMs: 30_000, jitter: "none" },
      telemetry: on("fetch-retry", () => setTimeout(() => controller.abort(reason), 20)),
    });
    const s = scenario(server, "503", "200");
    const started = Date.now();
    await expect(fetch(s.url, { signal: controller.signal })).rejects.toBe(reason);
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(await s.received()).toHaveLength(1);
  });

  it("a caller's abort during an attempt ends the call with no further attempt", async () => {
    const controller = new AbortController();
    const fetch = createFetch({ attemptTimeoutMs: 60_000 });
    const s = scenario(server, "stall", "200");
    setTimeout(() => controller.abort(new Error("cancelled")), 200);
    await expect(fetch(s.url, { signal: controller.signal })).rejects.toThrow("cancelled");
    expect(await s.received()).toHaveLength(1);
  });

  it("a Request's own signal cancels it too", async () => {
    const controller = new AbortController();
    const fetch = createFetch();
    const s = scenario(server, "stall");
    setTimeout(() => controller.abort(new Error("request signal")), 100);
    await expect(fetch(new Request(s.url, { signal: controller.signal }))).rejects.toThrow("request signal");
  });
});

describe("createFetch: connections", () => {
  it("cancels each discarded body: 20 retried 1 MiB responses do not stall the loop", async () => {
    const { fetch, retries } = setup({
      attempts: 21,
      backoff: { initialMs: 0 },
      attemptTimeoutMs: 10_000,
      breaker: false,
    });
    const steps = Array.from({ length: 20 }, () => "503|bytes=1048576");
    const s = scenario(server, ...steps, "200");
    const res = await fetch(s.url);
    expect(res.status).toBe(200);
    await res.body?.cancel();
    const received = await s.received();
    if (inBrowser) {
      // Chromium re-sends on its own a GET whose socket closed under it, and each cancelled 1 MiB body closes
      // one: the server has counted 21 requests from 17 attempts. What staunch sent is what it reported.
      expect(received.length).toBeGreaterThanOrEqual(retries.length + 1);
    } else {
      expect(received).toHaveLength(21);
      expect(retries).toHaveLength(20);
    }
  }, 60_000);
});

describe("createFetch: observability", () => {
  it("reports each retry and the give-up with a redacted URL, status, delay and its source", async () => {
    const { fetch, retries, giveUps } = setup({ attempts: 2 });
    const s = scenario(server, "503");
    await statusOf(fetch(`${s.url}&token=secret`));
    expect(retries).toHaveLength(1);
    expect(retries[0]).toMatchObject({ method: "GET", attempt: 1, status: 503, delayMs: 100, delaySource: "backoff" });
    expect(retries[0]?.url).toBe(`${s.url.split("?")[0]}?…`);
    expect(giveUps[0]).toMatchObject({ reason: "attempts", attempt: 2, status: 503 });
  });

  it("logs every retry as a warning and every give-up as an error", async () => {
    const lines: string[] = [];
    const logger = {
      warn: (message: string) => lines.push(`warn ${message}`),
      error: (message: string) => lines.push(`error ${message}`),
    };
    const { fetch } = setup({ attempts: 2, telemetry: logTo(logger) });
    const s = scenario(server, "reset", "503");
    await statusOf(fetch(s.url));
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(
      /^warn staunch: retrying GET http:\/\/127\.0\.0\.1:\d+\/s\/[^?]+\?… after (TypeError|Error) in 100 ms \(attempt 1 of 2, backoff\)$/,
    );
    expect(lines[1]).toMatch(/^error staunch: giving up on GET .* after status 503 \(attempt 2, attempts\)$/);
  });

  it("reports a jittered delay in whole ms, the same number in the event and in the log line", async () => {
    const lines: string[] = [];
    const logger = { warn: (message: string) => lines.push(message), error: () => {} };
    const clock = new FakeClock({ random: () => 0.31974099820945412 });
    const retries: FetchRetryEvent[] = [];
    const fetch = createFetch({
      attempts: 2,
      env: clock.instantSleep(),
      backoff: { initialMs: 200, jitter: "full" },
      telemetry: [on("fetch-retry", (e) => retries.push(e)), logTo(logger)],
    });
    await statusOf(fetch(scenario(server, "503", "200").url));
    expect(clock.sleeps).toEqual([63.948199641890824]);
    expect(retries.map((e) => e.delayMs)).toEqual([64]);
    expect(lines[0]).toContain(" in 64 ms ");
  });

  it("counts attempts, retries and give-ups, and times attempts and calls", async () => {
    const counts: string[] = [];
    const timings: string[] = [];
    const metrics = {
      count: (name: string, value: number, tags: Record<string, string>) =>
        counts.push(`${name} ${value} ${tags.outcome ?? tags.reason ?? tags.delay_source}`),
      timing: (name: string, ms: number, tags: Record<string, string>) => {
        expect(ms).toBeGreaterThanOrEqual(0);
        timings.push(`${name} ${tags.outcome}`);
      },
    };
    const { fetch } = setup({ attempts: 2, telemetry: metricsTo(metrics) });
    const s = scenario(server, "503");
    await statusOf(fetch(s.url));
    expect(counts).toEqual([
      "staunch.fetch.attempts 1 503",
      "staunch.fetch.retries 1 backoff",
      "staunch.fetch.attempts 1 503",
      "staunch.fetch.give_ups 1 attempts",
    ]);
    expect(timings).toEqual([
      "staunch.fetch.attempt_duration_ms 503",
      "staunch.fetch.attempt_duration_ms 503",
      "staunch.fetch.duration_ms 503",
    ]);
  });

  it("reads a request's headers only when its method leaves idempotency open (never for a GET)", async () => {
    let enumerated = 0;
    const headers = new Proxy<Record<string, string>>(
      { accept: "text/plain" },
      {
        ownKeys(target) {
          enumerated++;
          return Reflect.ownKeys(target);
        },
      },
    );
    const resilientFetch = createFetch({ fetch: async () => new Response("ok") });
    await resilientFetch("http://127.0.0.1:9/", { headers });
    expect(enumerated).toBe(0);
    await resilientFetch("http://127.0.0.1:9/", { method: "POST", headers, body: "x" });
    expect(enumerated).toBeGreaterThan(0);
  });

  it("uses an injected fetch", async () => {
    let calls = 0;
    const fetch = createFetch({
      fetch: async () => new Response(`call ${++calls}`, { status: calls < 2 ? 503 : 200 }),
      env: new FakeClock().instantSleep(),
    });
    const res = await fetch("https://example.invalid/");
    expect(await res.text()).toBe("call 2");
  });
});

describe("createFetch: a streamed body that may be sent again", () => {
  /** A stream that gives one chunk, then stalls; `cancelled` says whether anyone let go of it. */
  function stallingStream() {
    const state = { cancelled: false };
    let sent = false;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (!sent) {
          sent = true;
          controller.enqueue(new TextEncoder().encode("first part"));
        }
        return new Promise(() => {}); // the rest never comes
      },
      cancel() {
        state.cancelled = true;
      },
    });
    return { stream, state };
  }

  it.skipIf(inBrowser)("stops at once on the caller's abort mid-upload, and lets go of the stream", async () => {
    const { stream, state } = stallingStream();
    const controller = new AbortController();
    const s = scenario(server, "200");
    const pending = createFetch({ replayStreams })(s.url, {
      method: "PUT",
      body: stream,
      duplex: "half",
      signal: controller.signal,
    } as RequestInit);
    setTimeout(() => controller.abort(new Error("user cancelled")), 100);
    await expect(pending).rejects.toThrow("user cancelled");
    expect(state.cancelled).toBe(true);
  });

  it.skipIf(inBrowser)("ends at the total deadline while the body stalls, and lets go of the stream", async () => {
    const { stream, state } = stallingStream();
    const s = scenario(server, "200");
    const fetch = createFetch({ totalTimeoutMs: 200, replayStreams });
    await expect(fetch(s.url, { method: "PUT", body: stream, duplex: "half" } as RequestInit)).rejects.toMatchObject({
      name: "TimeoutError",
    });
    expect(state.cancelled).toBe(true);
  });

  it("stops the answered attempt's upload when its retry is decided, so the retry sends the whole body", async () => {
    // The origin answers 503 before reading the upload. Left alone, the first attempt's fetch would go on
    // reading it during the backoff, past maxBufferedBodyBytes, and the retry would have no whole copy to send.
    const chunk = 16;
    let pulls = 0;
    const stream = new ReadableStream<Uint8Array>(
      { pull: (c) => (pulls++ < 8 ? c.enqueue(new Uint8Array(chunk).fill(pulls)) : c.close()) },
      { highWaterMark: 0 },
    );
    const uploads: Promise<number>[] = [];
    const base = new FakeClock().instantSleep();
    const fetch = createFetch({
      replayStreams,
      maxBufferedBodyBytes: 4 * chunk,
      fetch: async (_input, init) => {
        const upload = new Response(init?.body).arrayBuffer().then((b) => b.byteLength);
        uploads.push(upload);
        if (uploads.length > 1) return new Response(`${await upload}`, { status: 200 });
        upload.catch(() => {}); // stopped when the retry is decided
        return new Response("busy", { status: 503 });
      },
      // The wait gives the first attempt's fetch every chance to read on.
      env: { ...base, sleep: (ms, signal) => Promise.allSettled(uploads).then(() => base.sleep(ms, signal)) },
    });
    const response = await fetch("https://api.test/items", {
      method: "PUT",
      body: stream,
      duplex: "half",
    } as RequestInit);
    expect(response.status).toBe(200);
    expect(await response.text()).toBe(String(8 * chunk));
    expect(uploads).toHaveLength(2);
  });

  it.skipIf(inBrowser)("past the limit, answered 503 before its upload ended, is never accepted short", async () => {
    // 3 MB in 64 KiB chunks against the default 1 MiB copy. The server answers 503 on arrival, so the retry is
    // decided while the copy is whole; the backoff lasts while the first upload goes on reading the source,
    // until it is past the limit. The retry may then send the whole body, or nothing: never the rest alone.
    const size = 3_000_000;
    const chunk = 64 * 1024;
    const limitBytes = 1_048_576;
    const source = new Uint8Array(size).map((_, i) => (i * 7) % 251);
    let offset = 0;
    let pulledAtMs = Date.now();
    const body = new ReadableStream<Uint8Array>(
      {
        pull: async (controller) => {
          await new Promise((resolve) => setTimeout(resolve, 1));
          pulledAtMs = Date.now();
          if (offset >= size) return controller.close();
          controller.enqueue(source.slice(offset, offset + chunk));
          offset += chunk;
        },
      },
      { highWaterMark: 0 },
    );
    const base = new FakeClock().instantSleep();
    const fetch = createFetch({
      replayStreams,
      env: {
        ...base,
        sleep: async (ms, signal) => {
          while (offset <= limitBytes + chunk && Date.now() - pulledAtMs < 200) {
            await new Promise((resolve) => setTimeout(resolve, 10));
          }
          return base.sleep(ms, signal);
        },
      },
    });
    const s = scenario(server, "503|early=1", "200");
    const outcome = await fetch(s.url, { method: "PUT", body, duplex: "half" } as RequestInit).then(
      async (res) => {
        await res.body?.cancel();
        return res.status;
      },
      (error: unknown) => error,
    );
    const received = await s.received();
    const digest = Array.from(new Uint8Array(await crypto.subtle.digest("SHA-256", source)), (b) =>
      b.toString(16).padStart(2, "0"),
    ).join("");
    // Every request after the first was answered 200: each must have carried the whole body.
    for (const later of received.slice(1)) expect(later.bodySha256).toBe(digest);
    if (outcome === 200) expect(received).toHaveLength(2);
    else if (outcome !== 503) expect(outcome).toMatchObject({ name: "TypeError", message: /maxBufferedBodyBytes/ });
  });

  it("aborts the fetch of an attempt that is over when the next one starts: workerd lets go of its body only then", async () => {
    const signals: (AbortSignal | null | undefined)[] = [];
    const fetch = createFetch({
      replayStreams,
      env: new FakeClock().instantSleep(),
      fetch: async (_input, init) => {
        signals.push(init?.signal);
        return new Response(null, { status: signals.length === 1 ? 503 : 200 });
      },
    });
    const body = new ReadableStream<Uint8Array>({
      pull: (controller) => controller.enqueue(new Uint8Array(8)), // never ends: the first attempt is still uploading
    });
    const res = await fetch("https://api.test/items", { method: "PUT", body, duplex: "half" } as RequestInit);
    expect(res.status).toBe(200);
    expect(signals.map((signal) => signal?.aborted)).toEqual([true, false]);
  });

  it.skipIf(inBrowser)("cancels a large streamed body that no attempt sent (an open circuit)", async () => {
    let cancelled = false;
    let pulls = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (pulls++ < 3) controller.enqueue(new Uint8Array(10));
        else controller.close();
      },
      cancel() {
        cancelled = true;
      },
    });
    let calls = 0;
    const fetch = createFetch({
      replayStreams,
      maxBufferedBodyBytes: 4,
      fetch: async () => {
        calls++;
        return new Response("sent");
      },
    });
    const release = fetch.breaker("https://example.invalid/")?.isolate();
    await expect(
      fetch("https://example.invalid/", { method: "PUT", body: stream, duplex: "half" } as RequestInit),
    ).rejects.toMatchObject({ name: "CircuitOpenError" });
    release?.();
    expect(calls).toBe(0);
    expect(cancelled).toBe(true);
  });
});
