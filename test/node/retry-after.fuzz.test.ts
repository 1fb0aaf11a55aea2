import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { createFetch, serverDelayMs } from "../../src/index.ts";
import { FakeClock } from "../support/fake-clock.ts";

const headerValue = fc.oneof(
  fc.string(),
  fc.integer({ min: -1e15, max: 1e15 }).map(String),
  fc.double().map(String),
  fc.date({ min: new Date(-8.64e15), max: new Date(8.64e15), noInvalidDate: true }).map((d) => d.toUTCString()),
  fc.constantFrom("Infinity", "-0", "1e309", "0x1F", " 42 ", '"q";r=0;t=99999999999', "9".repeat(40)),
);
const nowMs = fc.integer({ min: 0, max: 4_102_444_800_000 });

describe("Retry-After fuzz", () => {
  it("every header combination yields undefined or a finite delay ≥ 0", () => {
    fc.assert(
      fc.property(headerValue, headerValue, headerValue, headerValue, nowMs, (ra, rl, rlr, xr, now) => {
        const headers = new Headers();
        for (const [name, value] of [
          ["retry-after", ra],
          ["ratelimit", rl],
          ["ratelimit-reset", rlr],
          ["x-ratelimit-reset", xr],
        ] as const) {
          try {
            headers.set(name, value);
          } catch {
            // not a valid header value at all: fetch could never deliver it
          }
        }
        const delay = serverDelayMs(headers, now);
        if (delay !== undefined) {
          expect(Number.isFinite(delay)).toBe(true);
          expect(delay).toBeGreaterThanOrEqual(0);
        }
      }),
      { numRuns: 2_000 },
    );
  });

  it("createFetch never sleeps NaN, a negative delay or one above maxRetryAfterMs", async () => {
    await fc.assert(
      fc.asyncProperty(headerValue, fc.integer({ min: 1, max: 120_000 }), async (retryAfter, maxRetryAfterMs) => {
        const clock = new FakeClock();
        let calls = 0;
        const fetch = createFetch({
          maxRetryAfterMs,
          backoff: { initialMs: 0, maxMs: 0 }, // so every sleep is a server-asked one
          env: clock.instantSleep(),
          fetch: async () => {
            const headers = new Headers();
            try {
              headers.set("retry-after", retryAfter);
            } catch {}
            return new Response(null, { status: calls++ === 0 ? 503 : 200, headers });
          },
        });
        await fetch("https://example.invalid/");
        for (const slept of clock.sleeps) {
          expect(Number.isNaN(slept)).toBe(false);
          expect(slept).toBeGreaterThanOrEqual(0);
          expect(slept).toBeLessThanOrEqual(maxRetryAfterMs);
        }
      }),
      { numRuns: 500 },
    );
  });
});
