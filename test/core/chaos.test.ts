import { describe, expect, it } from "vitest";
import { type ChaosFetchOptions, type ChaosOptions, chaos, chaosFetch } from "../../src/chaos.ts";
import {
  compose,
  createFetch,
  type FetchRetryEvent,
  isNetworkError,
  isTransientError,
  on,
  retry,
  timeout,
} from "../../src/index.ts";
import { FakeClock, recorder, seededRandom } from "../support/fake-clock.ts";

/** A random source that returns the given draws in turn and counts how many were taken. */
function scripted(...draws: number[]) {
  let taken = 0;
  const random = () => {
    const draw = draws[taken++];
    if (draw === undefined) throw new Error(`draw ${taken} was not scripted`);
    return draw;
  };
  return Object.assign(random, { taken: () => taken });
}

/** Draws for one call, in the documented order: delay?, how long, which fault. */
const call = (latency: number, length: number, fault: number) => [latency, length, fault];

/** What happened to a call, for comparing runs. */
async function outcomeOf(pending: Promise<unknown>): Promise<string> {
  try {
    const value = await pending;
    if (value instanceof Response) {
      await value.arrayBuffer();
      return `status ${value.status}`;
    }
    return "passed";
  } catch (error) {
    const code = (error as { cause?: { code?: string } }).cause?.code;
    return code === undefined ? "error" : code;
  }
}

const ok = () => Promise.resolve("ok");
const okFetch = async () => new Response("ok");

