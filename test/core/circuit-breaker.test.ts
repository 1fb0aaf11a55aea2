import { describe, expect, it } from "vitest";
import { consecutiveFailures, countWindow, failureRate, timeWindow } from "../../src/breaker-strategies.ts";
import { type CircuitStateChange, circuitBreaker } from "../../src/circuit-breaker.ts";
import {
  BulkheadRejectedError,
  CircuitOpenError,
  ExecutionRejectedError,
  isCircuitOpenError,
  isExecutionRejectedError,
  RateLimitedError,
} from "../../src/errors.ts";
import { on } from "../../src/telemetry/events.ts";
import { FakeClock } from "../support/fake-clock.ts";

const boom = () => Promise.reject(new Error("dependency down"));
const ok = () => Promise.resolve("ok");

async function fail(breaker: { execute(op: () => Promise<unknown>): Promise<unknown> }, times: number) {
  for (let i = 0; i < times; i++) await breaker.execute(boom).catch(() => {});
}

describe("circuit breaker", () => {
  it("stays closed and passes results through while calls succeed", async () => {
    const breaker = circuitBreaker({ env: new FakeClock() });
    expect(await breaker.execute(ok)).toBe("ok");
    expect(breaker.state).toBe("closed");
  });

  it("opens after the configured consecutive failures, then fails fast without calling", async () => {
    const clock = new FakeClock();
    const breaker = circuitBreaker({ strategy: consecutiveFailures(3), halfOpenAfterMs: 5_000, env: clock });
    await fail(breaker, 2);
    expect(breaker.state).toBe("closed");
    await fail(breaker, 1);
    expect(breaker.state).toBe("open");
    let calls = 0;
    const error = await breaker.execute(async () => calls++).catch((e: unknown) => e);
    expect(calls).toBe(0);
    expect(error).toBeInstanceOf(CircuitOpenError);
    expect(isCircuitOpenError(error)).toBe(true);
    expect((error as CircuitOpenError).retryAfterMs).toBe(5_000);
  });

  it("a success resets the consecutive count", async () => {
    const breaker = circuitBreaker({ strategy: consecutiveFailures(2), env: new FakeClock() });
    await fail(breaker, 1);
    await breaker.execute(ok);
    await fail(breaker, 1);
    expect(breaker.state).toBe("closed");
  });

  it("the open error's retryAfterMs counts down on the clock", async () => {
    const clock = new FakeClock();
    const breaker = circuitBreaker({ strategy: consecutiveFailures(1), halfOpenAfterMs: 10_000, env: clock });
    await fail(breaker, 1);
    clock.nowMs += 4_000;
    const error = (await breaker.execute(ok).catch((e: unknown) => e)) as CircuitOpenError;
    expect(error.retryAfterMs).toBe(6_000);
    expect(error.message).toMatch("6000 ms");
  });

  it("becomes half-open when halfOpenAfterMs has passed, with no timer", async () => {
    const clock = new FakeClock();
    const breaker = circuitBreaker({ strategy: consecutiveFailures(1), halfOpenAfterMs: 1_000, env: clock });
    await fail(breaker, 1);
    expect(clock.pendingTimers).toBe(0);
    clock.nowMs += 999;
    expect(breaker.state).toBe("open");
    clock.nowMs += 1;
    expect(breaker.state).toBe("half-open");
  });

  it("closes after a successful probe", async () => {
    const clock = new FakeClock();
    const breaker = circuitBreaker({ strategy: consecutiveFailures(1), halfOpenAfterMs: 1_000, env: clock });
    await fail(breaker, 1);
    clock.nowMs += 1_000;
    expect(await breaker.execute(ok)).toBe("ok");
    expect(breaker.state).toBe("closed");
  });

  it("reopens after a failed probe, for longer when halfOpenAfterMs is a backoff", async () => {
    const clock = new FakeClock();
    const breaker = circuitBreaker({
      strategy: consecutiveFailures(1),
      halfOpenAfterMs: { initialMs: 1_000, maxMs: 3_000, multiplier: 2 },
      env: clock,
    });
    await fail(breaker, 1);
    const waits: number[] = [];
    for (let i = 0; i < 3; i++) {
      waits.push(breaker.retryAfterMs);
      clock.nowMs += breaker.retryAfterMs;
      await fail(breaker, 1); // the probe fails
      expect(breaker.state).toBe("open");
    }
    waits.push(breaker.retryAfterMs);
    expect(waits).toEqual([1_000, 2_000, 3_000, 3_000]);
    clock.nowMs += 3_000;
    await breaker.execute(ok);
    await fail(breaker, 1);
    expect(breaker.retryAfterMs).toBe(1_000); // a close resets the backoff
  });

  it("reports a fractional open period in whole ms, as its log line prints it", async () => {
    const clock = new FakeClock();
    const changes: CircuitStateChange[] = [];
    const breaker = circuitBreaker({
      strategy: consecutiveFailures(1),
      halfOpenAfterMs: { initialMs: 333, multiplier: 1.5 },
      telemetry: on("circuit-state-change", (change) => changes.push(change)),
      env: clock,
    });
    await fail(breaker, 1);
    clock.nowMs += breaker.retryAfterMs;
    await fail(breaker, 1); // the probe fails: open for 333 × 1.5 = 499.5 ms
    expect(breaker.retryAfterMs).toBe(499.5);
    expect(changes.filter((c) => c.to === "open").map((c) => c.openForMs)).toEqual([333, 500]);
  });

  it("lets at most halfOpenProbes calls through at once while half-open", async () => {
    const clock = new FakeClock();
    const breaker = circuitBreaker({
      strategy: consecutiveFailures(1),
      halfOpenAfterMs: 100,
      halfOpenProbes: 2,
      env: clock,
    });
    await fail(breaker, 1);
    clock.nowMs += 100;
    const release: Array<() => void> = [];
    let started = 0;
    const slow = () =>
      new Promise<string>((resolve) => {
        started++;
        release.push(() => resolve("probe ok"));
      });
    const calls = Array.from({ length: 5 }, () => breaker.execute(slow).catch((e: unknown) => e));
    await Promise.resolve();
    expect(started).toBe(2);
    const rejected = await Promise.all(calls.slice(2));
    expect(rejected.every(isCircuitOpenError)).toBe(true);
    for (const r of release) r();
    expect(await Promise.all(calls.slice(0, 2))).toEqual(["probe ok", "probe ok"]);
    expect(breaker.state).toBe("closed");
  });

  it("tells a call refused while the probe runs to wait an open period, not 0 (a caller honouring 0 would spin)", async () => {
    const clock = new FakeClock();
    const breaker = circuitBreaker({ strategy: consecutiveFailures(1), halfOpenAfterMs: 2_000, env: clock });
    await fail(breaker, 1);
    clock.nowMs += 2_000;
    let release = (): void => {};
    const probe = breaker.execute(() => new Promise<void>((resolve) => (release = resolve)));
    const refused = await breaker.execute(ok).catch((e: unknown) => e);
    expect(isCircuitOpenError(refused)).toBe(true);
    expect((refused as CircuitOpenError).retryAfterMs).toBe(2_000);
    release();
    await probe;
  });

  it("a cancelled probe frees its slot and counts neither way", async () => {
    const clock = new FakeClock();
    const breaker = circuitBreaker({ strategy: consecutiveFailures(1), halfOpenAfterMs: 100, env: clock });
    await fail(breaker, 1);
    clock.nowMs += 100;
    await breaker
      .execute(() => Promise.reject(new DOMException("cancelled", "AbortError")), AbortSignal.abort())
      .catch(() => {});
    expect(breaker.state).toBe("half-open");
    expect(await breaker.execute(ok)).toBe("ok");
  });

  it("does not count an AbortError or a 4xx response as a failure, but counts a 5xx", async () => {
    const breaker = circuitBreaker({ strategy: consecutiveFailures(1), env: new FakeClock() });
    await breaker.execute(() => Promise.reject(new DOMException("stop", "AbortError"))).catch(() => {});
    await breaker.execute(async () => new Response("nope", { status: 404 }));
    expect(breaker.state).toBe("closed");
    await breaker.execute(async () => new Response("down", { status: 503 }));
    expect(breaker.state).toBe("open");
  });

  it("does not count a refusal of a policy it has never heard of: any ExecutionRejectedError", async () => {
    class QuotaExceededError extends ExecutionRejectedError {
      override readonly name = "QuotaExceededError";
    }
    const breaker = circuitBreaker({ strategy: consecutiveFailures(1), env: new FakeClock() });
    const refused = await breaker.execute(() => Promise.reject(new QuotaExceededError("quota spent"))).catch((e) => e);
    expect(refused).toBeInstanceOf(QuotaExceededError);
    expect(breaker.state).toBe("closed");
    await breaker.execute(boom).catch(() => {});
    expect(breaker.state).toBe("open");
  });

  it("counts only the errors shouldHandle picks", async () => {
    const breaker = circuitBreaker({
      strategy: consecutiveFailures(1),
      shouldHandle: (outcome) => !outcome.ok && (outcome.error as Error).message === "counted",
      env: new FakeClock(),
    });
    await breaker.execute(() => Promise.reject(new Error("ignored"))).catch(() => {});
    expect(breaker.state).toBe("closed");
    await breaker.execute(() => Promise.reject(new Error("counted"))).catch(() => {});
    expect(breaker.state).toBe("open");
  });

  it("counts a returned value shouldHandle picks as a failure", async () => {
    const breaker = circuitBreaker({
      strategy: consecutiveFailures(2),
      shouldHandle: (outcome) => outcome.ok && (outcome.result as { error?: string }).error !== undefined,
      env: new FakeClock(),
    });
    await breaker.execute(() => ({ error: "deadlock" }));
    expect(breaker.state).toBe("closed");
    await breaker.execute(() => ({ error: "deadlock" }));
    expect(breaker.state).toBe("open");
  });

  it("hands shouldHandle the call's context", async () => {
    const seen: unknown[] = [];
    const breaker = circuitBreaker({
      shouldHandle: (outcome, context) => {
        seen.push(outcome, context.signal);
        return false;
      },
      env: new FakeClock(),
    });
    const controller = new AbortController();
    await breaker.execute(() => 7, controller.signal);
    expect(seen).toEqual([{ ok: true, result: 7 }, controller.signal]);
  });

  it("takes a first wait of days, its default maxMs capped at what a timer can hold", async () => {
    const clock = new FakeClock();
    const breaker = circuitBreaker({
      strategy: consecutiveFailures(1),
      halfOpenAfterMs: { initialMs: 2 ** 30 },
      env: clock,
    });
    await breaker.execute(boom).catch(() => {});
    expect(breaker.toJSON().openForMs).toBe(2 ** 30);
    clock.nowMs += 2 ** 30;
    await breaker.execute(boom).catch(() => {}); // a failed probe doubles the wait, up to the cap
    expect(breaker.toJSON().openForMs).toBe(2 ** 31 - 1);
  });

  it("reports every transition, the derived open → half-open included", async () => {
    const clock = new FakeClock();
    const changes: CircuitStateChange[] = [];
    const breaker = circuitBreaker({
      strategy: consecutiveFailures(1),
      halfOpenAfterMs: 100,
      telemetry: on("circuit-state-change", (c) => changes.push(c)),
      key: "https://api.example.com",
      env: clock,
    });
    await fail(breaker, 1);
    clock.nowMs += 100;
    await breaker.execute(ok);
    expect(changes.map((c) => `${c.from}→${c.to}`)).toEqual(["closed→open", "open→half-open", "half-open→closed"]);
    expect(changes[0]).toMatchObject({ key: "https://api.example.com", openForMs: 100 });
  });

  it("isolate() holds it open until released, and isolations nest", async () => {
    const breaker = circuitBreaker({ env: new FakeClock() });
    const first = breaker.isolate();
    const second = breaker.isolate();
    expect(breaker.state).toBe("isolated");
    const error = (await breaker.execute(ok).catch((e: unknown) => e)) as CircuitOpenError;
    expect(error.retryAfterMs).toBe(Number.POSITIVE_INFINITY);
    first();
    first(); // releasing twice is harmless
    expect(breaker.state).toBe("isolated");
    second();
    expect(breaker.state).toBe("closed");
  });

  it("halfOpenNow() lets an open circuit probe at once, and does nothing while closed or isolated", async () => {
    const clock = new FakeClock();
    const breaker = circuitBreaker({ strategy: consecutiveFailures(1), halfOpenAfterMs: 60_000, env: clock });
    breaker.halfOpenNow();
    expect(breaker.state).toBe("closed");
    await fail(breaker, 1);
    expect(breaker.state).toBe("open");
    breaker.halfOpenNow();
    expect(breaker.state).toBe("half-open");
    expect(await breaker.execute(ok)).toBe("ok");
    expect(breaker.state).toBe("closed");
    const release = breaker.isolate();
    breaker.halfOpenNow();
    expect(breaker.state).toBe("isolated");
    release();
  });

  it("reset() closes it and forgets past failures", async () => {
    const breaker = circuitBreaker({ strategy: consecutiveFailures(2), env: new FakeClock() });
    await fail(breaker, 2);
    breaker.reset();
    expect(breaker.state).toBe("closed");
    await fail(breaker, 1);
    expect(breaker.state).toBe("closed");
  });

  it("survives a JSON round trip of its state", async () => {
    const clock = new FakeClock();
    const options = { strategy: consecutiveFailures(3), halfOpenAfterMs: 1_000, env: clock };
    const breaker = circuitBreaker(options);
    await fail(breaker, 3);
    clock.nowMs += 400;
    const copy = circuitBreaker({
      ...options,
      strategy: consecutiveFailures(3),
      snapshot: JSON.parse(JSON.stringify(breaker)),
    });
    expect(copy.state).toBe("open");
    expect(copy.retryAfterMs).toBe(600);
    const half = circuitBreaker({ ...options, strategy: consecutiveFailures(3) });
    await fail(half, 2);
    const restored = circuitBreaker({ ...options, strategy: consecutiveFailures(3), snapshot: half.toJSON() });
    await fail(restored, 1);
    expect(restored.state).toBe("open"); // two failures came with the snapshot
  });

  it("restores a snapshot opened in the future as opened now, so that it probes after its open period", () => {
    const clock = new FakeClock();
    for (const openedAtMs of [1e308, clock.nowMs + 60_000, Number.NaN]) {
      const breaker = circuitBreaker({
        halfOpenAfterMs: 1_000,
        env: clock,
        snapshot: { state: "open", openedAtMs, openForMs: 1_000, failedProbes: 0, strategy: undefined },
      });
      expect(breaker.retryAfterMs).toBeLessThanOrEqual(1_000);
      clock.nowMs += 1_000;
      expect(breaker.state).toBe("half-open");
    }
  });

  it("wraps a function and keeps its parameters", async () => {
    const breaker = circuitBreaker({ env: new FakeClock() });
    const double = breaker.wrap(async (n: number) => n * 2);
    expect(await double(21)).toBe(42);
  });

  const bad: Array<[string, () => unknown, RegExp]> = [
    ["halfOpenAfterMs negative", () => circuitBreaker({ halfOpenAfterMs: -1 }), /"halfOpenAfterMs".*got -1/],
    [
      "halfOpenAfterMs past what a timer can hold",
      () => circuitBreaker({ halfOpenAfterMs: 1e308 }),
      /"halfOpenAfterMs" must be from 0 to 2147483647 \(2\^31−1\), got 1e\+308/,
    ],
    [
      "isFailure, a former name",
      () => circuitBreaker({ isFailure: () => true } as never),
      /unknown option "isFailure" \(known: .*shouldHandle/,
    ],
    ["halfOpenProbes 0", () => circuitBreaker({ halfOpenProbes: 0 }), /"halfOpenProbes" must be an integer ≥ 1, got 0/],
    [
      "backoff maxMs below initialMs",
      () => circuitBreaker({ halfOpenAfterMs: { initialMs: 10, maxMs: 5 } }),
      /"maxMs" \(5\) must be ≥/,
    ],
    [
      "a strategy that is not one",
      () => circuitBreaker({ strategy: {} as never }),
      /"strategy" must be a breaker strategy/,
    ],
    ["unknown option", () => circuitBreaker({ threshold: 5 } as never), /unknown option "threshold"/],
    ["consecutiveFailures(0)", () => consecutiveFailures(0), /"threshold" must be an integer ≥ 1, got 0/],
    [
      "failureRate threshold 1.5",
      () => failureRate({ threshold: 1.5 }),
      /"threshold" must be a ratio in \(0, 1\], got 1\.5/,
    ],
    [
      "failureRate with both windows",
      () => failureRate({ windowSize: 10, windowMs: 1_000 }),
      /either option "windowSize".*or "windowMs"/,
    ],
    [
      "failureRate buckets 0",
      () => failureRate({ windowMs: 1_000, buckets: 0 }),
      /"buckets" must be an integer ≥ 1, got 0/,
    ],
  ];
  for (const [label, make, message] of bad) {
    it(`rejects bad options: ${label}`, () => {
      expect(make).toThrow(message);
    });
  }
});

describe("failure-rate strategy", () => {
  it("never opens below the minimum throughput", () => {
    const strategy = failureRate({ threshold: 0.5, minimumThroughput: 5 });
    const opened = [false, false, false, false].map(() => strategy.record(false, 0));
    expect(opened).toEqual([false, false, false, false]);
    expect(strategy.record(false, 0)).toBe(true);
  });

  it("opens when the failure ratio of the last N calls reaches the threshold", () => {
    const strategy = failureRate({ threshold: 0.5, minimumThroughput: 4, windowSize: 4 });
    for (const success of [true, true, true, false]) expect(strategy.record(success, 0)).toBe(false);
    expect(strategy.record(false, 0)).toBe(true); // window: true, true, false, false
  });

  it("a count window forgets the oldest outcome as a new one arrives", () => {
    const window = countWindow(3);
    for (const success of [false, false, false, true, true]) window.add(success, 0);
    expect(window.totals(0)).toEqual({ total: 3, failures: 1 });
  });

  it("a time window forgets buckets older than the window", () => {
    const window = timeWindow(10_000, 10);
    window.add(false, 0);
    window.add(false, 5_000);
    expect(window.totals(5_000)).toEqual({ total: 2, failures: 2 });
    expect(window.totals(10_500)).toEqual({ total: 1, failures: 1 }); // the bucket at 0 s has aged out
    window.add(true, 10_500);
    expect(window.totals(10_500)).toEqual({ total: 2, failures: 1 });
    expect(window.totals(30_000)).toEqual({ total: 0, failures: 0 });
  });

  it("a time window keeps a fixed number of slots whatever the traffic", () => {
    const window = timeWindow(60_000, 12);
    for (let t = 0; t < 1_000_000; t += 7) window.add(t % 3 === 0, t);
    expect(window.slots).toBe(12);
    expect(window.totals(1_000_000).total).toBeLessThanOrEqual(65_000 / 7 + 1);
  });

  it("opens on a rate over a time window on the breaker's clock", async () => {
    const clock = new FakeClock();
    const breaker = circuitBreaker({
      strategy: failureRate({ threshold: 0.5, minimumThroughput: 4, windowMs: 10_000 }),
      env: clock,
    });
    await fail(breaker, 2);
    clock.nowMs += 20_000; // those two age out
    await breaker.execute(ok);
    await breaker.execute(ok);
    await fail(breaker, 1);
    expect(breaker.state).toBe("closed"); // 1 of 3
    await fail(breaker, 1);
    expect(breaker.state).toBe("open"); // 2 of 4
  });
});

describe("refusals", () => {
  it("every refusal staunch makes is an ExecutionRejectedError, told apart by name and guard", () => {
    const refusals = [
      new CircuitOpenError(1_000, "https://api.example.com"),
      new BulkheadRejectedError(4, 0),
      new RateLimitedError("The rate limit is reached", 250),
    ];
    for (const refusal of refusals) {
      expect(refusal).toBeInstanceOf(ExecutionRejectedError);
      expect(isExecutionRejectedError(refusal)).toBe(true);
    }
    expect(refusals.map((refusal) => refusal.name)).toEqual([
      "CircuitOpenError",
      "BulkheadRejectedError",
      "RateLimitedError",
    ]);
    expect(isCircuitOpenError(refusals[0])).toBe(true);
    expect(isCircuitOpenError(refusals[1])).toBe(false);
  });

  it("an error named like a refusal is not one, nor is a value that is not an error", () => {
    const lookalike = Object.assign(new Error("full"), { name: "BulkheadRejectedError" });
    for (const value of [lookalike, new Error("down"), "CircuitOpenError", null, undefined, 42]) {
      expect(isExecutionRejectedError(value)).toBe(false);
    }
  });

  it("keeps the cause it was given", () => {
    const cause = new Error("the origin asked for a pause");
    expect(new RateLimitedError("paused", 1_000, { cause }).cause).toBe(cause);
    expect(new CircuitOpenError(1_000, undefined, { cause }).cause).toBe(cause);
  });
});
