/**
 * The telemetry vocabulary: what each policy emits, to how many listeners, and what the logger and metrics
 * listeners make of it.
 */

import { describe, expect, it } from "vitest";
import {
  adaptiveThrottle,
  bulkhead,
  circuitBreaker,
  consecutiveFailures,
  createFetch,
  logTo,
  metricsTo,
  on,
  rateLimiter,
  retry,
  TELEMETRY,
  type TelemetryEvent,
  timeout,
} from "../../src/index.ts";
import { FakeClock } from "../support/fake-clock.ts";

/** A listener that keeps every event it hears. */
function heard(): { events: TelemetryEvent[]; listener: (event: TelemetryEvent) => void } {
  const events: TelemetryEvent[] = [];
  return { events, listener: (event) => events.push(event) };
}

const never = () => new Promise<never>(() => {});

describe("events", () => {
  it("timeout emits timeout with its deadline when the deadline fires", async () => {
    const clock = new FakeClock();
    const { events, listener } = heard();
    const outcome = timeout(250, { env: clock, telemetry: listener }).execute(never);
    await clock.run(outcome.catch(() => undefined));
    expect(events).toEqual([{ type: "timeout", timeoutMs: 250 }]);
  });

  it("timeout emits nothing for an operation that finishes in time", async () => {
    const { events, listener } = heard();
    await timeout(250, { env: new FakeClock(), telemetry: listener }).execute(async () => "done");
    expect(events).toEqual([]);
  });

  it("bulkhead emits bulkhead-rejected with its limit and queue for each call it refuses", async () => {
    const { events, listener } = heard();
    const pool = bulkhead({ limit: 1, queue: 0, telemetry: listener });
    const running = pool.execute(never);
    await expect(pool.execute(async () => "second")).rejects.toMatchObject({ name: "BulkheadRejectedError" });
    expect(events).toEqual([{ type: "bulkhead-rejected", limit: 1, queue: 0 }]);
    void running;
  });

  it("rateLimiter emits rate-limited with when the next call is allowed, for a call it refuses", async () => {
    const clock = new FakeClock();
    const { events, listener } = heard();
    const limiter = rateLimiter({ rate: 1, burst: 1, wait: false, env: clock, telemetry: listener });
    await limiter.execute(async () => "first");
    await clock.advance(300);
    await expect(limiter.execute(async () => "second")).rejects.toMatchObject({ name: "RateLimitedError" });
    expect(events).toEqual([{ type: "rate-limited", retryAfterMs: 700 }]);
  });

  it("rateLimiter emits rate-limited for a call that would wait past maxWaitMs", async () => {
    const clock = new FakeClock();
    const { events, listener } = heard();
    const limiter = rateLimiter({ rate: 1, burst: 1, maxWaitMs: 500, env: clock, telemetry: listener });
    await limiter.execute(async () => "first");
    await expect(limiter.execute(async () => "second")).rejects.toMatchObject({ name: "RateLimitedError" });
    expect(events).toEqual([{ type: "rate-limited", retryAfterMs: 1_000 }]);
  });

  it("adaptiveThrottle emits throttle-rejected with the probability the call was drawn against", async () => {
    const clock = new FakeClock({ random: () => 0 });
    const { events, listener } = heard();
    const throttle = adaptiveThrottle({ env: clock, telemetry: listener });
    for (let i = 0; i < 10; i++)
      await throttle.execute(() => Promise.reject(new TypeError("fetch failed"))).catch(() => {});
    const rejected = events.filter((event) => event.type === "throttle-rejected");
    expect(rejected.length).toBeGreaterThan(0);
    expect(rejected[0]).toEqual({ type: "throttle-rejected", probability: 1 / 2 });
  });

  it("createFetch emits fetch-attempt for each attempt and fetch-end once per call", async () => {
    const clock = new FakeClock();
    const { events, listener } = heard();
    const statuses = [503, 200];
    const fetch = createFetch({
      env: clock.instantSleep(),
      backoff: { initialMs: 0 },
      fetch: async () => {
        clock.nowMs += 40;
        return new Response(null, { status: statuses.shift() });
      },
      telemetry: listener,
    });
    await fetch("https://api.example.com/items?token=secret");
    const attempts = events.filter((event) => event.type === "fetch-attempt");
    const ends = events.filter((event) => event.type === "fetch-end");
    expect(attempts.map((event) => [event.attempt, event.status, event.durationMs, event.url])).toEqual([
      [1, 503, 40, "https://api.example.com/items?…"],
      [2, 200, 40, "https://api.example.com/items?…"],
    ]);
    expect(ends.map((event) => [event.status, event.durationMs, event.origin])).toEqual([
      [200, 80, "https://api.example.com"],
    ]);
  });

  it("createFetch names a thrown value without a name Error in fetch-retry and fetch-give-up, as in fetch-attempt", async () => {
    const { events, listener } = heard();
    const fetch = createFetch({
      env: new FakeClock().instantSleep(),
      attempts: 2,
      breaker: false,
      fetch: () => Promise.reject("offline"),
      shouldRetry: () => true,
      telemetry: listener,
    });
    await fetch("https://api.example.com/items").catch(() => undefined);
    const named = events.flatMap((event) =>
      event.type === "fetch-attempt" || event.type === "fetch-retry" || event.type === "fetch-give-up"
        ? [`${event.type} ${event.errorName}`]
        : [],
    );
    expect(named).toEqual(["fetch-attempt Error", "fetch-retry Error", "fetch-attempt Error", "fetch-give-up Error"]);
  });

  it("createFetch reports its breakers' transitions with their origin; the breaker's own listeners hear them too", async () => {
    const ownListeners = heard();
    const clientListeners = heard();
    const fetch = createFetch({
      env: new FakeClock().instantSleep(),
      attempts: 1,
      fetch: async () => new Response(null, { status: 503 }),
      breaker: { strategy: () => consecutiveFailures(1), telemetry: ownListeners.listener },
      telemetry: on("circuit-state-change", clientListeners.listener),
    });
    await fetch("https://api.example.com/items");
    const described = (events: TelemetryEvent[]) =>
      events.map((event) => (event.type === "circuit-state-change" ? [event.key, event.origin, event.to] : []));
    expect(described(ownListeners.events)).toEqual([["https://api.example.com", undefined, "open"]]);
    expect(described(clientListeners.events)).toEqual([["https://api.example.com", "https://api.example.com", "open"]]);
  });

  it("createFetch reports the transitions of a breaker its function made for an origin with that origin", async () => {
    const { events, listener } = heard();
    const fetch = createFetch({
      env: new FakeClock().instantSleep(),
      attempts: 1,
      fetch: async () => new Response(null, { status: 503 }),
      breaker: () => circuitBreaker({ strategy: consecutiveFailures(1) }),
      telemetry: on("circuit-state-change", listener),
    });
    await fetch("https://api.example.com/items");
    expect(events.map((event) => (event.type === "circuit-state-change" ? [event.origin, event.to] : []))).toEqual([
      ["https://api.example.com", "open"],
    ]);
  });

  it("retry's events carry elapsedMs in whole ms, on a clock that advances by the exact jittered sleeps", async () => {
    let nowMs = 0;
    const sleep = async (ms: number) => {
      nowMs += ms;
    };
    const env = { now: () => nowMs, sleep, random: () => 0.3141 };
    const { events, listener } = heard();
    const policy = retry({ attempts: 3, env, telemetry: listener });
    await policy.execute(() => Promise.reject(new DOMException("slow", "TimeoutError"))).catch(() => undefined);
    expect(events.map((event) => (event.type === "retry" || event.type === "give-up" ? event.elapsedMs : -1))).toEqual([
      0, 31, 94,
    ]);
  });

  it("hands each event to every listener of an array, in order", async () => {
    const order: string[] = [];
    const policy = retry({
      attempts: 2,
      backoff: { initialMs: 0 },
      env: new FakeClock(),
      telemetry: [(event) => order.push(`a ${event.type}`), (event) => order.push(`b ${event.type}`)],
    });
    await policy.execute(() => Promise.reject(new TypeError("fetch failed"))).catch(() => {});
    expect(order).toEqual(["a retry", "b retry", "a give-up", "b give-up"]);
  });

  it("accepts an empty array of listeners", async () => {
    await expect(retry({ telemetry: [] }).execute(async () => 1)).resolves.toBe(1);
  });
});

