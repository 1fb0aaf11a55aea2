/**
 * The retry policy: run again what failed transiently, with jittered exponential backoff, bounded by a number
 * of attempts and by elapsed time, and stoppable at once by the caller's signal.
 */

import { raceAbort } from "./abort.ts";
import { backoffDelay, type ExponentialBackoffOptions, exponentialBackoff } from "./backoff.ts";
import { type Environment, resolveEnvironment } from "./environment.ts";
import type { Outcome } from "./outcome.ts";
import {
  ABORT_RACED,
  createPolicy,
  EXTERNAL_SIGNAL,
  hasExternalSignal,
  type Operation,
  type Policy,
  type PolicyContext,
} from "./policy.ts";
import { emitterOf } from "./telemetry/emit.ts";
import type { TelemetryOption } from "./telemetry/events.ts";
import { isTransientError } from "./transient.ts";
import {
  optionalFunction,
  optionError,
  requireIntegerAtLeast,
  requireKnownKeys,
  requireLimitAtLeast,
  requireOptionsObject,
} from "./validate.ts";

/** What an attempt ended with, handed to `shouldHandle` (beside its outcome) and to hooks (tenacity's `retry_state`). */
export interface RetryState<T = unknown> {
  /** The attempt that just ended: 1 for the first. */
  readonly attempt: number;
  /**
   * Milliseconds since the first attempt started, whole, as events and logs show them (a clock advanced by the
   * exact jittered sleeps would give fractions).
   */
  readonly elapsedMs: number;
  /** `true` when the attempt threw; then `error` holds what it threw, else `result` holds what it returned. */
  readonly threw: boolean;
  readonly error: unknown;
  readonly result: T | undefined;
}

/** Handed to a custom backoff function. */
export interface BackoffState<T = unknown> extends RetryState<T> {
  /** The delay chosen before the previous retry, 0 before the first retry. */
  readonly previousDelayMs: number;
}

/** The `retry` event: an attempt failed, and the next follows after a sleep of `delayMs`. */
export interface RetryEvent<T = unknown> extends RetryState<T> {
  readonly type: "retry";
  /** How long it is about to sleep, rounded to whole ms. */
  readonly delayMs: number;
}

/** Why retrying stopped while the outcome was still retryable. */
export type GiveUpReason = "attempts" | "elapsed" | "delay" | "budget";

/**
 * What `retry` needs of a retry budget (see `retryBudget`): to count each call, and to ask before each retry.
 * Shared by many calls, it caps retries at a fraction of the traffic so that an outage is not multiplied.
 */
export interface RetryBudget {
  /** Counts a call (its first attempt). */
  recordRequest(): void;
  /** Takes one retry from the budget; `false` when it is spent, and the retry is skipped. */
  tryAcquireRetry(): boolean;
}

/** The `give-up` event: the last outcome was retryable, but no further attempt is allowed. */
export interface GiveUpEvent<T = unknown> extends RetryState<T> {
  readonly type: "give-up";
  /**
   * `"attempts"`: the cap was reached; `"elapsed"`: the next delay would end past `maxElapsedMs`; `"delay"`: the
   * backoff asked for no further attempt (an infinite delay); `"budget"`: the shared retry budget is spent.
   */
  readonly reason: GiveUpReason;
}

/** Options of {@link retry}. */
export interface RetryOptions<T = unknown> {
  /** Total attempts, the first one included (≥ 1). Default 3. */
  readonly attempts?: number;
  /**
   * No attempt starts later than this many ms after the first one started: a delay that would end past it
   * ends the retrying instead. Default 60,000; `Infinity` for no time cap.
   */
  readonly maxElapsedMs?: number;
  /** Exponential backoff settings, or a function of the state that returns the delay in ms. */
  readonly backoff?: ExponentialBackoffOptions | ((state: BackoffState<T>) => number);
  /**
   * Which outcomes are worth another attempt: what an attempt threw, or returned (an HTTP 503, say). Default: an
   * error {@link isTransientError} says is transient; never a returned value. A caller's abort is never retried,
   * whatever this says.
   *
   * @example
   * ```ts
   * // Retry a 503 as well as what is transient; an error thrown after 10 s is not worth a retry.
   * retry<Response>({
   *   shouldHandle: (outcome, { elapsedMs }) =>
   *     outcome.ok ? outcome.result.status === 503 : isTransientError(outcome.error) && elapsedMs < 10_000,
   * });
   * ```
   */
  readonly shouldHandle?: (outcome: Outcome<T>, state: RetryState<T>) => boolean;
  /**
   * Listeners of its events: `retry` before each sleep (tenacity's `before_sleep`), `give-up` once when a
   * retryable outcome is final because a cap was reached. E.g. `logTo(console)`.
   */
  readonly telemetry?: TelemetryOption;
  /** A retry budget shared with other calls; when it is spent, the retry is skipped and the failure returned. */
  readonly budget?: RetryBudget;
  /** Clock, sleep and random source. Default: `Date.now`, `setTimeout`, Web Crypto. */
  readonly env?: Partial<Environment>;
}

