/**
 * The origin pause: a 429 or 503 with a delay the client would honour pauses every call to its origin, not just
 * the one that received it. The server is overloaded or limiting this client, and concurrent calls need not
 * each rediscover it. One layer of createFetch's pipeline, between the retry and the bulkhead: it runs before
 * each attempt (waiting out a pause another call learnt) and after it (learning a pause from the response).
 */

import type { Environment } from "../environment.ts";
import { RateLimitedError } from "../errors.ts";
import { jitteredServerDelayMs, ORIGIN_PAUSE_STATUSES, originPauseMs } from "./server-delay.ts";

/** One origin's pause: the instant until which its calls wait, 0 when none. */
export interface PausedOrigin {
  pausedUntilMs: number;
}

/** Records the pause a response asks of its whole origin, if it asks for one. */
export function learnOriginPause(
  origin: PausedOrigin,
  response: Response,
  env: Environment,
  maxRetryAfterMs: number,
): void {
  if (!ORIGIN_PAUSE_STATUSES.has(response.status)) return;
  const now = env.now();
  const pauseMs = originPauseMs(response, now, maxRetryAfterMs);
  if (pauseMs !== undefined) origin.pausedUntilMs = Math.max(origin.pausedUntilMs, now + pauseMs);
}

/**
 * How long an attempt must wait for its origin's pause to end, jittered (every call waiting on the pause would
 * otherwise wake at the same instant): 0 when there is no pause. Throws `RateLimitedError` when the pause ends
 * past the call's deadline (`leftMs` from now): waiting for it would only end in a timeout.
 */
export function originPauseWaitMs(origin: PausedOrigin, name: string, env: Environment, leftMs: number): number {
  if (origin.pausedUntilMs === 0) return 0;
  const waitMs = origin.pausedUntilMs - env.now();
  if (waitMs <= 0) {
    origin.pausedUntilMs = 0; // over: later calls need not read the clock
    return 0;
  }
  if (waitMs >= leftMs) {
    throw new RateLimitedError(
      `${name} asked for a pause of ${Math.ceil(waitMs)} ms more, past this call's deadline`,
      waitMs,
    );
  }
  return jitteredServerDelayMs(waitMs, env.random, (leftMs - waitMs) / 2);
}
