/**
 * What a client should do when a response asks it to wait: pure decisions on the response, the time left and
 * the cap, kept apart from createFetch's wiring so each rule can be read and tested alone.
 */

import { serverDelayMs } from "./retry-after.ts";

/** Statuses whose `Retry-After` (or rate-limit headers) is honoured, per RFC 9110 and RFC 6585. */
export const SERVER_DELAY_STATUSES: ReadonlySet<number> = new Set([413, 429, 503]);

/** Statuses whose delay pauses the whole origin: it is overloaded or limiting this client, not this request. */
export const ORIGIN_PAUSE_STATUSES: ReadonlySet<number> = new Set([429, 503]);

/**
 * `none`: the server did not ask (use the backoff); `wait`: honour its delay (`askedMs`), plus a little jitter
 * (`delayMs`); `refuse`: it asked for longer than the cap or than the time left, so sleeping would be wasted —
 * answer with this response now.
 */
export type ServerDelayDecision =
  | { readonly kind: "none" }
  | { readonly kind: "wait"; readonly delayMs: number; readonly askedMs: number }
  | { readonly kind: "refuse"; readonly askedMs: number };

/** The jitter added to a server-asked wait is at most this fraction of it… */
export const SERVER_DELAY_JITTER_RATIO = 0.2;
/** …and never more than this, in ms. */
export const SERVER_DELAY_JITTER_MAX_MS = 5_000;

/**
 * A server-asked wait with a small positive jitter: never shorter than asked, longer by a random part of
 * {@link SERVER_DELAY_JITTER_RATIO} of it (at most {@link SERVER_DELAY_JITTER_MAX_MS}), and by no more than
 * `roomMs`. A `Retry-After` date or a rate-limit reset names one instant for every client of a fleet; taken
 * exactly, they would all come back in the same millisecond and meet the limit again together.
 *
 * @param roomMs how much later than asked the wait may end (the cap, the deadline)
 *
 * For example (internal, so not a checked `@example`):
 * ```ts
 * jitteredServerDelayMs(2_000, Math.random, Infinity); // 2000 to 2400
 * ```
 */
export function jitteredServerDelayMs(askedMs: number, random: () => number, roomMs: number): number {
  const spreadMs = Math.min(askedMs * SERVER_DELAY_JITTER_RATIO, SERVER_DELAY_JITTER_MAX_MS, Math.max(0, roomMs));
  return askedMs + random() * spreadMs;
}

/**
 * Decides about the delay a retryable response asks for.
 *
 * @param leftMs time left before the call's total deadline (`Infinity` without one)
 * @param random jitters the wait (see {@link jitteredServerDelayMs}); without it the wait is exactly as asked
 * @param elapsedLeftMs time left before the retrying's own limit (`maxElapsedMs`): the jitter never pushes a
 *   wait that fits it past it, where the retry would be dropped for a few random milliseconds
 *
 * For example (internal, so not a checked `@example`):
 * ```ts
 * decideServerDelay(res503RetryAfter2, Date.now(), Infinity, 60_000); // { kind: "wait", delayMs: 2000, askedMs: 2000 }
 * ```
 */
export function decideServerDelay(
  response: Response,
  nowMs: number,
  leftMs: number,
  maxRetryAfterMs: number,
  random?: () => number,
  elapsedLeftMs = Infinity,
): ServerDelayDecision {
  if (!SERVER_DELAY_STATUSES.has(response.status)) return { kind: "none" };
  const askedMs = serverDelayMs(response.headers, nowMs);
  if (askedMs === undefined) return { kind: "none" };
  // An attempt that would start exactly at the deadline could not finish before it: refuse that too.
  if (askedMs > maxRetryAfterMs || askedMs >= leftMs) return { kind: "refuse", askedMs };
  if (random === undefined) return { kind: "wait", delayMs: askedMs, askedMs };
  // The jitter stays within the cap and maxElapsedMs, and takes at most half the time left after the asked wait.
  const roomMs = Math.min(maxRetryAfterMs - askedMs, (leftMs - askedMs) / 2, elapsedLeftMs - askedMs);
  return { kind: "wait", delayMs: jitteredServerDelayMs(askedMs, random, roomMs), askedMs };
}

/**
 * How long a response says its whole origin should be left alone, in ms, or `undefined`: only a 429 or 503
 * with a delay the client would honour (at most `maxRetryAfterMs`) pauses an origin.
 *
 * For example (internal, so not a checked `@example`):
 * ```ts
 * const pauseMs = originPauseMs(res429RetryAfter5, Date.now(), 60_000); // 5000
 * ```
 */
export function originPauseMs(response: Response, nowMs: number, maxRetryAfterMs: number): number | undefined {
  if (!ORIGIN_PAUSE_STATUSES.has(response.status)) return undefined;
  const askedMs = serverDelayMs(response.headers, nowMs);
  return askedMs !== undefined && askedMs <= maxRetryAfterMs ? askedMs : undefined;
}
