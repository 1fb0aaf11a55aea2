import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { consecutiveFailures, defaultBreakerStrategy, failureRate, timeWindow } from "../../src/breaker-strategies.ts";
import { circuitBreaker } from "../../src/circuit-breaker.ts";
import { createFetch } from "../../src/create-fetch.ts";
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

  it("the default strategy opens exactly when a brute-force count of its last 5 s says so: ≥ 10 outcomes, ≥ half failed", () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ dt: fc.integer({ min: 0, max: 1_500 }), success: fc.boolean() }), { maxLength: 200 }),
        (events) => {
          const strategy = defaultBreakerStrategy();
          const sliceMs = 500; // 5 s in 10 buckets
          const log: Array<{ t: number; success: boolean }> = [];
          let t = 1_700_000_000_000;
          for (const { dt, success } of events) {
            t += dt;
            log.push({ t, success });
            const oldest = Math.floor(t / sliceMs) * sliceMs - 5_000 + sliceMs;
            const inside = log.filter((e) => e.t >= oldest);
            const failures = inside.filter((e) => !e.success).length;
            const expected = inside.length >= 10 && failures / inside.length >= 0.5;
            expect(strategy.record(success, t)).toBe(expected);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it("with the default strategy, follows the state machine: closed → open → half-open after 10 s → closed or open", async () => {
    type Step = { kind: "call"; succeed: boolean } | { kind: "wait"; ms: number };
    const step: fc.Arbitrary<Step> = fc.oneof(
      { weight: 4, arbitrary: fc.record({ kind: fc.constant("call" as const), succeed: fc.boolean() }) },
      {
        weight: 1,
        arbitrary: fc.record({ kind: fc.constant("wait" as const), ms: fc.integer({ min: 0, max: 12_000 }) }),
      },
    );
    await fc.assert(
      fc.asyncProperty(fc.array(step, { maxLength: 120 }), async (steps) => {
        const clock = new FakeClock();
        const breaker = circuitBreaker({ env: clock });
        // The model: the same strategy decides when to open; the rest is the documented state machine.
        let model = defaultBreakerStrategy();
        let openedAt: number | undefined;
        for (const s of steps) {
          if (s.kind === "wait") {
            clock.nowMs += s.ms;
            continue;
          }
          const modelState =
            openedAt === undefined ? "closed" : clock.nowMs >= openedAt + 10_000 ? "half-open" : "open";
          expect(breaker.state).toBe(modelState);
          let ran = false;
          const outcome = await breaker
            .execute(async () => {
              ran = true;
              if (!s.succeed) throw new Error("down");
              return "ok";
            })
            .catch((e: unknown) => e);
          expect(ran).toBe(modelState !== "open");
          if (modelState === "open") {
            expect(isCircuitOpenError(outcome)).toBe(true);
          } else if (modelState === "half-open") {
            if (s.succeed) {
              openedAt = undefined;
              model = defaultBreakerStrategy();
            } else {
              openedAt = clock.nowMs;
            }
          } else if (model.record(s.succeed, clock.nowMs)) {
            openedAt = clock.nowMs;
          }
        }
      }),
      { numRuns: 200 },
    );
  });

  it("one createFetch call never opens the default breaker, whatever its attempts and what they meet", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 30 }),
        fc.array(fc.constantFrom(503, 500, 502, 504, 429, "reset"), { minLength: 1, maxLength: 30 }),
        async (attempts, answers) => {
          let sent = 0;
          const fetch = createFetch({
            attempts,
            env: new FakeClock().instantSleep(),
            fetch: async () => {
              const answer = answers[Math.min(sent++, answers.length - 1)] as number | "reset";
              if (answer === "reset") throw new TypeError("fetch failed");
              return new Response(null, { status: answer });
            },
          });
          await fetch("https://api.example/items").then(
            (response) => response.arrayBuffer(),
            (error: unknown) => expect(isCircuitOpenError(error)).toBe(false),
          );
          expect(sent).toBeLessThanOrEqual(attempts); // fewer when maxElapsedMs ends the retrying first
          expect(fetch.breaker("https://api.example")?.state).toBe("closed");
        },
      ),
      { numRuns: 100 },
    );
  });
});
