/**
 * The fallback policy: the fail-safe default. When the operation fails, answer with a value the caller can
 * live with (a cached copy, an empty list) rather than an error — but never in place of the caller's own cancel.
 */

import { raceAbort } from "./abort.ts";
import { discardBody } from "./http/discard-body.ts";
import { createPolicy, type Operation, type Policy, type PolicyContext } from "./policy.ts";
import { emitterOf } from "./telemetry/emit.ts";
import type { TelemetryOption } from "./telemetry/events.ts";
import { optionalFunction, requireKnownKeys, requireOptionsObject } from "./validate.ts";

/**
 * What a fallback function receives besides the error: the call's signal and attempt, and the rejected result.
 *
 * @example
 * ```ts
 * fallback((error, { signal, result }) => fetch("https://mirror.example.com/items", { signal }), {
 *   shouldFallbackResult: (res: Response) => res.status === 503, // then `result` is that 503
 * });
 * ```
 */
export interface FallbackContext extends PolicyContext {
  /**
   * The result that `shouldFallbackResult` turned down, when that is why the policy fell back (its body, if it
   * is a `Response`, is already cancelled; status and headers can still be read). `undefined` after an error.
   */
  readonly result: unknown;
}

/**
 * Computes the fallback value from the failure; may be async, and may use `context.signal` for cancellable work.
 *
 * @example
 * ```ts
 * const fromCache: FallbackHandler<Response | null> = async (error, { signal }) => (await caches.match(url)) ?? null;
 * ```
 */
export type FallbackHandler<V> = (error: unknown, context: FallbackContext) => V | PromiseLike<V>;

/**
 * The `fallback` event, each time the fallback is used, before the fallback function runs.
 *
 * @example
 * ```ts
 * fallback([], { telemetry: on("fallback", ({ reason }) => console.warn(`feed degraded (${reason})`)) });
 * ```
 */
export interface FallbackEvent<R = unknown> {
  readonly type: "fallback";
  /** `"error"`: the operation threw; `"result"`: it returned something `shouldFallbackResult` turned down. */
  readonly reason: "error" | "result";
  /** What the operation threw (`undefined` when `reason` is `"result"`). */
  readonly error: unknown;
  /** The result that was turned down (`undefined` when `reason` is `"error"`). */
  readonly result: R | undefined;
}

/**
 * Options of {@link fallback}.
 *
 * @example
 * ```ts
 * class ValidationError extends Error {}
 * const options: FallbackOptions<Response> = {
 *   shouldFallback: (error) => !(error instanceof ValidationError),
 *   shouldFallbackResult: (res) => res.status >= 500,
 *   telemetry: logTo(console),
 * };
 * ```
 */
export interface FallbackOptions<R = unknown> {
  /**
   * Which errors the fallback replaces. Default: all of them. A caller's abort is never replaced, whatever this
   * returns: the call rejects with `signal.reason`.
   */
  readonly shouldFallback?: (error: unknown) => boolean;
  /**
   * Which results the fallback replaces as well (an HTTP 503, say). Default: none. A replaced `Response` has its
   * body cancelled so its connection is not left open.
   */
  readonly shouldFallbackResult?: (result: R) => boolean;
  /** Listeners of `fallback`, each time the fallback is used: count or log degraded answers (`logTo(console)`). */
  readonly telemetry?: TelemetryOption;
}

/**
 * A {@link Policy} whose `execute` and `wrap` say what they really return: the operation's value or the
 * fallback's. It still composes like any policy.
 *
 * @example
 * ```ts
 * const user = await fallback(null).execute(() => db.users.get("42")); // { id, name } | null
 * ```
 */
export type FallbackPolicy<V> = {
  /** As {@link Policy.execute}, resolving with the operation's value or the fallback's. */
  execute<T>(operation: Operation<T>, signal?: AbortSignal): Promise<T | V>;
  /** As {@link Policy.wrap}, the decorated function resolving with its value or the fallback's. */
  wrap<A extends unknown[], T>(fn: (...args: A) => T | PromiseLike<T>): (...args: A) => Promise<T | V>;
  /** As {@link Policy.run}, resolving with the operation's value or the fallback's. */
  run<T>(operation: Operation<T>, context: PolicyContext): Promise<T | V>;
} & Policy;

