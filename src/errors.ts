/**
 * The errors staunch's own policies throw when they refuse a call. Each has a stable `name` (safe to compare
 * across bundles and realms, unlike `instanceof`), a message that says what happened and to what, and a type
 * guard; all derive from {@link ExecutionRejectedError}, so "anything staunch refused" is one check.
 *
 * Fields set in a constructor are `declare`d: a plain declaration would also emit an ES2022 class field that
 * is defined as `undefined` and then assigned, which costs bytes in every bundle and changes nothing.
 */

import { errorName } from "./transient.ts";

/**
 * The brand of a refusal. A registered symbol is the same in every realm and in every copy of staunch a
 * bundle may hold, so the check holds where `instanceof` does not; and a subclass inherits it, so a new
 * policy that refuses calls is known as a refusal without a list of names to keep.
 */
const REJECTED = Symbol.for("staunch.rejected");

/**
 * The base of every refusal staunch makes locally: the operation was not run (or not run again) because a
 * policy said no — an open circuit, a full bulkhead, a rate limit. None of them says anything about the
 * dependency, so a circuit breaker does not count them (see {@link isExecutionRejectedError}). Extend it for
 * a policy of your own that refuses calls, and breakers will not count its refusals either.
 *
 * @example
 * ```ts
 * class QuotaExceededError extends ExecutionRejectedError {
 *   override readonly name = "QuotaExceededError";
 * }
 * async function data(): Promise<Response> {
 *   try {
 *     return await api("https://api.example.com/data");
 *   } catch (error) {
 *     if (isExecutionRejectedError(error)) return new Response("busy, try again", { status: 503 });
 *     throw error;
 *   }
 * }
 * ```
 */
export class ExecutionRejectedError extends Error {
  override readonly name: string = "ExecutionRejectedError";

  /** On the prototype: a getter costs no field on each error and shows in no log. */
  get [REJECTED](): true {
    return true;
  }
}

/**
 * `true` for an {@link ExecutionRejectedError}: a call staunch refused locally (a {@link CircuitOpenError},
 * {@link BulkheadRejectedError}, {@link RateLimitedError}, or a subclass of your own), from any copy of
 * staunch and any realm.
 *
 * @example
 * ```ts
 * const res = await api(url).catch((e) => (isExecutionRejectedError(e) ? new Response("busy", { status: 503 }) : Promise.reject(e)));
 * ```
 */
export const isExecutionRejectedError = (error: unknown): error is ExecutionRejectedError =>
  (error as { [REJECTED]?: unknown } | null | undefined)?.[REJECTED] === true;

/**
 * Thrown without calling the operation while a circuit breaker is open.
 *
 * @example
 * ```ts
 * async function call(): Promise<unknown> {
 *   try {
 *     return await breaker.execute(callService);
 *   } catch (error) {
 *     if (error instanceof CircuitOpenError) return { retryInMs: error.retryAfterMs };
 *     throw error;
 *   }
 * }
 * ```
 */
export class CircuitOpenError extends ExecutionRejectedError {
  override readonly name = "CircuitOpenError";
  /**
   * Milliseconds until the breaker lets a probe call through; when half-open with its probes all in use, the
   * open period, by when the probes have settled the circuit.
   */
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
 * const pool = bulkhead({ limit: 4 });
 * async function call(): Promise<unknown> {
 *   try {
 *     return await pool.execute(callService);
 *   } catch (error) {
 *     if (error instanceof BulkheadRejectedError) return new Response("busy", { status: 503 });
 *     throw error;
 *   }
 * }
 * ```
 */
export class BulkheadRejectedError extends ExecutionRejectedError {
  override readonly name = "BulkheadRejectedError";
  declare readonly limit: number;
  declare readonly queue: number;

  constructor(limit: number, queue: number, options?: ErrorOptions) {
    super(`The bulkhead is full: ${limit} calls are running and ${queue} are queued`, options);
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
 * await limiter.execute(callService).catch((e) => {
 *   if (e instanceof RateLimitedError) console.warn(`retry in ${e.retryAfterMs} ms`);
 * });
 * ```
 */
export class RateLimitedError extends ExecutionRejectedError {
  override readonly name = "RateLimitedError";
  /** Milliseconds until a call would be allowed (0 when it is a matter of chance, as with throttling). */
  declare readonly retryAfterMs: number;

  constructor(message: string, retryAfterMs: number, options?: ErrorOptions) {
    super(message, options);
    this.retryAfterMs = retryAfterMs;
  }
}

const hasName = (error: unknown, name: string): boolean => errorName(error) === name;

/**
 * `true` for a {@link CircuitOpenError}.
 *
 * @example
 * ```ts
 * const res = await api(url).catch((e) => (isCircuitOpenError(e) ? Response.json(cachedFeed ?? []) : Promise.reject(e)));
 * ```
 */
export const isCircuitOpenError = (error: unknown): error is CircuitOpenError => hasName(error, "CircuitOpenError");
/**
 * `true` for a {@link BulkheadRejectedError}.
 *
 * @example
 * ```ts
 * await api(url).catch((error) => {
 *   if (isBulkheadRejectedError(error)) metrics.count("shed", 1, {});
 *   throw error;
 * });
 * ```
 */
export const isBulkheadRejectedError = (error: unknown): error is BulkheadRejectedError =>
  hasName(error, "BulkheadRejectedError");
/**
 * `true` for a {@link RateLimitedError}.
 *
 * @example
 * ```ts
 * await api(url).catch(async (error) => {
 *   if (isRateLimitedError(error)) await new Promise((resolve) => setTimeout(resolve, error.retryAfterMs));
 * });
 * ```
 */
export const isRateLimitedError = (error: unknown): error is RateLimitedError => hasName(error, "RateLimitedError");
