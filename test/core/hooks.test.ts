/**
 * A hook that throws is a bug in the user's observer, not a failure of the call it observes: the call's
 * result, its cleanup and its state are the same as with no hook at all.
 */

import { describe, expect, it } from "vitest";
import {
  circuitBreaker,
  consecutiveFailures,
  createFetch,
  fallback,
  logTo,
  metricsTo,
  on,
  retry,
  retryBudget,
  type TelemetryEvent,
} from "../../src/index.ts";
import { FakeClock } from "../support/fake-clock.ts";

const boom = () => {
  throw new Error("observer bug");
};

describe("a throwing hook", () => {
  it("does not stop retry from retrying, nor change what it gives up with", async () => {
    let calls = 0;
    const policy = retry({
      attempts: 3,
      backoff: { initialMs: 0 },
      telemetry: boom,
      env: new FakeClock(),
    });
    const failure = new TypeError("fetch failed");
    await expect(
      policy.execute(() => {
        calls++;
        return Promise.reject(failure);
      }),
    ).rejects.toBe(failure);
    expect(calls).toBe(3);
  });

  it("does not turn the response that opens a circuit into a rejection, and its breaker still opens", async () => {
    const breaker = circuitBreaker({
      strategy: consecutiveFailures(1),
      telemetry: on("circuit-state-change", boom),
      env: new FakeClock(),
    });
    const res = await breaker.execute(async () => new Response("down", { status: 500 }));
    expect(res.status).toBe(500);
    await res.text();
    expect(breaker.state).toBe("open");
  });

  it("does not fail a createFetch call, nor leave a discarded body uncancelled", async () => {
    let cancelled = 0;
    let calls = 0;
    const fetch = createFetch({
      env: new FakeClock().instantSleep(),
      backoff: { initialMs: 0 },
      telemetry: [boom, logTo({ warn: boom, error: boom }), metricsTo({ count: boom, timing: boom })],
      fetch: async () =>
        new Response(
          new ReadableStream({
            cancel() {
              cancelled++;
            },
          }),
          { status: calls++ < 2 ? 503 : 200 },
        ),
    });
    const res = await fetch("https://example.invalid/");
    expect(res.status).toBe(200);
    await res.body?.cancel();
    expect(cancelled).toBe(3); // the two discarded 503s, and the final body cancelled above
  });

  it("does not stop a retry budget from refusing, nor a fallback from answering", async () => {
    const budget = retryBudget({
      ratio: 0,
      minRetriesPerSecond: 0,
      telemetry: on("retry-budget-exhausted", boom),
      env: new FakeClock(),
    });
    expect(budget.tryAcquireRetry()).toBe(false);
    const policy = fallback("default", { telemetry: [on("fallback", boom), logTo({ warn: boom, error: boom })] });
    await expect(policy.execute(() => Promise.reject(new Error("x")))).resolves.toBe("default");
  });

  it("does not keep the listeners after it from hearing the event", async () => {
    const heard: TelemetryEvent["type"][] = [];
    const policy = retry({
      attempts: 2,
      backoff: { initialMs: 0 },
      telemetry: [boom, (event) => heard.push(event.type)],
      env: new FakeClock(),
    });
    await expect(policy.execute(() => Promise.reject(new TypeError("fetch failed")))).rejects.toThrow("fetch failed");
    expect(heard).toEqual(["retry", "give-up"]);
  });

  it("that is async and rejects is reported like one that throws: no unhandled rejection, the call goes on", async () => {
    // An unhandled rejection ends a Node process, and fails this run in every runtime the suite uses.
    const shipEvent = async () => {
      throw new Error("shipping the event failed");
    };
    const policy = retry({ attempts: 2, backoff: { initialMs: 0 }, telemetry: shipEvent, env: new FakeClock() });
    let calls = 0;
    await expect(
      policy.execute(async () => (++calls === 1 ? Promise.reject(new TypeError("fetch failed")) : "ok")),
    ).resolves.toBe("ok");
    // A macrotask turn, so that a rejection nobody handled is reported before the test ends.
    await new Promise((resolve) => setTimeout(resolve, 0));
  });
});