const FALLBACK_KEYS = Object.keys({
  shouldFallback: true,
  shouldFallbackResult: true,
  telemetry: true,
} satisfies Record<keyof FallbackOptions<unknown>, true>);

/**
 * Answers with a default when the operation fails: `value` itself, or the awaited result of
 * `handler(error, context)` when a function is given. To fall back to a function as the value, wrap it:
 * `fallback(() => noop)`.
 *
 * What it replaces: every error by default (narrow it with `shouldFallback`), and results that
 * `shouldFallbackResult` turns down. What it never replaces: the caller's abort — a user's cancel must not
 * turn into a default value — so when the call's signal has aborted, the call rejects with `signal.reason`.
 *
 * When the handler itself throws, the call rejects with the handler's error as it is, not wrapped: it is the
 * error the caller has to deal with, and its type (a `CacheMissError`, say) is worth keeping. The original
 * failure is not lost: the `fallback` event carried it to the listeners before the handler ran.
 *
 * Put it outermost, so it replaces what is left after retries and timeouts have had their go.
 *
 * @example
 * ```ts
 * const resilient = compose(
 *   fallback(() => cachedFeed ?? [], { telemetry: logTo(console) }),
 *   timeout(10_000),
 *   retry({ attempts: 3 }),
 * );
 * const prices = await resilient.execute(({ signal }) => fetch("/prices", { signal }).then((r) => r.json()));
 * ```
 *
 * @example
 * ```ts
 * // A 503 gets the placeholder too; its body is cancelled so the connection is freed.
 * const placeholder = () => new Response("[]", { headers: { "content-type": "application/json" } });
 * const policy = fallback(placeholder, { shouldFallbackResult: (res: Response) => res.status === 503 });
 * const res = await policy.execute(({ signal }) => fetch("/feed", { signal }));
 * ```
 */
export function fallback<V, R = unknown>(handler: FallbackHandler<V>, options?: FallbackOptions<R>): FallbackPolicy<V>;
export function fallback<V, R = unknown>(value: V, options?: FallbackOptions<R>): FallbackPolicy<V>;
export function fallback<V, R = unknown>(
  valueOrHandler: V | FallbackHandler<V>,
  options?: FallbackOptions<R>,
): FallbackPolicy<V> {
  const o = requireOptionsObject("fallback", options) as FallbackOptions<R>;
  requireKnownKeys("fallback", o, FALLBACK_KEYS);
  const handler: FallbackHandler<V> =
    typeof valueOrHandler === "function" ? (valueOrHandler as FallbackHandler<V>) : () => valueOrHandler;
  const shouldFallback =
    optionalFunction<(error: unknown) => boolean>("fallback", "shouldFallback", o.shouldFallback) ?? (() => true);
  const shouldFallbackResult = optionalFunction<(result: R) => boolean>(
    "fallback",
    "shouldFallbackResult",
    o.shouldFallbackResult,
  );
  const emit = emitterOf("fallback", o.telemetry);

  async function run<T>(operation: Operation<T>, context: PolicyContext): Promise<T | V> {
    const { signal } = context;
    if (signal?.aborted) throw signal.reason;
    // Only the operation is in the try: an error of shouldFallbackResult is a bug to surface, not a failure to replace.
    let result: unknown;
    let event: FallbackEvent<R> | undefined;
    try {
      result = await raceAbort(operation(context), signal);
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      if (!shouldFallback(error)) throw error;
      event = { type: "fallback", reason: "error", error, result: undefined };
    }
    if (event === undefined) {
      if (shouldFallbackResult === undefined || !shouldFallbackResult(result as R)) return result as T;
      discardBody(result);
      event = { type: "fallback", reason: "result", error: undefined, result: result as R };
    }
    emit?.(event);
    try {
      return await raceAbort(handler(event.error, { signal, attempt: context.attempt, result: event.result }), signal);
    } catch (handlerError) {
      throw signal?.aborted ? signal.reason : handlerError;
    }
  }

  // The Policy interface cannot say "T or the fallback's V"; FallbackPolicy restores that for direct callers.
  return createPolicy(run as Policy["run"]) as FallbackPolicy<V>;
}
