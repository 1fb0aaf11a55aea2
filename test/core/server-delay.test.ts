import { describe, expect, it } from "vitest";
import { decideServerDelay, jitteredServerDelayMs, originPauseMs } from "../../src/http/server-delay.ts";

const now = Date.UTC(2026, 10, 30, 12, 0, 0);
const answer = (status: number, headers: Record<string, string> = {}) => new Response(null, { status, headers });

describe("decideServerDelay", () => {
  it("waits what a 503, 429 or 413 asks, unjittered", () => {
    for (const status of [503, 429, 413]) {
      expect(decideServerDelay(answer(status, { "retry-after": "2" }), now, Infinity, 60_000)).toMatchObject({
        kind: "wait",
        delayMs: 2_000,
      });
    }
  });

  it("leaves other statuses to the backoff, Retry-After or not", () => {
    expect(decideServerDelay(answer(500, { "retry-after": "2" }), now, Infinity, 60_000)).toEqual({ kind: "none" });
  });

  it("leaves a response that asks nothing, or something unreadable, to the backoff", () => {
    expect(decideServerDelay(answer(503), now, Infinity, 60_000)).toEqual({ kind: "none" });
    expect(decideServerDelay(answer(503, { "retry-after": "soon" }), now, Infinity, 60_000)).toEqual({ kind: "none" });
  });

  it("refuses a wait beyond the cap", () => {
    expect(decideServerDelay(answer(429, { "retry-after": "61" }), now, Infinity, 60_000)).toEqual({
      kind: "refuse",
      askedMs: 61_000,
    });
  });

  it("refuses a wait that ends at or past the call's deadline", () => {
    const asked = answer(503, { "retry-after": "5" });
    expect(decideServerDelay(asked, now, 5_000, 60_000).kind).toBe("refuse");
    expect(decideServerDelay(asked, now, 5_001, 60_000).kind).toBe("wait");
  });

  it("jitters a wait only as far as maxElapsedMs leaves room, never below what was asked", () => {
    const asked = answer(503, { "retry-after": "1" });
    expect(decideServerDelay(asked, now, Infinity, 60_000, () => 0.999, 1_150)).toMatchObject({
      kind: "wait",
      delayMs: 1_000 + 0.999 * 150,
    });
    expect(decideServerDelay(asked, now, Infinity, 60_000, () => 0.999, 900)).toMatchObject({
      kind: "wait",
      delayMs: 1_000,
    });
  });
});

describe("originPauseMs", () => {
  it("pauses the origin for a 429 or 503 with a delay the client would honour", () => {
    expect(originPauseMs(answer(429, { "retry-after": "3" }), now, 60_000)).toBe(3_000);
    expect(originPauseMs(answer(503, { "retry-after": "3" }), now, 60_000)).toBe(3_000);
  });

  it("does not pause it for a 413 (this request is too large, not the origin overloaded) or a wait beyond the cap", () => {
    expect(originPauseMs(answer(413, { "retry-after": "3" }), now, 60_000)).toBeUndefined();
    expect(originPauseMs(answer(503, { "retry-after": "3600" }), now, 60_000)).toBeUndefined();
  });
});

describe("jitteredServerDelayMs", () => {
  it("is never shorter than asked and at most 20 % longer, capped at 5 s and at the room given", () => {
    expect(jitteredServerDelayMs(2_000, () => 0, Infinity)).toBe(2_000);
    expect(jitteredServerDelayMs(2_000, () => 0.999, Infinity)).toBeCloseTo(2_399.6);
    expect(jitteredServerDelayMs(60_000, () => 0.999, Infinity)).toBeCloseTo(64_995);
    expect(jitteredServerDelayMs(2_000, () => 0.999, 10)).toBeCloseTo(2_009.99);
    expect(jitteredServerDelayMs(2_000, () => 0.999, -5)).toBe(2_000);
  });
});
