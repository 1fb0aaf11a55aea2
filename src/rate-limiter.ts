/**
 * The rate limiter policy: a client-side token bucket, so that a caller keeps under a quota (an API's 10
 * requests a second, say) instead of learning about it from 429s.
 */

import { raceAbort } from "./abort.ts";
import { type Environment, resolveEnvironment } from "./environment.ts";
import { RateLimitedError } from "./errors.ts";
import { createPolicy, type Operation, type Policy, type PolicyContext } from "./policy.ts";
import { emitterOf } from "./telemetry/emit.ts";
import type { TelemetryOption } from "./telemetry/events.ts";
import {
  optionError,
  requireFiniteAtLeast,
  requireKnownKeys,
  requireLimitAtLeast,
  requireNumber,
  requireOptionsObject,
} from "./validate.ts";

/**
 * Options of {@link rateLimiter}.
 *
 * @example
 * ```ts
 * // 100 calls a minute, at most 10 at once after a quiet spell, never waiting more than 5 s for a turn.
 * const options: RateLimiterOptions = { rate: 100, intervalMs: 60_000, burst: 10, maxWaitMs: 5_000 };
 * ```
 */
export interface RateLimiterOptions {
  /** Tokens added per `intervalMs` (a finite number > 0): the sustained rate. Required. */
  readonly rate: number;
  /** The period `rate` is counted over, in ms (a finite number > 0). Default 1,000. */
  readonly intervalMs?: number;
  /** Most tokens the bucket holds (a finite number ≥ 1): how many calls go at once after a quiet spell. Default `rate` (at least 1). */
  readonly burst?: number;
  /** With no token free, `true` waits its turn; `false` rejects at once with a {@link RateLimitedError}. Default `true`. */
  readonly wait?: boolean;
  /**
   * A call that would wait longer than this is rejected at once with a {@link RateLimitedError}. This also bounds
   * the queue under sustained overload, to `rate × maxWaitMs / intervalMs` waiting calls. Default 60,000, or
   * the time one token takes to refill if that is longer; `Infinity` lets the queue grow for as long as calls
   * arrive faster than `rate`.
   */
  readonly maxWaitMs?: number;
  /** Clock and sleep. Default: `Date.now` and `setTimeout`. */
  readonly env?: Partial<Environment>;
  /** Listeners of `rate-limited`, emitted for each call refused with `RateLimitedError`. */
  readonly telemetry?: TelemetryOption;
}

/**
 * A rate limiter: a {@link Policy} that also tells how many tokens it holds.
 *
 * @example
 * ```ts
 * const limiter = rateLimiter({ rate: 10 });
 * if (limiter.available() < 1) console.info("the next call will wait for a token");
 * ```
 */
export interface RateLimiterPolicy extends Policy {
  /** Tokens in the bucket now: fractional while it refills, below 1 while calls wait their turn. */
  available(): number;
}

/**
 * The bucket's arithmetic, with no clock of its own: each method is told the time, so the refill is worked out
 * when someone asks and an idle bucket holds no timer.
 */
class TokenBucket {
  readonly #capacity: number;
  readonly #rate: number;
  readonly #intervalMs: number;
  #tokens: number;
  #updatedAtMs: number;

  constructor(capacity: number, rate: number, intervalMs: number, nowMs: number) {
    this.#capacity = capacity;
    this.#rate = rate;
    this.#intervalMs = intervalMs;
    this.#tokens = capacity;
    this.#updatedAtMs = nowMs;
  }

  available(nowMs: number): number {
    const elapsedMs = nowMs - this.#updatedAtMs;
    // Multiplying first keeps the sum exact where it can be: 100 ms at 3 a second is 0.3 token this way, and
    // 0.30000000000000004 when the elapsed time is divided first.
    if (elapsedMs > 0) {
      this.#tokens = Math.min(this.#capacity, this.#tokens + (elapsedMs * this.#rate) / this.#intervalMs);
    }
    // A wall clock can step backwards (an NTP correction). Reckoning from the new time means that neither takes
    // tokens away nor stalls the refill until the clock has caught up again.
    this.#updatedAtMs = nowMs;
    return this.#tokens;
  }

