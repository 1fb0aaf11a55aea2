import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { consecutiveFailures, failureRate, timeWindow } from "../../src/breaker-strategies.ts";
import { circuitBreaker } from "../../src/circuit-breaker.ts";
import { isCircuitOpenError } from "../../src/errors.ts";
import { FakeClock } from "../support/fake-clock.ts";

describe("circuit breaker properties", () => {
  it("never opens before the window holds minimumThroughput calls", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 50 }), fc.array(fc.boolean(), { maxLength: 200 }), (minimum, outcomes) => {
        const strategy = failureRate({ threshold: 0.01, minimumThroughput: minimum, windowSize: 1_000 });
        outcomes.forEach((success, index) => {
          const opened = strategy.record(success, 0);
          if (index + 1 < minimum) expect(opened).toBe(false);
        });
      }),
    );
  });

  it("never lets more than halfOpenProbes calls run at once while half-open, whatever the interleaving", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 4 }),
        fc.array(fc.record({ succeed: fc.boolean(), settleAfter: fc.integer({ min: 0, max: 5 }) }), {
          minLength: 1,
          maxLength: 30,
        }),
        async (probes, calls) => {
          const clock = new FakeClock();
          const breaker = circuitBreaker({
            strategy: consecutiveFailures(1),
            halfOpenAfterMs: 10,
            halfOpenProbes: probes,
            env: clock,
          });
          await breaker.execute(() => Promise.reject(new Error("down"))).catch(() => {});
          clock.nowMs += 10;
          let running = 0;
          let maxRunning = 0;
          const pending = calls.map(({ succeed, settleAfter }) =>
            breaker
              .execute(async () => {
                running++;
                maxRunning = Math.max(maxRunning, running);
                for (let i = 0; i < settleAfter; i++) await Promise.resolve();
                running--;
                if (!succeed) throw new Error("probe failed");
                return "ok";
              })
              .catch((e: unknown) => (isCircuitOpenError(e) ? "fast-fail" : "failed")),
          );
          await Promise.all(pending);
          expect(maxRunning).toBeLessThanOrEqual(probes);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("a time window's totals equal a brute-force count of the outcomes inside it", () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ dt: fc.integer({ min: 0, max: 3_000 }), success: fc.boolean() }), { maxLength: 300 }),
        (events) => {
          const windowMs = 10_000;
          const buckets = 10;
          const sliceMs = windowMs / buckets;
          const window = timeWindow(windowMs, buckets);
          const log: Array<{ t: number; success: boolean }> = [];
          let t = 0;
          for (const { dt, success } of events) {
            t += dt;
            window.add(success, t);
            log.push({ t, success });
            // The window holds the slices that overlap [now − windowMs, now]: whole slices, never less.
            const oldest = Math.floor(t / sliceMs) * sliceMs - windowMs + sliceMs;
            const inside = log.filter((e) => e.t >= oldest);
            expect(window.totals(t)).toEqual({
              total: inside.length,
              failures: inside.filter((e) => !e.success).length,
            });
          }
        },
      ),
    );
  });
});