const RETRY_KEYS = /* @__PURE__ */ Object.keys({
  attempts: true,
  maxElapsedMs: true,
  backoff: true,
  shouldHandle: true,
  telemetry: true,
  budget: true,
  env: true,
} satisfies Record<keyof RetryOptions<unknown>, true>);

/**
 * Retries an operation while it fails transiently.
 *
 * Gives up after `attempts` attempts or when the next delay would end past `maxElapsedMs`, then rethrows the
 * last error unchanged (or returns the last result). A caller's abort ends it at once with `signal.reason`,
 * even mid-sleep; an abort is never retried, nor is anything `shouldHandle` turns down.
 *
 * @example
 * ```ts
 * const policy = retry({
 *   attempts: 5,
 *   maxElapsedMs: 20_000,
 *   backoff: { initialMs: 200, maxMs: 5_000, jitter: "full" },
 *   telemetry: on("retry", ({ attempt, delayMs, error }) => console.warn(`attempt ${attempt} failed, retrying in ${delayMs} ms`, error)),
 * });
 * const data = await policy.execute(({ signal }) => fetch(url, { signal }).then((r) => r.json()));
 * ```
 */
export function retry<T = unknown>(options?: RetryOptions<T>): Policy {
  const owner = "retry";
  const o = requireOptionsObject(owner, options) as RetryOptions<T>;
  requireKnownKeys(owner, o, RETRY_KEYS);
  const env = resolveEnvironment(o.env, owner);
  const emit = emitterOf(owner, o.telemetry);
  // The user's predicate sees one outcome, built only when there is one to judge: a run with no predicate (the
  // common case) neither builds an outcome nor asks anything of a success.
  const handles = optionalFunction<NonNullable<RetryOptions<T>["shouldHandle"]>>(owner, "shouldHandle", o.shouldHandle);
  const attempts = requireIntegerAtLeast(owner, "attempts", o.attempts ?? 3, 1);
  const maxElapsedMs = requireLimitAtLeast(owner, "maxElapsedMs", o.maxElapsedMs ?? 60_000);
  const nextDelay = delayChooser(o.backoff, env, owner);
  const budget = checkBudget(owner, o.budget);
  const shouldRetry = (error: unknown, state: RetryState<T>): boolean =>
    handles ? handles({ ok: false, error }, state) : isTransientError(error);

  function run<R>(operation: Operation<R>, context: PolicyContext): Promise<R> {
    const started = env.now();
    budget?.recordRequest();
    // An enclosing timeout already rejects the moment the caller aborts, so racing the first attempt here
    // again would only cost a listener; and reading its signal would build it (see timeout.ts).
    const raced = (context as { [ABORT_RACED]?: boolean })[ABORT_RACED] === true;
    const signal = raced ? undefined : context.signal;
    if (signal?.aborted) return Promise.reject(signal.reason);
    const onError = (error: unknown): Promise<R> => retryAfter(operation, context, started, failed(1, started, error));
    let first: R | PromiseLike<R>;
    try {
      first = operation(context.attempt === 1 ? context : { signal: context.signal, attempt: 1 });
    } catch (error) {
      return onError(error);
    }
    // The common case, a first attempt that succeeds, stays off the async retry loop below.
    const pending = signal === undefined ? Promise.resolve(first) : raceAbort(first, signal);
    if (handles === undefined) return pending.then(undefined, onError);
    return pending.then((result) => {
      const state = returned(1, started, result as unknown as T);
      return handles({ ok: true, result: result as unknown as T }, state)
        ? retryAfter(operation, context, started, state)
        : result;
    }, onError);
  }

  const failed = (attempt: number, started: number, error: unknown): RetryState<T> => ({
    attempt,
    elapsedMs: Math.round(env.now() - started),
    threw: true,
    error,
    result: undefined,
  });
  const returned = (attempt: number, started: number, result: T): RetryState<T> => ({
    attempt,
    elapsedMs: Math.round(env.now() - started),
    threw: false,
    error: undefined,
    result,
  });

  /** The retry loop, entered once an attempt has failed or returned a result worth retrying. */
  async function retryAfter<R>(
    operation: Operation<R>,
    context: PolicyContext,
    started: number,
    firstOutcome: RetryState<T>,
  ): Promise<R> {
    const signal = context.signal;
    let state = firstOutcome;
    let previousDelayMs = 0;
    for (;;) {
      if (state.threw) {
        // The caller's abort wins over whatever the attempt failed with, and is never retried.
        if (signal?.aborted) throw signal.reason;
        if (!shouldRetry(state.error, state)) throw state.error;
      }
      // A result that got here was already judged worth retrying.
      const delayMs = state.attempt >= attempts ? 0 : nextDelay({ ...state, previousDelayMs });
      const reason: GiveUpReason | undefined =
        state.attempt >= attempts
          ? "attempts"
          : delayMs === Infinity
            ? "delay"
            : state.elapsedMs + delayMs > maxElapsedMs
              ? "elapsed"
              : budget !== undefined && !budget.tryAcquireRetry()
                ? "budget"
                : undefined;
      if (reason !== undefined) {
        emit?.({ type: "give-up", ...state, reason });
        if (state.threw) throw state.error;
        return state.result as unknown as R;
      }
      // Whole ms in the event, as a log line prints them: a jittered 63.948199641890824 is noise to a reader.
      emit?.({ type: "retry", ...state, delayMs: Math.round(delayMs) });
      await env.sleep(delayMs, signal);
      previousDelayMs = delayMs;
      const attempt = state.attempt + 1;
      if (signal?.aborted) throw signal.reason;
      // The marker is not enumerable, so a policy that copies the context with its own signal drops it.
      const next: PolicyContext = Object.defineProperty({ signal, attempt }, EXTERNAL_SIGNAL, {
        value: hasExternalSignal(context, signal),
      });
      try {
        const pending = operation(next);
        const result = (await (signal === undefined ? pending : raceAbort(pending, signal))) as unknown as T;
        state = returned(attempt, started, result);
        if (handles === undefined || !handles({ ok: true, result }, state)) return result as unknown as R;
      } catch (error) {
        state = failed(attempt, started, error);
      }
    }
  }

  return createPolicy(run);
}

