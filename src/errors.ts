/**
 * The errors staunch's own policies throw. Each has a stable `name` (safe to compare across bundles and
 * realms, unlike `instanceof`), a message that says what happened and to what, and a type guard.
 *
 * Fields set in a constructor are `declare`d: a plain declaration would also emit an ES2022 class field that
 * is defined as `undefined` and then assigned, which costs bytes in every bundle and changes nothing.
 */

import { errorName } from "./transient.ts";

/**
 * Thrown without calling the operation while a circuit breaker is open.
 *
 * @example
 * ```ts
 * try {
 *   await breaker.execute(callService);
 * } catch (error) {
 *   if (error instanceof CircuitOpenError) return retryLater(error.retryAfterMs);
 *   throw error;
 * }
 * ```
 */
export class CircuitOpenError extends Error {
  override readonly name = "CircuitOpenError";
  /** Milliseconds until the breaker lets a probe call through (0 when half-open and probes are all in use). */
  declare readonly retryAfterMs: number;
  /** The breaker's key, when it belongs to a registry (an origin in createFetch). */
  declare readonly key: string | undefined;

  constructor(retryAfterMs: number, key?: string, options?: ErrorOptions) {
    super(
      `The circuit${key ? ` for ${key}` : ""} is open: calls fail fast for ${Math.ceil(retryAfterMs)} ms more`,
      options,
    );
    this.retryAfterMs = retryAfterMs;
    this.key = key;
  }
}

/**
 * Thrown at once when a bulkhead has no free slot and no room in its queue.
 *
 * @example
 * ```ts
 * try {
 *   await pool.execute(work);
 * } catch (error) {
 *   if (error instanceof BulkheadRejectedError) return new Response("busy", { status: 503 });
 *   throw error;
 * }
 * ```
 */
export class BulkheadRejectedError extends Error {
  override readonly name = "BulkheadRejectedError";
  declare readonly limit: number;
  declare readonly queue: number;

  constructor(limit: number, queue: number) {
    super(`The bulkhead is full: ${limit} calls are running and ${queue} are queued`);
    this.limit = limit;
    this.queue = queue;
  }
}

/**
 * Thrown by a rate limiter that rejects rather than waits, or by adaptive throttling shedding load.
 *
 * @example
 * ```ts
 * const limiter = rateLimiter({ rate: 10, wait: false });
 * await limiter.execute(work).catch((e) => {
 *   if (e instanceof RateLimitedError) console.warn(`retry in ${e.retryAfterMs} ms`);
 * });
 * ```
 */
export class RateLimitedError extends Error {
  override readonly name = "RateLimitedError";
  /** Milliseconds until a call would be allowed (0 when it is a matter of chance, as with throttling). */
  declare readonly retryAfterMs: number;

  constructor(message: string, retryAfterMs: number) {
    super(message);
    this.retryAfterMs = retryAfterMs;
  }
}

const hasName = (error: unknown, name: string): boolean => errorName(error) === name;

/**
 * `true` for a {@link CircuitOpenError}.
 *
 * @example
 * ```ts
 * const res = await fetch(url).catch((e) => (isCircuitOpenError(e) ? cachedCopy : Promise.reject(e)));
 * ```
 */
export const isCircuitOpenError = (error: unknown): error is CircuitOpenError => hasName(error, "CircuitOpenError");
/**
 * `true` for a {@link BulkheadRejectedError}.
 *
 * @example
 * ```ts
 * if (isBulkheadRejectedError(error)) metrics.count("shed", 1, {});
 * ```
 */
export const isBulkheadRejectedError = (error: unknown): error is BulkheadRejectedError =>
  hasName(error, "BulkheadRejectedError");
/**
 * `true` for a {@link RateLimitedError}.
 *
 * @example
 * ```ts
 * if (isRateLimitedError(error)) await sleep(error.retryAfterMs);
 * ```
 */
export const isRateLimitedError = (error: unknown): error is RateLimitedError => hasName(error, "RateLimitedError");
