import { describe, expect, it } from "vitest";
import { backoffDelay, exponentialBackoff } from "../../src/index.ts";

const fixed = (value: number) => () => value;

describe("exponential backoff", () => {
  it("without jitter doubles from initialMs and stops growing at maxMs", () => {
    const b = exponentialBackoff({ initialMs: 100, maxMs: 1_000, jitter: "none" });
    const delays = [1, 2, 3, 4, 5, 6].map((n) => backoffDelay(b, n, 0, fixed(0.5)));
    expect(delays).toEqual([100, 200, 400, 800, 1_000, 1_000]);
  });

  it("grows by the configured multiplier", () => {
    const b = exponentialBackoff({ initialMs: 10, multiplier: 3, jitter: "none" });
    expect([1, 2, 3].map((n) => backoffDelay(b, n, 0, fixed(0)))).toEqual([10, 30, 90]);
  });

  it("full jitter spans [0, ceiling] with the random draw", () => {
    const b = exponentialBackoff({ initialMs: 100, jitter: "full" });
    expect(backoffDelay(b, 3, 0, fixed(0))).toBe(0);
    expect(backoffDelay(b, 3, 0, fixed(0.25))).toBe(100);
    expect(backoffDelay(b, 3, 0, fixed(0.999))).toBeCloseTo(399.6, 5);
  });

  it("equal jitter keeps at least half the ceiling", () => {
    const b = exponentialBackoff({ initialMs: 100, jitter: "equal" });
    expect(backoffDelay(b, 3, 0, fixed(0))).toBe(200);
    expect(backoffDelay(b, 3, 0, fixed(0.5))).toBe(300);
  });

  it("decorrelated jitter draws between initialMs and three times the previous delay, capped", () => {
    const b = exponentialBackoff({ initialMs: 100, maxMs: 1_000, jitter: "decorrelated" });
    expect(backoffDelay(b, 1, 0, fixed(0))).toBe(100);
    expect(backoffDelay(b, 1, 0, fixed(0.5))).toBe(200); // previous defaults to initialMs: [100, 300]
    expect(backoffDelay(b, 4, 250, fixed(0.5))).toBe(425); // [100, 750]
    expect(backoffDelay(b, 9, 900, fixed(0.99))).toBe(1_000);
  });

  it("defaults to full jitter from 100 ms, doubling, capped at 10 s", () => {
    expect(exponentialBackoff()).toEqual({ initialMs: 100, maxMs: 10_000, multiplier: 2, jitter: "full" });
  });

  it("stays finite and capped for absurd retry numbers", () => {
    const b = exponentialBackoff({ initialMs: 1, maxMs: 5_000, multiplier: 10, jitter: "none" });
    expect(backoffDelay(b, 100_000, 0, fixed(0))).toBe(5_000);
  });
});