describe("chaos", () => {
  it("passes every call through when no fault is configured", async () => {
    const faults = chaos({ env: { random: seededRandom(1) } });
    const operation = recorder(ok);
    for (let i = 0; i < 20; i++) expect(await faults.execute(operation)).toBe("ok");
    expect(operation.calls).toHaveLength(20);
    expect(faults.injected()).toEqual({ calls: 20, delayed: 0, errors: 0, passed: 20 });
  });

  it("never fails a call at errorRate 0", async () => {
    const faults = chaos({ errorRate: 0, env: { random: seededRandom(2) } });
    for (let i = 0; i < 50; i++) await faults.execute(ok);
    expect(faults.injected().errors).toBe(0);
    expect(faults.injected().passed).toBe(50);
  });

  it("fails every call at errorRate 1 with a transient TypeError, without running the operation", async () => {
    const faults = chaos({ errorRate: 1, env: { random: seededRandom(3) } });
    const operation = recorder(ok);
    for (let i = 0; i < 20; i++) {
      const error = await faults.execute(operation).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(TypeError);
      expect((error as Error).message).toBe("fetch failed");
      expect(isTransientError(error)).toBe(true);
    }
    expect(operation.calls).toHaveLength(0);
    expect(faults.injected()).toEqual({ calls: 20, delayed: 0, errors: 20, passed: 0 });
  });

  it("fails with a fresh value from the error option each time", async () => {
    class Busy extends Error {}
    const faults = chaos({ errorRate: 1, error: () => new Busy("busy"), env: { random: seededRandom(4) } });
    const first = await faults.execute(ok).catch((e: unknown) => e);
    const second = await faults.execute(ok).catch((e: unknown) => e);
    expect(first).toBeInstanceOf(Busy);
    expect(second).toBeInstanceOf(Busy);
    expect(first).not.toBe(second);
  });

  it("fails the calls whose fault draw falls below errorRate and passes the others", async () => {
    const random = scripted(...call(0, 0, 0.29), ...call(0, 0, 0.3), ...call(0, 0, 0.99), ...call(0, 0, 0));
    const faults = chaos({ errorRate: 0.3, env: { random } });
    const outcomes: string[] = [];
    for (let i = 0; i < 4; i++) outcomes.push(await outcomeOf(faults.execute(ok)));
    expect(outcomes).toEqual(["error", "passed", "passed", "error"]);
  });

  it("delays a call by latencyMs on the environment's clock before running it", async () => {
    const clock = new FakeClock({ startMs: 0 });
    const startedAt: number[] = [];
    const faults = chaos({ latencyMs: 200, env: clock });
    const result = await clock.run(faults.execute(() => startedAt.push(clock.nowMs)));
    expect(result).toBe(1);
    expect(startedAt).toEqual([200]);
    expect(clock.sleeps).toEqual([200]);
    expect(faults.injected()).toEqual({ calls: 1, delayed: 1, errors: 0, passed: 1 });
  });

  it("draws the delay uniformly from a [min, max] range", async () => {
    const clock = new FakeClock({ random: scripted(...call(0, 0, 0.5), ...call(0, 0.25, 0.5), ...call(0, 1, 0.5)) });
    const faults = chaos({ latencyMs: [100, 300], env: clock });
    for (let i = 0; i < 3; i++) await clock.run(faults.execute(ok));
    expect(clock.sleeps).toEqual([100, 150, 300]);
  });

  it("delays only the calls whose latency draw falls below latencyRate", async () => {
    const clock = new FakeClock({
      random: scripted(...call(0.49, 0, 0.5), ...call(0.5, 0, 0.5), ...call(0.9, 0, 0.5)),
    });
    const faults = chaos({ latencyMs: 50, latencyRate: 0.5, env: clock });
    for (let i = 0; i < 3; i++) await clock.run(faults.execute(ok));
    expect(clock.sleeps).toEqual([50]);
    expect(faults.injected()).toEqual({ calls: 3, delayed: 1, errors: 0, passed: 3 });
  });

  it("never delays a call at latencyRate 0", async () => {
    const clock = new FakeClock({ random: seededRandom(5) });
    const faults = chaos({ latencyMs: 50, latencyRate: 0, env: clock });
    for (let i = 0; i < 20; i++) await faults.execute(ok);
    expect(clock.sleeps).toEqual([]);
    expect(faults.injected().delayed).toBe(0);
  });

  it("delays a call first, then fails it, when it draws both faults", async () => {
    const clock = new FakeClock({ startMs: 0, random: scripted(...call(0, 0, 0)) });
    const faults = chaos({ errorRate: 0.5, latencyMs: 80, env: clock });
    const failedAt = await clock.run(faults.execute(ok)).catch(() => clock.nowMs);
    expect(failedAt).toBe(80);
    expect(faults.injected()).toEqual({ calls: 1, delayed: 1, errors: 1, passed: 0 });
  });

  it("draws exactly three numbers per call, whatever is configured", async () => {
    const bare = scripted(...call(0.5, 0.5, 0.5), ...call(0.5, 0.5, 0.5));
    const configured = scripted(...call(0.5, 0.5, 0.5), ...call(0.5, 0.5, 0.5));
    const clock = new FakeClock();
    await chaos({ env: { random: bare } }).execute(ok);
    await chaos({
      errorRate: 0.1,
      latencyMs: [1, 2],
      latencyRate: 0.1,
      env: { random: configured, sleep: clock.sleep },
    }).execute(ok);
    expect([bare.taken(), configured.taken()]).toEqual([3, 3]);
  });

  it("rejects at once with the signal's reason when the caller aborts during a delay", async () => {
    const clock = new FakeClock({ startMs: 0 });
    const faults = chaos({ latencyMs: 1_000, env: clock });
    const operation = recorder(ok);
    const controller = new AbortController();
    const pending = faults.execute(operation, controller.signal);
    await clock.advance(300);
    const reason = new Error("user left");
    controller.abort(reason);
    await expect(pending).rejects.toBe(reason);
    expect(clock.nowMs).toBe(300);
    expect(clock.pendingTimers).toBe(0);
    expect(operation.calls).toHaveLength(0);
    expect(faults.injected()).toEqual({ calls: 1, delayed: 1, errors: 0, passed: 0 });
  });

  it("ends a delay at the abort even when a hand-written sleep ignores the signal", async () => {
    const controller = new AbortController();
    const faults = chaos({ latencyMs: 1_000, env: { sleep: () => new Promise<void>(() => {}) } });
    const pending = faults.execute(ok, controller.signal);
    controller.abort(new Error("stop"));
    await expect(pending).rejects.toThrow("stop");
  });

  it("hands the operation the context of the policies around it", async () => {
    const clock = new FakeClock({ random: scripted(...call(0, 0, 0), 0, ...call(0, 0, 0.9)) });
    const attempts: number[] = [];
    const policy = compose(retry({ attempts: 2, env: clock }), chaos({ errorRate: 0.5, env: clock }));
    await clock.run(policy.execute(({ attempt }) => attempts.push(attempt)));
    expect(attempts).toEqual([2]);
  });

  it("replays the same sequence of outcomes from the same seed", async () => {
    const run = async (seed: number) => {
      const sleeps: number[] = [];
      const env = { random: seededRandom(seed), sleep: async (ms: number) => void sleeps.push(ms) };
      const faults = chaos({ errorRate: 0.4, latencyMs: [10, 90], latencyRate: 0.5, env });
      const outcomes: string[] = [];
      for (let i = 0; i < 30; i++) outcomes.push(await outcomeOf(faults.execute(ok)));
      return { outcomes, sleeps };
    };
    const first = await run(42);
    const again = await run(42);
    const other = await run(43);
    expect(again).toEqual(first);
    expect(other).not.toEqual(first);
    expect(first.outcomes).toContain("error");
    expect(first.outcomes).toContain("passed");
  });

  it("counts every call: delayed, failed and passed", async () => {
    const clock = new FakeClock({
      random: scripted(...call(0, 0, 0), ...call(0.9, 0, 0), ...call(0, 0, 0.9), ...call(0.9, 0, 0.9)),
    });
    const faults = chaos({ errorRate: 0.5, latencyMs: 5, latencyRate: 0.5, env: clock });
    for (let i = 0; i < 4; i++) await outcomeOf(clock.run(faults.execute(ok)));
    expect(faults.injected()).toEqual({ calls: 4, delayed: 2, errors: 2, passed: 2 });
  });

  it("returns a snapshot of the counts that later calls do not change", async () => {
    const faults = chaos({ env: { random: seededRandom(6) } });
    const before = faults.injected();
    await faults.execute(ok);
    expect(before.calls).toBe(0);
    expect(faults.injected().calls).toBe(1);
  });

  it("example: a retry of 5 attempts makes a call succeed through a 50% error rate", async () => {
    const env = new FakeClock({ random: seededRandom(3) });
    const faults = chaos({ errorRate: 0.5, env });
    const operation = recorder(ok);
    const result = await env.run(compose(retry({ attempts: 5, env }), faults).execute(operation));
    expect(result).toBe("ok");
    // This seed fails three calls in a row: the default 3 attempts would not have been enough.
    expect(faults.injected()).toEqual({ calls: 4, delayed: 0, errors: 3, passed: 1 });
    expect(operation.calls).toHaveLength(1);
    expect(env.sleeps).toHaveLength(3);
  });

  it("example: an attempt timeout cuts the injected latency short and the retry gets through", async () => {
    const clock = new FakeClock({ startMs: 0, random: scripted(...call(0, 1, 0.9), 0, ...call(0, 0, 0.9)) });
    const slow = chaos({ latencyMs: [1_000, 3_000], env: clock });
    const policy = compose(retry({ attempts: 2, env: clock }), timeout(2_000, { env: clock }), slow);
    expect(await clock.run(policy.execute(ok))).toBe("ok");
    expect(slow.injected()).toEqual({ calls: 2, delayed: 2, errors: 0, passed: 1 });
    expect(clock.nowMs).toBe(3_000);
    expect(clock.pendingTimers).toBe(0);
  });
});

