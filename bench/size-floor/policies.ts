/**
 * The floor of `compose(timeout, retry, timeout)` (issue 14): a hand-written `retry` with main's options and
 * behaviour (`shouldHandle(outcome, state)`, `telemetry` listeners, whole-ms `elapsedMs`, the deadline's marks),
 * its first attempt kept off the async loop as main keeps it (one loop for all attempts was 1.2× slower per call). The timeout is main's own (src/timeout.ts):
 * its lazily built signal is what keeps a composed call as fast as today, and the floor does not buy bytes with
 * speed. Reuses the library's leaf modules (createPolicy, the backoff chooser, the budget check, the transient
 * table, telemetry emit, option checks).
 *
 * A measuring stick for `npm run size`, run against main's own tests by vitest.floor.config.ts; not exported.
 */

import { raceAbort } from "../../src/abort.ts";
import { resolveEnvironment } from "../../src/environment.ts";
import {
  ABORT_RACED,
  createPolicy,
  EXTERNAL_SIGNAL,
  hasExternalSignal,
  type Operation,
  type Policy,
  type PolicyContext,
} from "../../src/policy.ts";
import { checkBudget, delayChooser, type GiveUpReason, type RetryOptions, type RetryState } from "../../src/retry.ts";
import { emitterOf } from "../../src/telemetry/emit.ts";
import { isTransientError } from "../../src/transient.ts";
import {
  optionalFunction,
  requireIntegerAtLeast,
  requireKnownKeys,
  requireLimitAtLeast,
  requireOptionsObject,
} from "../../src/validate.ts";

export { timeout } from "../../src/timeout.ts";

export function retry<T = unknown>(options?: RetryOptions<T>): Policy {
  const owner = "retry";
  const o = requireOptionsObject(owner, options) as RetryOptions<T>;
  requireKnownKeys(owner, o, ["attempts", "maxElapsedMs", "backoff", "shouldHandle", "telemetry", "budget", "env"]);
  const env = resolveEnvironment(o.env, owner);
  const emit = emitterOf(owner, o.telemetry);
  const handles = optionalFunction<NonNullable<RetryOptions<T>["shouldHandle"]>>(owner, "shouldHandle", o.shouldHandle);
  const attempts = requireIntegerAtLeast(owner, "attempts", o.attempts ?? 3, 1);
  const maxElapsedMs = requireLimitAtLeast(owner, "maxElapsedMs", o.maxElapsedMs ?? 60_000);
  const nextDelay = delayChooser(o.backoff, env, owner);
  const budget = checkBudget(owner, o.budget);

  const stateOf = (started: number, attempt: number, threw: boolean, error: unknown, result?: T): RetryState<T> => ({
    attempt,
    elapsedMs: Math.round(env.now() - started),
    threw,
    error,
    result,
  });
  // After an attempt that failed, or returned a result worth retrying: the loop, off the common path.
  async function after(operation: Operation<unknown>, context: PolicyContext, started: number, state: RetryState<T>) {
    const { signal } = context;
    for (let previousDelayMs = 0; ; ) {
      const { attempt } = state;
      if (state.threw) {
        // The caller's abort wins over whatever the attempt failed with, and is never retried.
        if (signal?.aborted) throw signal.reason;
        if (!(handles ? handles({ ok: false, error: state.error }, state) : isTransientError(state.error))) {
          throw state.error;
        }
      }
      const delayMs = attempt >= attempts ? 0 : nextDelay({ ...state, previousDelayMs });
      const reason: GiveUpReason | undefined =
        attempt >= attempts
          ? "attempts"
          : delayMs === Infinity
            ? "delay"
            : state.elapsedMs + delayMs > maxElapsedMs
              ? "elapsed"
              : budget && !budget.tryAcquireRetry()
                ? "budget"
                : undefined;
      if (reason) {
        emit?.({ type: "give-up", ...state, reason });
        if (state.threw) throw state.error;
        return state.result;
      }
      emit?.({ type: "retry", ...state, delayMs: Math.round(delayMs) });
      await env.sleep(delayMs, signal);
      previousDelayMs = delayMs;
      if (signal?.aborted) throw signal.reason;
      // The marker is not enumerable, so a policy that copies the context with its own signal drops it.
      const next = Object.defineProperty({ signal, attempt: attempt + 1 }, EXTERNAL_SIGNAL, {
        value: hasExternalSignal(context, signal),
      });
      try {
        const pending = operation(next);
        const result = (await (signal ? raceAbort(pending, signal) : pending)) as T;
        state = stateOf(started, attempt + 1, false, undefined, result);
        if (!handles?.({ ok: true, result }, state)) return result;
      } catch (error) {
        state = stateOf(started, attempt + 1, true, error);
      }
    }
  }

  return createPolicy(<R>(operation: Operation<R>, context: PolicyContext): Promise<R> => {
    const started = env.now();
    budget?.recordRequest();
    // Inside a deadline of the library's, which already races the caller's abort, the signal is not read
    // (reading it builds it).
    const raced = (context as { [ABORT_RACED]?: boolean })[ABORT_RACED] === true ? undefined : context.signal;
    if (raced?.aborted) return Promise.reject(raced.reason);
    const failed = (error: unknown) =>
      after(operation, context, started, stateOf(started, 1, true, error)) as Promise<R>;
    let first: R | PromiseLike<R>;
    try {
      first = operation(context.attempt === 1 ? context : { signal: context.signal, attempt: 1 });
    } catch (error) {
      return failed(error);
    }
    // The common case, a first attempt that succeeds, stays off the async loop.
    const pending = raced ? raceAbort(first, raced) : Promise.resolve(first);
    if (!handles) return pending.then(undefined, failed);
    return pending.then((result) => {
      const state = stateOf(started, 1, false, undefined, result as unknown as T);
      return handles({ ok: true, result: result as unknown as T }, state)
        ? (after(operation, context, started, state) as Promise<R>)
        : result;
    }, failed);
  });
}
