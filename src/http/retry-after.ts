/**
 * How long a server asked us to wait: `Retry-After` (RFC 9110 §10.2.3), the IETF RateLimit fields
 * (draft-ietf-httpapi-ratelimit-headers) and the common `X-RateLimit-Reset` forms. Pure functions of the
 * headers and the current time. Anything unexpected yields `undefined`, so the normal backoff applies: a
 * hostile or broken header must never produce NaN, a negative delay or an endless wait.
 */

const MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];

// The three HTTP-date forms RFC 9110 §5.6.7 requires recipients to accept; the time of day is one group.
const IMF_FIXDATE = /^[A-Za-z]{3}, (\d{2}) ([A-Za-z]{3}) (\d{4}) (\d{2}:\d{2}:\d{2}) GMT$/;
const RFC_850 = /^[A-Za-z]{6,9}, (\d{2})-([A-Za-z]{3})-(\d{2}) (\d{2}:\d{2}:\d{2}) GMT$/;
const ASCTIME = /^[A-Za-z]{3} ([A-Za-z]{3}) ([ \d]\d) (\d{2}:\d{2}:\d{2}) (\d{4})$/;

/** `day` may be space-padded (asctime), which `Number` ignores; `time` is `hh:mm:ss`. */
function utc(year: number, month: string, day: string, time: string): number | undefined {
  const monthIndex = MONTHS.indexOf(month.toLowerCase());
  const dayOfMonth = Number(day);
  const [hour, minute, second] = time.split(":").map(Number) as [number, number, number];
  if (monthIndex < 0 || dayOfMonth < 1 || dayOfMonth > 31 || hour > 23 || minute > 59 || second > 60) return undefined;
  return Date.UTC(year, monthIndex, dayOfMonth, hour, minute, second);
}

/**
 * Parses an HTTP-date in any of its three forms to epoch milliseconds, or `undefined`.
 *
 * @param nowMs resolves RFC 850's two-digit year: one that would be more than 50 years in the future is
 * read as the most recent past year with those digits (RFC 9110 §5.6.7).
 *
 * @example
 * ```ts
 * parseHttpDate("Sun, 06 Nov 1994 08:49:37 GMT", Date.now()); // 784111777000
 * ```
 */
export function parseHttpDate(value: string, nowMs: number): number | undefined {
  let m = IMF_FIXDATE.exec(value);
  if (m) return utc(Number(m[3]), m[2] as string, m[1] as string, m[4] as string);
  m = ASCTIME.exec(value);
  if (m) return utc(Number(m[4]), m[1] as string, m[2] as string, m[3] as string);
  m = RFC_850.exec(value);
  if (m) {
    const currentYear = new Date(nowMs).getUTCFullYear();
    let year = Math.floor(currentYear / 100) * 100 + Number(m[3]);
    if (year > currentYear + 50) year -= 100;
    return utc(year, m[2] as string, m[1] as string, m[4] as string);
  }
  return undefined;
}

/** Whole seconds as RFC 9110 writes them (`1*DIGIT`), without signs, fractions or exponents. */
const DELAY_SECONDS = /^\d{1,12}$/;
/** A duration some rate-limit headers give with a fraction (`X-RateLimit-Reset-After: 1.5`). */
const DECIMAL_SECONDS = /^\d{1,16}(?:\.\d{1,6})?$/;

/**
 * A `Retry-After` value in milliseconds from `nowMs`: delay-seconds or an HTTP-date (a past date means 0).
 *
 * @example
 * ```ts
 * parseRetryAfter("120", Date.now()); // 120000
 * parseRetryAfter("Wed, 21 Oct 2015 07:28:00 GMT", Date.now()); // 0 (in the past)
 * parseRetryAfter("soon", Date.now()); // undefined
 * ```
 */
export function parseRetryAfter(value: string | null | undefined, nowMs: number): number | undefined {
  const seconds = secondsToMs(value, DELAY_SECONDS);
  if (seconds !== undefined || value == null) return seconds;
  const date = parseHttpDate(value.trim(), nowMs);
  return date === undefined ? undefined : Math.max(0, date - nowMs);
}

