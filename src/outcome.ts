/**
 * One vocabulary for what a call ended with. Every policy that decides on outcomes (retry, the circuit breaker,
 * fallback, the adaptive throttle, the edge's stale-if-error) asks one predicate of one shape,
 * `shouldHandle(outcome, context) => boolean`, as Polly v8's `ShouldHandle` does; and every fallback says why it
 * answered with one set of reasons.
 */

import { errorName } from "./transient.ts";

/**
 * What a call ended with: a value it returned (`ok: true`) or what it threw (`ok: false`). A returned value can
 * still be a failure to a policy (an HTTP 503 is returned, not thrown): that is for its `shouldHandle` to say.
 *
 * @example
 * ```ts
 * const describe = (outcome: Outcome<Response>): string =>
 *   outcome.ok ? `status ${outcome.result.status}` : `error ${String(outcome.error)}`;
 * ```
 */
export type Outcome<T = unknown> =
  | { readonly ok: true; readonly result: T }
  | { readonly ok: false; readonly error: unknown };

/**
 * The one predicate shape of every policy that decides on outcomes: `true` when the policy should act on the
 * outcome (retry it, count it as a failure, replace it, count it as a refusal). `C` is what else the policy
 * knows at that point: the attempt and elapsed time for a retry, the call's context for the others.
 *
 * @example
 * ```ts
 * // Retry what is transient, and a 409 as well.
 * const shouldHandle: OutcomePredicate<Response, RetryState<Response>> = (outcome) =>
 *   outcome.ok ? outcome.result.status === 409 : isTransientError(outcome.error);
 * retry({ shouldHandle });
 * ```
 */
export type OutcomePredicate<T, C> = (outcome: Outcome<T>, context: C) => boolean;

/**
 * Why a fallback answered instead of the operation, the same set for `fallback`, createFetch's `fallback` and the
 * edge's stale copies: `"result"`, it returned a value its `shouldHandle` picked (a 5xx, say); else it threw:
 * `"circuit-open"` (a `CircuitOpenError`), `"timeout"` (a `TimeoutError`) or `"error"` (anything else).
 */
export type FallbackReason = "error" | "timeout" | "circuit-open" | "result";

/**
 * The {@link FallbackReason} of an outcome a fallback answers for.
 *
 * @example
 * ```ts
 * fallbackReason({ ok: false, error: new CircuitOpenError(5_000) }); // "circuit-open"
 * fallbackReason({ ok: true, result: new Response(null, { status: 503 }) }); // "result"
 * ```
 */
export function fallbackReason(outcome: Outcome): FallbackReason {
  if (outcome.ok) return "result";
  const name = errorName(outcome.error);
  return name === "CircuitOpenError" ? "circuit-open" : name === "TimeoutError" ? "timeout" : "error";
}