describe("circuitBreaker.subscribe", () => {
  it("adds a listener beside the options' own, until the function it returns is called", async () => {
    const clock = new FakeClock();
    const fromOptions = heard();
    const later = heard();
    const breaker = circuitBreaker({
      strategy: consecutiveFailures(1),
      halfOpenAfterMs: 100,
      env: clock,
      telemetry: fromOptions.listener,
    });
    const unsubscribe = breaker.subscribe(later.listener);
    await breaker.execute(() => Promise.reject(new TypeError("fetch failed"))).catch(() => {});
    unsubscribe();
    clock.nowMs += 100;
    await breaker.execute(async () => "ok");
    const transitions = (events: TelemetryEvent[]) =>
      events.map((event) => (event.type === "circuit-state-change" ? `${event.from}→${event.to}` : event.type));
    expect(transitions(fromOptions.events)).toEqual(["closed→open", "open→half-open", "half-open→closed"]);
    expect(transitions(later.events)).toEqual(["closed→open"]);
  });

  it("refuses a listener that is not a function, naming the method", () => {
    expect(() => circuitBreaker().subscribe("log" as never)).toThrow(
      /circuitBreaker\.subscribe: option "listener" must be a function/,
    );
  });
});

describe("on", () => {
  it("refuses an event type staunch never emits, naming it, so that a misspelt one does not stay silent", () => {
    expect(() => on("fetch-retries" as never, () => {})).toThrow(
      /on: option "type" must be one of .*fetch-retry.*got "fetch-retries"/,
    );
  });

  it("refuses a handler that is not a function", () => {
    expect(() => on("retry", "log" as never)).toThrow(/on: option "handler" must be a function/);
  });
});

