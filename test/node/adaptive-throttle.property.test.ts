import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { adaptiveThrottle } from "../../src/adaptive-throttle.ts";
import { SlidingWindowCounter } from "../../src/sliding-window.ts";
import { FakeClock } from "../support/fake-clock.ts";

const outcomes = {
  success: () => "ok",
  "network error": () => Promise.reject(new TypeError("fetch failed")),
  timeout: () => Promise.reject(new DOMException("late", "TimeoutError")),
  "application error": () => Promise.reject(new Error("422 unprocessable")),
  "503": () => new Response(null, { status: 503 }),
};

/** One step of traffic: a call that ends one way or another, or time passing (forward, or back as NTP may). */
type Step = { kind: "call"; outcome: keyof typeof outcomes } | { kind: "time"; ms: number };
const step: fc.Arbitrary<Step> = fc.oneof(
  fc.constantFrom(...(Object.keys(outcomes) as Array<keyof typeof outcomes>)).map((outcome) => ({
    kind: "call" as const,
    outcome,
  })),
  fc
    .oneof(fc.integer({ min: 0, max: 5_000 }), fc.integer({ min: -5_000, max: 600_000 }))
    .map((ms) => ({ kind: "time" as const, ms })),
);

const settings = fc.record({
  k: fc.double({ min: 1, max: 10, noNaN: true }),
  windowMs: fc.integer({ min: 1, max: 600_000 }),
  buckets: fc.integer({ min: 1, max: 120 }),
});

describe("adaptiveThrottle properties", () => {
  it("the rejection probability is always in [0, 1), whatever the traffic and the clock do", async () => {
    await fc.assert(
      fc.asyncProperty(
        settings,
        fc.array(step, { maxLength: 300 }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        async (options, steps, draw) => {
          const clock = new FakeClock({ random: () => draw });
          const throttle = adaptiveThrottle({ ...options, env: clock });
          for (const s of steps) {
            if (s.kind === "time") clock.nowMs += s.ms;
            else await throttle.execute<unknown>(outcomes[s.outcome]).catch(() => {});
            const p = throttle.rejectionProbability();
            expect(p).toBeGreaterThanOrEqual(0);
            expect(p).toBeLessThan(1);
            const { requests, accepts } = throttle.counts();
            expect(accepts).toBeGreaterThanOrEqual(0);
            expect(accepts).toBeLessThanOrEqual(requests);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it("the window keeps at most `buckets` buckets and counts exactly what a full log of events would", () => {
    const event = fc.record({ advanceMs: fc.integer({ min: -2_000, max: 30_000 }), accepted: fc.boolean() });
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 120_000 }),
        fc.integer({ min: 1, max: 100 }),
        fc.array(event, { maxLength: 500 }),
        (windowMs, buckets, events) => {
          const window = new SlidingWindowCounter(windowMs, buckets);
          const bucketMs = windowMs / buckets;
          // The model keeps every event with the bucket it landed in; a clock stepping back counts into the
          // newest bucket seen so far.
          const log: Array<{ bucket: number; accepted: boolean }> = [];
          let newest = Number.NEGATIVE_INFINITY;
          let nowMs = 1_700_000_000_000;
          for (const { advanceMs, accepted } of events) {
            nowMs += advanceMs;
            newest = Math.max(newest, Math.floor(nowMs / bucketMs));
            window.record(nowMs, accepted);
            log.push({ bucket: newest, accepted });
            const live = log.filter((e) => e.bucket > newest - buckets);
            expect(window.totals(nowMs)).toEqual({
              count: live.length,
              marked: live.filter((e) => e.accepted).length,
            });
            expect(window.liveBuckets(nowMs)).toBeLessThanOrEqual(buckets);
            expect(window.liveBuckets(nowMs)).toBe(new Set(live.map((e) => e.bucket)).size);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