export function checkBudget(owner: string, budget: unknown): RetryBudget | undefined {
  if (budget === undefined) return undefined;
  const b = budget as Partial<RetryBudget> | null;
  if (typeof b?.recordRequest !== "function" || typeof b.tryAcquireRetry !== "function") {
    throw optionError(
      TypeError,
      owner,
      "budget",
      "a retryBudget(…) (an object with recordRequest and tryAcquireRetry), not its options",
      budget,
    );
  }
  return budget as RetryBudget;
}

/** Turns the `backoff` option into one function of the state, checking what a custom function returns. */
export function delayChooser<T>(
  backoff: RetryOptions<T>["backoff"],
  env: Environment,
  owner: string,
): (state: BackoffState<T>) => number {
  if (typeof backoff === "function") {
    return (state) => {
      const delayMs = backoff(state);
      if (typeof delayMs !== "number" || Number.isNaN(delayMs) || delayMs < 0) {
        throw new RangeError(
          `${owner}: the backoff function returned ${String(delayMs)}; it must return a number ≥ 0`,
          {
            cause: state.error,
          },
        );
      }
      return delayMs;
    };
  }
  const settings = exponentialBackoff(backoff, `${owner}.backoff`);
  return (state) => backoffDelay(settings, state.attempt, state.previousDelayMs, env.random);
}