/** `value` in ms when, spaces trimmed, it is a number of seconds written as `pattern` allows; else `undefined`. */
function secondsToMs(value: string | null | undefined, pattern: RegExp): number | undefined {
  const trimmed = value?.trim();
  return trimmed !== undefined && pattern.test(trimmed) ? Number(trimmed) * 1000 : undefined;
}

/**
 * The reset time of an exhausted quota in the IETF `RateLimit` field, e.g. `"default";r=0;t=30`: the
 * smallest `t` among the items with no quota remaining (`r=0`), in ms. Earlier drafts' `RateLimit-Reset: 30`
 * is read too.
 *
 * @example
 * ```ts
 * parseRateLimit('"default";r=0;t=30', null); // 30000
 * ```
 */
export function parseRateLimit(rateLimit: string | null, rateLimitReset: string | null): number | undefined {
  let soonest: number | undefined;
  if (rateLimit !== null) {
    // Items of a Structured Field List (RFC 9651); parameters follow ';'. Quoted commas do not occur in names.
    for (const item of rateLimit.split(",")) {
      const params = new Map<string, string>();
      for (const part of item.split(";").slice(1)) {
        const [key, raw] = part.split("=", 2).map((s) => s.trim());
        if (key && raw !== undefined) params.set(key.toLowerCase(), raw);
      }
      const ms = params.get("r") === "0" ? secondsToMs(params.get("t"), DELAY_SECONDS) : undefined;
      if (ms !== undefined) soonest = Math.min(soonest ?? ms, ms);
    }
  }
  return soonest ?? secondsToMs(rateLimitReset, DELAY_SECONDS);
}

/**
 * `X-RateLimit-Reset` as services send it: epoch seconds (GitHub), epoch milliseconds, or seconds from now.
 * A number is taken for an epoch only above 10^9 (September 2001 in seconds): no service asks for a 31-year
 * wait, while a delta that large is certainly a timestamp. `X-RateLimit-Reset-After` (seconds, may have a
 * fraction) is read as a delta.
 *
 * @example
 * ```ts
 * parseXRateLimitReset("1700000060", null, 1_700_000_000_000); // 60000 (epoch seconds)
 * ```
 */
export function parseXRateLimitReset(
  reset: string | null,
  resetAfter: string | null,
  nowMs: number,
): number | undefined {
  const afterMs = secondsToMs(resetAfter, DECIMAL_SECONDS);
  if (afterMs !== undefined || reset === null) return afterMs;
  const trimmed = reset.trim();
  if (!DECIMAL_SECONDS.test(trimmed)) return undefined;
  const n = Number(trimmed);
  if (n > 1e12) return Math.max(0, n - nowMs);
  if (n > 1e9) return Math.max(0, n * 1000 - nowMs);
  return n * 1000;
}

/**
 * How long the server asked the client to wait before retrying, in ms, or `undefined` when it did not say
 * (or said something unreadable). `Retry-After` wins; the rate-limit fields are read only in its absence.
 *
 * @example
 * ```ts
 * const response = await fetch(url);
 * const waitMs = serverDelayMs(response.headers, Date.now()); // Retry-After, else rate-limit headers
 * ```
 */
export function serverDelayMs(headers: Headers, nowMs: number): number | undefined {
  const retryAfter = headers.get("retry-after");
  if (retryAfter !== null) return parseRetryAfter(retryAfter, nowMs);
  // A reset time says when a quota refills, not that it is spent: services such as GitHub send it on every
  // answer. It asks for a wait only when the matching remaining count is 0 (or not given at all).
  const exhausted = (remaining: string | null): boolean => remaining === null || remaining.trim() === "0";
  return (
    parseRateLimit(
      headers.get("ratelimit"),
      exhausted(headers.get("ratelimit-remaining")) ? headers.get("ratelimit-reset") : null,
    ) ??
    (exhausted(headers.get("x-ratelimit-remaining"))
      ? parseXRateLimitReset(headers.get("x-ratelimit-reset"), headers.get("x-ratelimit-reset-after"), nowMs)
      : undefined)
  );
}
