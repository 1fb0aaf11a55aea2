import { describe, expect, it } from "vitest";
import {
  parseHttpDate,
  parseRateLimit,
  parseRetryAfter,
  parseXRateLimitReset,
  serverDelayMs,
} from "../../src/index.ts";

const now = Date.UTC(2026, 10, 30, 12, 0, 0); // Mon, 30 Nov 2026 12:00:00 GMT

describe("Retry-After", () => {
  it("reads delay-seconds", () => {
    expect(parseRetryAfter("120", now)).toBe(120_000);
    expect(parseRetryAfter(" 0 ", now)).toBe(0);
  });

  it("reads the IMF-fixdate form", () => {
    expect(parseRetryAfter("Mon, 30 Nov 2026 12:00:05 GMT", now)).toBe(5_000);
  });

  it("reads the obsolete RFC 850 form, two-digit year included", () => {
    expect(parseRetryAfter("Monday, 30-Nov-26 12:00:07 GMT", now)).toBe(7_000);
  });

  it("reads the asctime form, with its space-padded day", () => {
    expect(parseRetryAfter("Mon Nov 30 12:00:09 2026", now)).toBe(9_000);
    expect(parseHttpDate("Sun Nov  6 08:49:37 1994", now)).toBe(Date.UTC(1994, 10, 6, 8, 49, 37));
  });

  it("reads a past date as zero", () => {
    expect(parseRetryAfter("Sun, 06 Nov 1994 08:49:37 GMT", now)).toBe(0);
  });

  it("reads an RFC 850 year more than 50 years ahead as last century", () => {
    expect(parseHttpDate("Sunday, 06-Nov-94 08:49:37 GMT", now)).toBe(Date.UTC(1994, 10, 6, 8, 49, 37));
  });

  const junk = [
    "",
    "soon",
    "-5",
    "1.5",
    "1e3",
    "0x10",
    "Infinity",
    "NaN",
    "12 s",
    "Mon, 30 Nov 2026 25:00:00 GMT",
    "Mon, 31 Foo 2026 12:00:00 GMT",
    "9999999999999",
  ];
  for (const value of junk) {
    it(`ignores ${JSON.stringify(value)}`, () => {
      expect(parseRetryAfter(value, now)).toBeUndefined();
    });
  }

  it("ignores a missing header", () => {
    expect(parseRetryAfter(null, now)).toBeUndefined();
  });
});

describe("rate-limit headers", () => {
  it("reads the reset of an exhausted quota from the IETF RateLimit field", () => {
    expect(parseRateLimit('"default";r=0;t=30', null)).toBe(30_000);
  });

  it("ignores RateLimit items that still have quota", () => {
    expect(parseRateLimit('"default";r=5;t=30', null)).toBeUndefined();
  });

  it("takes the soonest reset among exhausted quotas", () => {
    expect(parseRateLimit('"burst";r=0;t=2, "daily";r=0;t=3600', null)).toBe(2_000);
  });

  it("reads the earlier drafts' RateLimit-Reset", () => {
    expect(parseRateLimit(null, "12")).toBe(12_000);
  });

  it("reads X-RateLimit-Reset as epoch seconds above 10^9", () => {
    expect(parseXRateLimitReset(String(now / 1000 + 42), null, now)).toBe(42_000);
  });

  it("reads X-RateLimit-Reset as epoch milliseconds above 10^12", () => {
    expect(parseXRateLimitReset(String(now + 1_500), null, now)).toBe(1_500);
  });

  it("reads a small X-RateLimit-Reset as seconds from now", () => {
    expect(parseXRateLimitReset("60", null, now)).toBe(60_000);
  });

  it("reads X-RateLimit-Reset-After with a fraction", () => {
    expect(parseXRateLimitReset(null, "1.25", now)).toBe(1_250);
  });

  it("prefers Retry-After over every rate-limit header", () => {
    const headers = new Headers({ "retry-after": "1", ratelimit: '"q";r=0;t=50', "x-ratelimit-reset": "70" });
    expect(serverDelayMs(headers, now)).toBe(1_000);
  });

  it("falls back from RateLimit to X-RateLimit-Reset", () => {
    expect(serverDelayMs(new Headers({ "x-ratelimit-reset": "3" }), now)).toBe(3_000);
  });

  it("ignores a reset time while quota remains, as services send it on every answer", () => {
    const headers = new Headers({ "x-ratelimit-reset": String(now / 1000 + 3000), "x-ratelimit-remaining": "4999" });
    expect(serverDelayMs(headers, now)).toBeUndefined();
    expect(serverDelayMs(new Headers({ "ratelimit-reset": "20", "ratelimit-remaining": "12" }), now)).toBeUndefined();
  });

  it("reads a reset time when the remaining count is 0", () => {
    const headers = new Headers({ "x-ratelimit-reset": String(now / 1000 + 30), "x-ratelimit-remaining": "0" });
    expect(serverDelayMs(headers, now)).toBe(30_000);
    expect(serverDelayMs(new Headers({ "ratelimit-reset": "20", "ratelimit-remaining": "0" }), now)).toBe(20_000);
  });

  it("says nothing when no header is there", () => {
    expect(serverDelayMs(new Headers(), now)).toBeUndefined();
  });
});
