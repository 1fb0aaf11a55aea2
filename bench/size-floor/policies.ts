/**
 * The floor of `compose(timeout, retry, timeout)` (issue 14): a hand-written `retry` with main's options and
 * behaviour (`shouldHandle(outcome, state)`, `telemetry` listeners, whole-ms `elapsedMs`, the deadline's marks),
 * as one loop where main keeps the first attempt off the async loop. The timeout is main's own (src/timeout.ts):
 * its lazily built signal is what keeps a composed call as fast as today, and the floor does not buy bytes with
 * speed. Reuses the library's leaf modules (createPolicy, the backoff chooser, the budget check, the transient
 * table, telemetry emit, option checks).
 *
 * A measuring stick for `npm run size`, run against main's own tests by vitest.floor.config.ts; not exported.
 */

import { raceAbort } from "../../src/abort.ts";
import { resolveEnvironment } from "../../src/environment.ts";
import { ABORT_RACED, createPolicy, EXTERNAL_SIGNAL, hasExternalSignal, type Policy } from "../../src/policy.ts";
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

  return createPolicy(async (operation, context) => {
    const started = env.now();
    budget?.recordRequest();
    // Inside a deadline of the library's, which already races the caller's abort, the signal is not read
    // (reading it builds it).
    let raced = (context as { [ABORT_RACED]?: boolean })[ABORT_RACED] === true ? undefined : context.signal;
    const { signal } = context;
    if (raced?.aborted) throw raced.reason;
    let next = context.attempt === 1 ? context : { signal, attempt: 1 };
    let previousDelayMs = 0;
    for (let attempt = 1; ; attempt++) {
      let state: RetryState<T>;
      try {
        const pending = operation(next);
        const result = (await (raced ? raceAbort(pending, raced) : pending)) as T;
        if (!handles) return result as never;
        state = { attempt, elapsedMs: Math.round(env.now() - started), threw: false, error: undefined, result };
        if (!handles({ ok: true, result }, state)) return result as never;
      } catch (error) {
        // The caller's abort wins over whatever the attempt failed with, and is never retried.
        if (signal?.aborted) throw signal.reason;
        state = { attempt, elapsedMs: Math.round(env.now() - started), threw: true, error, result: undefined };
        if (!(handles ? handles({ ok: false, error }, state) : isTransientError(error))) throw error;
      }
      raced = signal;
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
        return state.result as never;
      }
      emit?.({ type: "retry", ...state, delayMs: Math.round(delayMs) });
      await env.sleep(delayMs, signal);
      previousDelayMs = delayMs;
      if (signal?.aborted) throw signal.reason;
      // The marker is not enumerable, so a policy that copies the context with its own signal drops it.
      next = Object.defineProperty({ signal, attempt: attempt + 1 }, EXTERNAL_SIGNAL, {
        value: hasExternalSignal(context, signal),
      });
    }
  });
}