describe("logTo", () => {
  it("logs a give-up as an error and a refusal as a warning, with the event as the fields", () => {
    const lines: string[] = [];
    const fields: unknown[] = [];
    const listener = logTo({
      warn: (message, f) => {
        lines.push(`warn ${message}`);
        fields.push(f);
      },
      error: (message) => lines.push(`error ${message}`),
    });
    listener({ type: "bulkhead-rejected", limit: 4, queue: 8 });
    listener({
      type: "give-up",
      reason: "attempts",
      attempt: 3,
      elapsedMs: 700,
      threw: true,
      error: new TypeError("fetch failed"),
      result: undefined,
    });
    expect(lines).toEqual([
      "warn staunch: bulkhead full (4 running, 8 queued); call refused",
      "error staunch: giving up after TypeError: fetch failed (attempt 3, attempts)",
    ]);
    expect(fields).toEqual([{ type: "bulkhead-rejected", limit: 4, queue: 8 }]);
  });

  it("names the error a stale copy answered for, as the fallbacks' lines do", () => {
    const lines: string[] = [];
    const listener = logTo({ warn: (m) => lines.push(m), error: (m) => lines.push(m) });
    const error = new DOMException("The operation timed out after 200 ms", "TimeoutError");
    listener({
      type: "stale-served",
      url: "https://a.test/x",
      reason: "timeout",
      status: undefined,
      error,
      ageSeconds: 5,
    });
    listener({ type: "fallback", reason: "timeout", error, result: undefined });
    expect(lines).toEqual([
      "staunch: serving a stored copy of https://a.test/x, 5 s old, after TimeoutError: The operation timed out after 200 ms",
      "staunch: falling back after TimeoutError: The operation timed out after 200 ms",
    ]);
  });

  it("logs nothing for routine events: each attempt, each call's end, a hedge", () => {
    const lines: string[] = [];
    const listener = logTo({ warn: (m) => lines.push(m), error: (m) => lines.push(m) });
    listener({ type: "hedge", attempt: 2, elapsedMs: 100, trigger: "delay" });
    listener({
      type: "fetch-end",
      method: "GET",
      url: "https://a.test/",
      origin: "https://a.test",
      status: 200,
      errorName: undefined,
      error: undefined,
      durationMs: 5,
    });
    expect(lines).toEqual([]);
  });
});

describe("metricsTo", () => {
  it("counts the events of every policy under the names of TELEMETRY.metrics", () => {
    const counts: string[] = [];
    const listener = metricsTo({
      count: (name, value, tags) => counts.push(`${name} ${value} ${JSON.stringify(tags)}`),
      timing: () => {},
    });
    listener({ type: "timeout", timeoutMs: 250 });
    listener({ type: "rate-limited", retryAfterMs: 700 });
    listener({ type: "throttle-rejected", probability: 0.5 });
    listener({ type: "hedge", attempt: 2, elapsedMs: 100, trigger: "failure" });
    expect(counts).toEqual([
      `${TELEMETRY.metrics.timeouts} 1 {}`,
      `${TELEMETRY.metrics.rateLimitRejections} 1 {}`,
      `${TELEMETRY.metrics.throttleRejections} 1 {}`,
      `${TELEMETRY.metrics.hedges} 1 {"trigger":"failure"}`,
    ]);
  });

  it("refuses a sink without count and timing, naming the factory", () => {
    expect(() => metricsTo({ count: () => {} } as never)).toThrow(
      /metricsTo: option "sink" must be an object with count and timing methods/,
    );
  });
});