  /** Milliseconds until the call behind `ahead` waiting calls has its token; 0 when it can have one now. */
  waitMs(nowMs: number, ahead: number): number {
    const missing = ahead + 1 - this.available(nowMs);
    // Whole milliseconds, rounded up: timers keep no fractions, and waking a hair early would only mean
    // sleeping again.
    return missing > 0 ? Math.ceil((missing * this.#intervalMs) / this.#rate) : 0;
  }

  take(nowMs: number): void {
    this.#tokens = this.available(nowMs) - 1;
  }
}

/** A call waiting for its token. */
interface Waiter {
  readonly signal: AbortSignal | undefined;
  /** Runs the operation; its token has been taken. */
  readonly start: () => void;
  readonly fail: (error: unknown) => void;
}

const RATE_LIMITER_KEYS = /* @__PURE__ */ Object.keys({
  rate: true,
  intervalMs: true,
  burst: true,
  wait: true,
  maxWaitMs: true,
  env: true,
  telemetry: true,
} satisfies Record<keyof RateLimiterOptions, true>);

function requirePositive(name: string, value: unknown): number {
  const n = requireNumber("rateLimiter", name, value);
  if (!Number.isFinite(n) || n <= 0) throw optionError(RangeError, "rateLimiter", name, "a finite number > 0", value);
  return n;
}

/**
 * Lets calls through at `rate` per `intervalMs`, with bursts of up to `burst` calls after a quiet spell: a
 * token bucket that holds `burst` tokens, refills continuously, and gives each call one token.
 *
 * With no token free, a call waits its turn (or, with `wait: false`, is rejected at once with a
 * {@link RateLimitedError} whose `retryAfterMs` says when a token will be free). Waiting calls are served first
 * in, first out, and one timer at a time, so that they start one token apart rather than all at once. A call
 * that would wait longer than `maxWaitMs` is rejected at once instead; the `retryAfterMs` of that error counts
 * the calls already waiting. A waiting call whose signal aborts rejects at once with `signal.reason` and leaves
 * its token to the calls behind it.
 *
 * The limit is per limiter object and per process: it spares a server that meters each client, but it is no
 * shared quota across instances.
 *
 * @example
 * ```ts
 * // A search API that allows 30 requests a minute per client.
 * const search = rateLimiter({ rate: 30, intervalMs: 60_000, burst: 5, maxWaitMs: 10_000 });
 * const results = await search.execute(({ signal }) => fetch(searchUrl, { signal }).then((r) => r.json()));
 * ```
 */
export function rateLimiter(options: RateLimiterOptions): RateLimiterPolicy {
  const o = requireOptionsObject("rateLimiter", options);
  requireKnownKeys("rateLimiter", o, RATE_LIMITER_KEYS);
  const rate = requirePositive("rate", o.rate);
  const intervalMs = requirePositive("intervalMs", o.intervalMs ?? 1_000);
  // A bucket of less than one token could never pay for a call, hence the floor of 1 under a slow rate.
  const burst = requireFiniteAtLeast("rateLimiter", "burst", o.burst ?? Math.max(1, rate), 1);
  const wait = o.wait ?? true;
  if (typeof wait !== "boolean") throw optionError(TypeError, "rateLimiter", "wait", "a boolean", wait);
  // At least one token's refill, so that a slow limiter (one call every two minutes) still queues one call.
  const maxWaitMs = requireLimitAtLeast("rateLimiter", "maxWaitMs", o.maxWaitMs ?? Math.max(60_000, intervalMs / rate));
  const env = resolveEnvironment(o.env as RateLimiterOptions["env"], "rateLimiter");
  const emit = emitterOf("rateLimiter", o.telemetry);

  const bucket = new TokenBucket(burst, rate, intervalMs, env.now());
  // A Set keeps arrival order and deletes in O(1), which a call aborting from the middle of the queue needs.
  const waiting = new Set<Waiter>();
  let serving = false;

  function call<T>(operation: Operation<T>, context: PolicyContext): Promise<T> {
    try {
      return raceAbort(operation(context), context.signal);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Serves the queue in order until it is empty. Only the first waiter sleeps, so there is one timer however
   * many calls wait, and a waiter that leaves needs no timer moved: the next one simply becomes first.
   */
  async function serve(): Promise<void> {
    serving = true;
    try {
      for (let first = next(); first !== undefined; first = next()) {
        const delayMs = bucket.waitMs(env.now(), 0);
        if (delayMs > 0) {
          try {
            await env.sleep(delayMs, first.signal);
          } catch (error) {
            // An abort has already taken the waiter out of the queue; any other failure of sleep is reported to
            // the waiter rather than retried in a tight loop.
            if (waiting.delete(first)) first.fail(error);
          }
          continue;
        }
        waiting.delete(first);
        // When the runtime dispatches an abort, promise reactions may run between its listeners, so this
        // waiter's signal may have aborted before its own listener has run.
        if (first.signal?.aborted) {
          first.fail(first.signal.reason);
          continue;
        }
        bucket.take(env.now());
        first.start();
      }
    } finally {
      serving = false;
    }
  }

  function next(): Waiter | undefined {
    return waiting.values().next().value;
  }

  function run<T>(operation: Operation<T>, context: PolicyContext): Promise<T> {
    const { signal } = context;
    if (signal?.aborted) return Promise.reject(signal.reason);
    const nowMs = env.now();
    const delayMs = bucket.waitMs(nowMs, waiting.size);
    if (delayMs === 0 && waiting.size === 0) {
      bucket.take(nowMs);
      return call(operation, context);
    }
    if ((delayMs > 0 && !wait) || delayMs > maxWaitMs)
      emit?.({ type: "rate-limited", retryAfterMs: Math.round(delayMs) });
    if (delayMs > 0 && !wait) {
      return Promise.reject(
        new RateLimitedError(`The rate limit is reached: the next call is allowed in ${delayMs} ms`, delayMs),
      );
    }
    if (delayMs > maxWaitMs) {
      return Promise.reject(
        new RateLimitedError(
          `The rate limit is reached: a call now would wait ${delayMs} ms, more than maxWaitMs (${maxWaitMs} ms)`,
          delayMs,
        ),
      );
    }
    return new Promise<T>((resolve, reject) => {
      const onAbort = (): void => {
        waiting.delete(waiter);
        reject(signal?.reason);
      };
      const waiter: Waiter = {
        signal,
        start: () => {
          signal?.removeEventListener("abort", onAbort);
          resolve(call(operation, context));
        },
        fail: (error) => {
          signal?.removeEventListener("abort", onAbort);
          reject(error);
        },
      };
      waiting.add(waiter);
      signal?.addEventListener("abort", onAbort, { once: true });
      if (!serving) void serve();
    });
  }

  const policy = createPolicy(run);
  return { ...policy, available: () => bucket.available(env.now()) };
}