describe("chaosFetch", () => {
  it("answers with the injected status and a small body, without calling the real fetch", async () => {
    const real = recorder(okFetch);
    const flaky = chaosFetch(real, { statusRate: 1, env: { random: seededRandom(1) } });
    const res = await flaky("https://api.example.com/items");
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).toBeNull();
    const body = await res.text();
    expect(body).toMatch("503");
    expect(body.length).toBeLessThan(100);
    expect(real.calls).toHaveLength(0);
  });

  it("answers with the configured status", async () => {
    const flaky = chaosFetch(okFetch, { statusRate: 1, status: 429, env: { random: seededRandom(2) } });
    const res = await flaky("https://api.example.com/items");
    await res.arrayBuffer();
    expect(res.status).toBe(429);
  });

  for (const [label, retryAfter, header] of [
    ["seconds", 120, "120"],
    ["an HTTP-date", "Wed, 21 Oct 2026 07:28:00 GMT", "Wed, 21 Oct 2026 07:28:00 GMT"],
  ] as const) {
    it(`sets Retry-After on the injected answer from ${label}`, async () => {
      const flaky = chaosFetch(okFetch, { statusRate: 1, retryAfter, env: { random: seededRandom(3) } });
      const res = await flaky("https://api.example.com/items");
      await res.arrayBuffer();
      expect(res.headers.get("retry-after")).toBe(header);
    });
  }

  it("answers a HEAD request without a body", async () => {
    const flaky = chaosFetch(okFetch, { statusRate: 1, env: { random: seededRandom(4) } });
    const res = await flaky(new Request("https://api.example.com/items", { method: "HEAD" }));
    expect(res.status).toBe(503);
    expect(res.body).toBeNull();
  });

  it("rejects like a dropped connection at resetRate 1", async () => {
    const real = recorder(okFetch);
    const flaky = chaosFetch(real, { resetRate: 1, env: { random: seededRandom(5) } });
    const error = await flaky("https://api.example.com/items").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TypeError);
    expect((error as Error).message).toBe("fetch failed");
    expect((error as Error).cause).toEqual({ code: "ECONNRESET" });
    expect(isNetworkError(error)).toBe(true);
    expect(real.calls).toHaveLength(0);
  });

  it("rejects with the injected error at errorRate 1", async () => {
    const flaky = chaosFetch(okFetch, {
      errorRate: 1,
      error: () => new DOMException("late", "TimeoutError"),
      env: { random: seededRandom(6) },
    });
    await expect(flaky("https://api.example.com/items")).rejects.toThrow("late");
    expect(flaky.injected().errors).toBe(1);
  });

  it("hands a call that draws no fault to the real fetch with its arguments untouched", async () => {
    const real = recorder(okFetch);
    const flaky = chaosFetch(real, {
      errorRate: 0,
      resetRate: 0,
      statusRate: 0,
      env: { random: seededRandom(7) },
    });
    const init = { method: "POST", body: "x" };
    const res = await flaky("https://api.example.com/items", init);
    expect(await res.text()).toBe("ok");
    expect(real.calls).toEqual([["https://api.example.com/items", init]]);
  });

  it("never injects a fault when every rate is 0", async () => {
    const real = recorder(okFetch);
    const flaky = chaosFetch(real, { errorRate: 0, resetRate: 0, statusRate: 0, env: { random: seededRandom(10) } });
    for (let i = 0; i < 50; i++) await (await flaky("https://api.example.com/items")).arrayBuffer();
    expect(real.calls).toHaveLength(50);
    expect(flaky.injected()).toEqual({ calls: 50, delayed: 0, errors: 0, resets: 0, statuses: 0, passed: 50 });
  });

  it("splits one fault draw among error, reset and status, in that order", async () => {
    const random = scripted(
      ...call(0, 0, 0.05),
      ...call(0, 0, 0.15),
      ...call(0, 0, 0.25),
      ...call(0, 0, 0.35),
      ...call(0, 0, 0.95),
    );
    const flaky = chaosFetch(okFetch, { errorRate: 0.1, resetRate: 0.1, statusRate: 0.1, env: { random } });
    const outcomes: string[] = [];
    for (let i = 0; i < 5; i++) outcomes.push(await outcomeOf(flaky("https://api.example.com/items")));
    expect(outcomes).toEqual(["error", "ECONNRESET", "status 503", "status 200", "status 200"]);
    expect(flaky.injected()).toEqual({ calls: 5, delayed: 0, errors: 1, resets: 1, statuses: 1, passed: 2 });
  });

  it("delays a call on the environment's clock before answering", async () => {
    const clock = new FakeClock({ startMs: 0, random: scripted(...call(0, 0.5, 0.9)) });
    const flaky = chaosFetch(okFetch, { latencyMs: [0, 400], env: clock });
    const res = await clock.run(flaky("https://api.example.com/items"));
    expect(await res.text()).toBe("ok");
    expect(clock.nowMs).toBe(200);
    expect(flaky.injected()).toEqual({ calls: 1, delayed: 1, errors: 0, resets: 0, statuses: 0, passed: 1 });
  });

  it("rejects at once with the reason of init.signal when it aborts during a delay", async () => {
    const clock = new FakeClock({ startMs: 0 });
    const real = recorder(okFetch);
    const flaky = chaosFetch(real, { latencyMs: 1_000, env: clock });
    const controller = new AbortController();
    const pending = flaky("https://api.example.com/items", { signal: controller.signal });
    await clock.advance(10);
    controller.abort(new DOMException("cancelled", "AbortError"));
    await expect(pending).rejects.toThrow("cancelled");
    expect(clock.nowMs).toBe(10);
    expect(clock.pendingTimers).toBe(0);
    expect(real.calls).toHaveLength(0);
  });

  it("honours the signal of a Request when init has none", async () => {
    const clock = new FakeClock({ startMs: 0 });
    const flaky = chaosFetch(okFetch, { latencyMs: 1_000, env: clock });
    const controller = new AbortController();
    const pending = flaky(new Request("https://api.example.com/items", { signal: controller.signal }));
    await clock.advance(10);
    controller.abort(new Error("gone"));
    await expect(pending).rejects.toThrow("gone");
    expect(clock.pendingTimers).toBe(0);
  });

  it("rejects with the reason of a signal that has already aborted, as fetch does, even for a status fault", async () => {
    const flaky = chaosFetch(okFetch, { statusRate: 1, env: { random: seededRandom(8) } });
    const reason = new Error("too late");
    await expect(flaky("https://api.example.com/items", { signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
    expect(flaky.injected()).toEqual({ calls: 1, delayed: 0, errors: 0, resets: 0, statuses: 0, passed: 0 });
  });

  it("fails the same calls as chaos for the same seed and errorRate, whatever the HTTP faults", async () => {
    const faults = chaos({ errorRate: 0.3, env: { random: seededRandom(9) } });
    const flaky = chaosFetch(okFetch, {
      errorRate: 0.3,
      resetRate: 0.2,
      statusRate: 0.2,
      latencyMs: [0, 0],
      env: { random: seededRandom(9), sleep: async () => {} },
    });
    const failedByChaos: boolean[] = [];
    const failedByFetch: boolean[] = [];
    for (let i = 0; i < 40; i++) {
      failedByChaos.push((await outcomeOf(faults.execute(ok))) === "error");
      failedByFetch.push((await outcomeOf(flaky("https://api.example.com/items"))) === "error");
    }
    expect(failedByFetch).toEqual(failedByChaos);
    expect(failedByChaos).toContain(true);
  });

  it("replays the same sequence of outcomes from the same seed", async () => {
    const run = async (seed: number) => {
      const flaky = chaosFetch(okFetch, {
        errorRate: 0.1,
        resetRate: 0.2,
        statusRate: 0.3,
        env: { random: seededRandom(seed) },
      });
      const outcomes: string[] = [];
      for (let i = 0; i < 30; i++) outcomes.push(await outcomeOf(flaky("https://api.example.com/items")));
      return outcomes;
    };
    const first = await run(42);
    expect(await run(42)).toEqual(first);
    expect(await run(43)).not.toEqual(first);
    for (const kind of ["error", "ECONNRESET", "status 503", "status 200"]) expect(first).toContain(kind);
  });

  it("example: createFetch retries injected 503s, honouring their Retry-After, until a 200", async () => {
    const clock = new FakeClock({ random: seededRandom(2) });
    const flaky = chaosFetch(async () => new Response("ok"), { statusRate: 0.5, retryAfter: 1, env: clock });
    const retries: FetchRetryEvent[] = [];
    const fetch = createFetch({
      fetch: flaky,
      env: clock.instantSleep(),
      telemetry: on("fetch-retry", (e) => retries.push(e)),
    });
    const res = await fetch("https://api.example.com/items");
    expect(res.status).toBe(200);
    expect(await res.text()).toBe("ok");
    expect(flaky.injected()).toEqual({ calls: 3, delayed: 0, errors: 0, resets: 0, statuses: 2, passed: 1 });
    expect(retries.map((r) => [r.status, r.delaySource])).toEqual([
      [503, "retry-after"],
      [503, "retry-after"],
    ]);
    // Each wait is the second asked for, plus its own jitter of up to 20 %.
    for (const sleptMs of clock.sleeps) expect(sleptMs).toBeGreaterThanOrEqual(1_000);
    for (const sleptMs of clock.sleeps) expect(sleptMs).toBeLessThan(1_200);
    expect(new Set(clock.sleeps).size).toBe(2);
  });
});

describe("chaos and chaosFetch: options are checked at construction", () => {
  type Case = [label: string, make: () => unknown, kind: ErrorConstructor, message: RegExp];
  const bad = (options: unknown) => options as ChaosFetchOptions;
  const cases: Case[] = [
    [
      "errorRate above 1",
      () => chaos({ errorRate: 1.5 }),
      RangeError,
      /chaos: option "errorRate" must be a number in \[0, 1\], got 1\.5/,
    ],
    ["errorRate negative", () => chaos({ errorRate: -0.1 }), RangeError, /"errorRate".*got -0\.1/],
    ["errorRate NaN", () => chaos({ errorRate: Number.NaN }), RangeError, /"errorRate".*got NaN/],
    [
      "errorRate as a string",
      () => chaos({ errorRate: "0.5" as unknown as number }),
      TypeError,
      /"errorRate" must be a number, got "0\.5"/,
    ],
    [
      "latencyRate above 1",
      () => chaos({ latencyMs: 5, latencyRate: 2 }),
      RangeError,
      /"latencyRate".*\[0, 1\], got 2/,
    ],
    [
      "latencyMs negative",
      () => chaos({ latencyMs: -1 }),
      RangeError,
      /chaos: option "latencyMs" must be a finite number ≥ 0, got -1/,
    ],
    ["latencyMs Infinity", () => chaos({ latencyMs: Infinity }), RangeError, /"latencyMs".*got Infinity/],
    [
      "latencyMs min above max",
      () => chaos({ latencyMs: [300, 100] }),
      RangeError,
      /"latencyMs" must be \[minMs, maxMs\] with minMs ≤ maxMs, got \[300, 100\]/,
    ],
    ["latencyMs min negative", () => chaos({ latencyMs: [-5, 100] }), RangeError, /"latencyMs\[0\]".*got -5/],
    [
      "latencyMs of three",
      () => chaos({ latencyMs: [1, 2, 3] as unknown as [number, number] }),
      TypeError,
      /"latencyMs" must be a number of ms or a \[minMs, maxMs\] pair, got an array of 3/,
    ],
    [
      "error not a function",
      () => chaos({ error: new Error("x") as unknown as () => unknown }),
      TypeError,
      /chaos: option "error" must be a function/,
    ],
    [
      "an unknown option",
      () => chaos({ errorRatio: 0.5 } as ChaosOptions),
      TypeError,
      /chaos: unknown option "errorRatio"/,
    ],
    [
      "an HTTP option on chaos",
      () => chaos({ statusRate: 0.5 } as ChaosOptions),
      TypeError,
      /chaos: unknown option "statusRate"/,
    ],
    ["options not an object", () => chaos(bad(5)), TypeError, /chaos: options must be an object, got 5/],
    [
      "fetch not a function",
      () => chaosFetch(undefined as unknown as typeof fetch),
      TypeError,
      /chaosFetch: option "fetch" must be a function, got undefined/,
    ],
    [
      "statusRate above 1",
      () => chaosFetch(okFetch, { statusRate: 1.01 }),
      RangeError,
      /chaosFetch: option "statusRate".*got 1\.01/,
    ],
    ["resetRate negative", () => chaosFetch(okFetch, { resetRate: -1 }), RangeError, /"resetRate".*got -1/],
    [
      "rates adding up past 1",
      () => chaosFetch(okFetch, { errorRate: 0.5, resetRate: 0.3, statusRate: 0.3 }),
      RangeError,
      /errorRate \+ resetRate \+ statusRate must add up to at most 1, got 0\.5 \+ 0\.3 \+ 0\.3/,
    ],
    [
      "status 200",
      () => chaosFetch(okFetch, { status: 200 }),
      RangeError,
      /"status" must be an integer from 400 to 599, got 200/,
    ],
    ["status 600", () => chaosFetch(okFetch, { status: 600 }), RangeError, /"status".*got 600/],
    ["status 503.5", () => chaosFetch(okFetch, { status: 503.5 }), RangeError, /"status".*got 503\.5/],
    [
      "retryAfter fractional",
      () => chaosFetch(okFetch, { retryAfter: 1.5 }),
      RangeError,
      /"retryAfter" must be whole seconds ≥ 0 or an HTTP-date, got 1\.5/,
    ],
    ["retryAfter negative", () => chaosFetch(okFetch, { retryAfter: -1 }), RangeError, /"retryAfter".*got -1/],
    [
      "retryAfter not a date",
      () => chaosFetch(okFetch, { retryAfter: "soon" }),
      RangeError,
      /"retryAfter".*got "soon"/,
    ],
    [
      "retryAfter an object",
      () => chaosFetch(okFetch, bad({ retryAfter: {} })),
      TypeError,
      /"retryAfter".*got \[object Object\]/,
    ],
    [
      "an unknown option on chaosFetch",
      () => chaosFetch(okFetch, bad({ status503: 1 })),
      TypeError,
      /chaosFetch: unknown option "status503"/,
    ],
  ];

  for (const [label, make, kind, message] of cases) {
    it(`rejects ${label}`, () => {
      expect(make).toThrow(kind);
      expect(make).toThrow(message);
    });
  }

  it("accepts the edges: rates 0 and 1, zero latency, an equal range, rates adding up to exactly 1", () => {
    expect(() => chaos({ errorRate: 0, latencyMs: 0, latencyRate: 1 })).not.toThrow();
    expect(() => chaos({ errorRate: 1, latencyMs: [5, 5] })).not.toThrow();
    expect(() =>
      chaosFetch(okFetch, { errorRate: 0.1, resetRate: 0.2, statusRate: 0.7, retryAfter: "0" }),
    ).not.toThrow();
    expect(() => chaosFetch(okFetch, { status: 400, retryAfter: 0 })).not.toThrow();
    expect(() => chaosFetch(okFetch, { status: 599 })).not.toThrow();
  });
});
