/**
 * The fallback policy: the fail-safe default. When the operation fails, answer with a value the caller can
 * live with (a cached copy, an empty list) rather than an error — but never in place of the caller's own cancel.
 */

import { raceAbort } from "./abort.ts";
import { discardBody } from "./http/discard-body.ts";
import { type FallbackReason, fallbackReason, type Outcome } from "./outcome.ts";
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
 *   shouldHandle: (outcome: Outcome<Response>) => !outcome.ok || outcome.result.status === 503, // then `result` is that 503
 * });
 * ```
 */
export interface FallbackContext extends PolicyContext {
  /**
   * The result that `shouldHandle` picked, when that is why the policy fell back (its body, if it
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
  /** `"result"`: it returned something `shouldHandle` picked; else it threw (see {@link FallbackReason}). */
  readonly reason: FallbackReason;
  /** What the operation threw (`undefined` when `reason` is `"result"`). */
  readonly error: unknown;
  /** The result that was replaced (`undefined` unless `reason` is `"result"`). */
  readonly result: R | undefined;
}

/**
 * Options of {@link fallback}.
 *
 * @example
 * ```ts
 * class ValidationError extends Error {}
 * const options: FallbackOptions<Response> = {
 *   shouldHandle: (outcome) => (outcome.ok ? outcome.result.status >= 500 : !(outcome.error instanceof ValidationError)),
 *   telemetry: logTo(console),
 * };
 * ```
 */
export interface FallbackOptions<R = unknown> {
  /**
   * Which outcomes the fallback replaces: errors, and returned values as well (an HTTP 503, say). Default: every
   * error, no returned value. A replaced `Response` has its body cancelled so its connection is not left open. A
   * caller's abort is never replaced, whatever this returns: the call rejects with `signal.reason`.
   */
  readonly shouldHandle?: (outcome: Outcome<R>, context: PolicyContext) => boolean;
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

const FALLBACK_KEYS = /* @__PURE__ */ Object.keys({
  shouldHandle: true,
  telemetry: true,
} satisfies Record<keyof FallbackOptions<unknown>, true>);

/**
 * Answers with a default when the operation fails: `value` itself, or the awaited result of
 * `handler(error, context)` when a function is given. To fall back to a function as the value, wrap it:
 * `fallback(() => noop)`.
 *
 * What it replaces: every error by default, or the outcomes (errors and results) that `shouldHandle` picks.
 * What it never replaces: the caller's abort — a user's cancel must not turn into a default value — so when
 * the call's signal has aborted, the call rejects with `signal.reason`.
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
 * const policy = fallback(placeholder, {
 *   shouldHandle: (outcome: Outcome<Response>) => !outcome.ok || outcome.result.status === 503,
 * });
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
  const handles = optionalFunction<NonNullable<FallbackOptions<R>["shouldHandle"]>>(
    "fallback",
    "shouldHandle",
    o.shouldHandle,
  );
  const emit = emitterOf("fallback", o.telemetry);

  async function run<T>(operation: Operation<T>, context: PolicyContext): Promise<T | V> {
    const { signal } = context;
    if (signal?.aborted) throw signal.reason;
    // Only the operation is in the try: an error of shouldHandle is a bug to surface, not a failure to replace.
    let result: unknown;
    let outcome: Outcome<R> | undefined;
    try {
      result = await raceAbort(operation(context), signal);
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      outcome = { ok: false, error };
    }
    if (outcome === undefined) {
      // Without a predicate no result is replaced, and none is wrapped in an outcome to be asked about.
      if (handles === undefined) return result as T;
      outcome = { ok: true, result: result as R };
    }
    if (handles !== undefined && !handles(outcome, context)) {
      if (outcome.ok) return result as T;
      throw outcome.error;
    }
    if (outcome.ok) discardBody(outcome.result);
    const event: FallbackEvent<R> = outcome.ok
      ? { type: "fallback", reason: "result", error: undefined, result: outcome.result }
      : { type: "fallback", reason: fallbackReason(outcome), error: outcome.error, result: undefined };
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
