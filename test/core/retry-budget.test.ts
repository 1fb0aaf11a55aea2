import { describe, expect, it } from "vitest";
import { retry } from "../../src/retry.ts";
import { retryBudget } from "../../src/retry-budget.ts";
import { on } from "../../src/telemetry/events.ts";
import { FakeClock } from "../support/fake-clock.ts";

describe("retry budget", () => {
  it("allows the minimum retries per second with no traffic at all", () => {
    const budget = retryBudget({ ratio: 0, minRetriesPerSecond: 2, windowMs: 1_000, env: new FakeClock() });
    expect([1, 2, 3].map(() => budget.tryAcquireRetry())).toEqual([true, true, false]);
  });

  it("allows ratio × requests retries on top of the minimum, over the window", () => {
    const clock = new FakeClock();
    const budget = retryBudget({ ratio: 0.2, minRetriesPerSecond: 0, windowMs: 10_000, env: clock });
    for (let i = 0; i < 50; i++) budget.recordRequest();
    let granted = 0;
    while (budget.tryAcquireRetry()) granted++;
    expect(granted).toBe(10);
    expect(budget.state()).toEqual({ requests: 50, retries: 10, available: 0 });
  });

  it("treats minRetriesPerSecond as a floor, not an addition", () => {
    const budget = retryBudget({ ratio: 0.5, minRetriesPerSecond: 1, windowMs: 1_000, env: new FakeClock() });
    for (let i = 0; i < 10; i++) budget.recordRequest();
    expect(budget.state().available).toBe(5); // max(1, 0.5 × 10), not 1 + 5
  });

  it("does not let a burst through when an outage begins after quiet, healthy traffic", () => {
    const clock = new FakeClock({ startMs: 0 });
    const budget = retryBudget({ ratio: 0.2, minRetriesPerSecond: 0, env: clock }); // the default window
    const grantsPerSecond: number[] = [];
    for (let second = 0; second < 10; second++) {
      let granted = 0;
      for (let i = 0; i < 100; i++) {
        clock.nowMs = second * 1_000 + i * 10;
        budget.recordRequest();
        // Healthy for 5 s, then every call fails and asks for a retry.
        if (second >= 5 && budget.tryAcquireRetry()) granted++;
      }
      grantsPerSecond.push(granted);
    }
    // A 10 s window would have granted 100 retries (0.2 × 500 earlier calls) in the first second of the outage.
    expect(Math.max(...grantsPerSecond)).toBeLessThanOrEqual(21);
    expect(grantsPerSecond[6]).toBeGreaterThanOrEqual(19);
  });

  it("forgets requests and retries older than the window", () => {
    const clock = new FakeClock({ startMs: 0 });
    const budget = retryBudget({ ratio: 1, minRetriesPerSecond: 0, windowMs: 1_000, buckets: 4, env: clock });
    budget.recordRequest();
    expect(budget.tryAcquireRetry()).toBe(true);
    expect(budget.tryAcquireRetry()).toBe(false);
    clock.nowMs += 2_000;
    expect(budget.state()).toEqual({ requests: 0, retries: 0, available: 0 });
    budget.recordRequest();
    expect(budget.tryAcquireRetry()).toBe(true);
  });

  it("reports each refusal", () => {
    const refusals: number[] = [];
    const budget = retryBudget({
      ratio: 0,
      minRetriesPerSecond: 0,
      telemetry: on("retry-budget-exhausted", (s) => refusals.push(s.retries)),
      env: new FakeClock(),
    });
    budget.tryAcquireRetry();
    expect(refusals).toEqual([0]);
  });

  it("makes retry skip the retry and return the original failure when spent", async () => {
    const clock = new FakeClock();
    const budget = retryBudget({ ratio: 0, minRetriesPerSecond: 0.1, windowMs: 10_000, env: clock }); // 1 retry
    const reasons: string[] = [];
    const policy = retry({
      attempts: 5,
      budget,
      env: clock,
      backoff: { initialMs: 0 },
      telemetry: on("give-up", (e) => reasons.push(e.reason)),
    });
    const failure = new TypeError("fetch failed");
    let calls = 0;
    const op = () => {
      calls++;
      return Promise.reject(failure);
    };
    await expect(policy.execute(op)).rejects.toBe(failure);
    expect(calls).toBe(2); // the first attempt and the one retry the budget held
    expect(reasons).toEqual(["budget"]);
  });

  it("caps a fleet's load in a full outage near (1 + ratio)× with retries on", async () => {
    const clock = new FakeClock();
    const budget = retryBudget({ ratio: 0.2, minRetriesPerSecond: 0, windowMs: 10_000, env: clock });
    const policy = retry({ attempts: 3, budget, env: clock, backoff: { initialMs: 0 } });
    let calls = 0;
    for (let i = 0; i < 1_000; i++) {
      await policy
        .execute(() => {
          calls++;
          return Promise.reject(new TypeError("fetch failed"));
        })
        .catch(() => {});
    }
    expect(calls / 1_000).toBeLessThanOrEqual(1.2);
    expect(calls / 1_000).toBeGreaterThan(1.15);
  });

  it("rejects bad options", () => {
    expect(() => retryBudget({ ratio: -0.1 })).toThrow(/retryBudget: option "ratio".*got -0\.1/);
    expect(() => retryBudget({ windowMs: 0 })).toThrow(/"windowMs" must be from 1 to 2147483647 \(2\^31−1\), got 0/);
    expect(() => retryBudget({ percent: 20 } as never)).toThrow(/unknown option "percent"/);
    expect(() => retry({ budget: {} as never })).toThrow(/"budget" must be a retryBudget\(…\)/);
  });
});
