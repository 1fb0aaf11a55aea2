/**
 * The floor of createLeanFetch / createFetch (issue 14): the same options, events and behaviour as
 * src/create-fetch.ts on main today — telemetry listeners, `shouldRetry(outcome, attempt)` answering a boolean,
 * a `Request`'s body kept for a retry of a request that never left, `replayStreams` and `fetchFallback` as
 * layers — with the orchestration written once by hand for the fewest bytes: one loop per call whose steps
 * (origin pause, bulkhead, attempt timeout, the attempt) are closures over the call's own variables, instead of
 * a declared list of layers and a `FetchCall` object passed through them.
 *
 * It reuses the library's leaf modules, as main's createFetch does (what is measured is the orchestration): the
 * option checks, the sending of a body (src/http/send.ts), the server-delay and origin-pause decisions, the
 * backoff chooser, the breaker, the timeout, idempotency and transient tables, and telemetry's emit; the events
 * are built here, by one function.
 *
 * A measuring stick for `npm run size`, run against main's own tests by vitest.floor.config.ts; not exported.
 */

import { raceAbort } from "../../src/abort.ts";
import type { BulkheadPolicy } from "../../src/bulkhead.ts";
import type { CreateFetchOptions, ResilientFetch } from "../../src/create-fetch.ts";
import { resolveEnvironment } from "../../src/environment.ts";
import { type CountedCall, isFetchBreaker, type OriginBreaker, perOriginBreaker } from "../../src/fetch-breaker.ts";
import { discardBody } from "../../src/http/discard-body.ts";
import type { FetchFallback } from "../../src/http/fetch-fallback.ts";
import { isIdempotentRequest } from "../../src/http/idempotency.ts";
import { learnOriginPause, originPauseWaitMs } from "../../src/http/origin-pause.ts";
import { redactUrl } from "../../src/http/redact.ts";
import { cancelUnsent } from "../../src/http/replayable-body.ts";
import type { Send, StreamReplay } from "../../src/http/send.ts";
import { decideServerDelay } from "../../src/http/server-delay.ts";
import type { FetchReporter, ReportedCall } from "../../src/http/telemetry.ts";
import type { FetchFunction, FetchGiveUpReason } from "../../src/http/types.ts";
import { KeyedRegistry } from "../../src/keyed-registry.ts";
import type { Outcome } from "../../src/outcome.ts";
import { ABORT_RACED, EXTERNAL_SIGNAL, hasExternalSignal, type PolicyContext } from "../../src/policy.ts";
import { checkBudget, delayChooser } from "../../src/retry.ts";
import { emitterOf } from "../../src/telemetry/emit.ts";
import type { TelemetryEvent } from "../../src/telemetry/events.ts";
import { timeout } from "../../src/timeout.ts";
import { errorName, isNeverSentError, isTransientError, runtimeTellsNeverSent } from "../../src/transient.ts";
import {
  optionalFunction,
  optionError,
  requireDurationMs,
  requireIntegerAtLeast,
  requireKnownKeys,
  requireLimitAtLeast,
  requireOptionsObject,
} from "../../src/validate.ts";
import { bodyStream, isRequest, originOf, replayableSend, Summary, sendAsIs } from "./send.ts";

const KEYS = [
  "fetch",
  "attempts",
  "maxElapsedMs",
  "backoff",
  "attemptTimeoutMs",
  "totalTimeoutMs",
  "retryStatuses",
  "retryNonIdempotent",
  "shouldRetry",
  "maxRetryAfterMs",
  "maxBufferedBodyBytes",
  "replayStreams",
  "breaker",
  "maxOrigins",
  "budget",
  "bulkhead",
  "fallback",
  "beforeRetry",
  "telemetry",
  "redactUrl",
  "env",
];

const UNCANCELLABLE: PolicyContext = Object.freeze({ signal: undefined, attempt: 1 });

interface OriginState {
  pausedUntilMs: number;
  readonly guard: OriginBreaker | undefined;
  readonly bulkhead: BulkheadPolicy | undefined;
}

const timeoutMs = (owner: string, name: string, value: unknown, fallback: number): number => {
  const ms = requireLimitAtLeast(owner, name, value ?? fallback);
  if (ms === 0) throw optionError(RangeError, owner, name, "a number > 0 (Infinity for none)", value);
  return ms;
};

/** createLeanFetch on the floor. */
export function floorLeanFetch(options?: CreateFetchOptions, owner = "createLeanFetch"): ResilientFetch {
  const o = requireOptionsObject(owner, options) as CreateFetchOptions;
  requireKnownKeys(owner, o, KEYS);
  const env = resolveEnvironment(o.env, owner);
  const attempts = requireIntegerAtLeast(owner, "attempts", o.attempts ?? 3, 1);
  const maxElapsedMs = requireLimitAtLeast(owner, "maxElapsedMs", o.maxElapsedMs ?? 60_000);
  const backoffMs = delayChooser<Response>(o.backoff, env, owner);
  const budget = checkBudget(owner, o.budget);
  const fetchImpl: FetchFunction = optionalFunction(owner, "fetch", o.fetch) ?? ((i, n) => globalThis.fetch(i, n));
  const attemptTimeoutMs = timeoutMs(owner, "attemptTimeoutMs", o.attemptTimeoutMs, 10_000);
  const totalTimeoutMs = timeoutMs(owner, "totalTimeoutMs", o.totalTimeoutMs, Infinity);
  const given = o.retryStatuses as unknown;
  // A string is iterable too, and "503" would be read as the statuses "5", "0" and "3".
  if (
    given !== undefined &&
    (typeof given === "string" || typeof (given as Iterable<number>)[Symbol.iterator] !== "function")
  ) {
    throw optionError(TypeError, owner, "retryStatuses", "an iterable of status codes", given);
  }
  const statuses = new Set((given as Iterable<number> | undefined) ?? [408, 429, 500, 502, 503, 504]);
  for (const status of statuses) {
    if (!Number.isInteger(status) || status < 100 || status > 599) {
      throw optionError(RangeError, owner, "retryStatuses", "status codes from 100 to 599", status);
    }
  }
  const retryNonIdempotent = o.retryNonIdempotent ?? false;
  if (typeof retryNonIdempotent !== "boolean") {
    throw optionError(TypeError, owner, "retryNonIdempotent", "a boolean", retryNonIdempotent);
  }
  const shouldRetry = optionalFunction<CreateFetchOptions["shouldRetry"]>(owner, "shouldRetry", o.shouldRetry);
  const beforeRetry = optionalFunction<CreateFetchOptions["beforeRetry"]>(owner, "beforeRetry", o.beforeRetry);
  const maxRetryAfterMs = requireDurationMs(owner, "maxRetryAfterMs", o.maxRetryAfterMs ?? 60_000);
  const maxBufferedBodyBytes = requireIntegerAtLeast(
    owner,
    "maxBufferedBodyBytes",
    o.maxBufferedBodyBytes ?? 1_048_576,
    0,
  );
  const emit = emitterOf(owner, o.telemetry);
  const redact =
    o.redactUrl === false
      ? (url: string) => url
      : (optionalFunction<(url: string) => string>(owner, "redactUrl", o.redactUrl) ?? redactUrl);
  const reporter: FetchReporter | undefined = emit && { emit, redact, now: env.now, maxAttempts: attempts };
  const replayStreams = optionalFunction<StreamReplay>(owner, "replayStreams", o.replayStreams);
  const breaker = o.breaker;
  if (breaker !== undefined && breaker !== false && !isFetchBreaker(breaker)) {
    throw optionError(TypeError, owner, "breaker", "a perOriginBreaker(…) or false", breaker);
  }
  const guardOf = breaker
    ? breaker.forClient(
        env,
        emit && ((change) => emit({ ...change, origin: change.origin ?? change.key ?? "unknown" })),
        Math.min(attemptTimeoutMs, totalTimeoutMs) / 2,
      )
    : undefined;
  const bulkhead = o.bulkhead;
  const checkBulkhead = (value: unknown): BulkheadPolicy => {
    const b = value as Partial<BulkheadPolicy> | null;
    if (typeof b?.run !== "function" || typeof b.running !== "number" || typeof b.queued !== "number") {
      throw optionError(TypeError, owner, "bulkhead", "a bulkhead(…), or a function (origin) => bulkhead(…)", value);
    }
    return value as BulkheadPolicy;
  };
  if (bulkhead !== undefined)
    checkBulkhead(typeof bulkhead === "function" ? bulkhead("https://options.check") : bulkhead);
  const fallback = o.fallback;
  if (fallback !== undefined && typeof (fallback as Partial<FetchFallback> | null)?.around !== "function") {
    throw optionError(TypeError, owner, "fallback", "a fetchFallback((failure) => Response)", fallback);
  }
  const attemptTimeout = attemptTimeoutMs < Infinity ? timeout(attemptTimeoutMs, { env }) : undefined;
  const totalTimeout = totalTimeoutMs < Infinity ? timeout(totalTimeoutMs, { env }) : undefined;
  const maxOrigins = requireIntegerAtLeast(owner, "maxOrigins", o.maxOrigins ?? 1_000, 1);
  const retries = attempts > 1;
  // Only where the runtime can tell that a request never left is a Request's body kept for that retry.
  const keepsUnsent = retries && runtimeTellsNeverSent();
  /** One of the call's events: what it ended with (a response, or what it threw) and the event's own fields. */
  const report = (call: ReportedCall, type: string, threw: boolean, outcome: unknown, fields: object): void => {
    call.redactedUrl ??= redact(call.request.url);
    (emit as NonNullable<typeof emit>)({
      type,
      method: call.request.method,
      url: call.redactedUrl,
      origin: call.origin,
      status: threw ? undefined : (outcome as Response | undefined)?.status,
      errorName: threw ? (errorName(outcome) ?? "Error") : undefined,
      error: threw ? outcome : undefined,
      ...fields,
    } as TelemetryEvent);
  };
  const timesAttempts = reporter !== undefined || (guardOf && (totalTimeout || !attemptTimeout));

  const origins = new KeyedRegistry<OriginState>(maxOrigins, (origin) => ({
    pausedUntilMs: 0,
    guard: guardOf?.(origin),
    bulkhead: bulkhead && (typeof bulkhead === "function" ? checkBulkhead(bulkhead(origin)) : bulkhead),
  }));

  async function resilientFetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response> {
    // As fetch does: `init.signal`, even null, replaces the Request's own signal (an undefined one does not).
    const callerSignal =
      (init?.signal !== undefined ? init.signal : isRequest(input) ? input.signal : undefined) ?? undefined;
    const startedMs = env.now();
    const request = new Summary(input, init);
    const origin = originOf(request.url);
    const state = origins.get(origin);
    const { guard } = state;
    const call: CountedCall & ReportedCall = { request, origin, startedMs, redactedUrl: undefined, hookFailed: false };
    const leftMs = (): number => totalTimeoutMs - (env.now() - startedMs);
    let send: Send | undefined;
    let headers: Headers | undefined;
    let answered = false;

    // One attempt: the origin's pause, the bulkhead (whose queue is outside the attempt's time), the attempt's
    // deadline, the fetch.
    const fetchOnce = async (context: PolicyContext): Promise<Response> => {
      const attemptStartedMs = timesAttempts ? env.now() : -Infinity;
      call.attemptSinceMs = attemptStartedMs;
      try {
        const response = await (send as Send).call(fetchImpl, context.signal, headers);
        if (emit) {
          report(call, "fetch-attempt", false, response, {
            attempt: context.attempt,
            durationMs: Math.round(env.now() - attemptStartedMs),
          });
        }
        call.attemptSinceMs = undefined;
        call.lastAttempt = { ok: true, result: response };
        learnOriginPause(state, response, env, maxRetryAfterMs);
        return response;
      } catch (error) {
        if (emit) {
          report(call, "fetch-attempt", true, error, {
            attempt: context.attempt,
            durationMs: Math.round(env.now() - attemptStartedMs),
          });
        }
        if (!context.signal?.aborted) {
          call.attemptSinceMs = undefined;
          call.lastAttempt = { ok: false, error };
        }
        throw error;
      }
    };
    const timed = (context: PolicyContext) =>
      attemptTimeout ? attemptTimeout.run(fetchOnce, context) : fetchOnce(context);
    const attempt = (context: PolicyContext): Promise<Response> => {
      const run = () => (state.bulkhead ? state.bulkhead.run(timed, context) : timed(context));
      if (!state.pausedUntilMs) return run();
      try {
        const waitMs = originPauseWaitMs(state, origin, env, leftMs());
        return waitMs ? env.sleep(waitMs, context.signal).then(run) : run();
      } catch (error) {
        return Promise.reject(error);
      }
    };

    const mayResend = (resends: boolean, error?: unknown): boolean =>
      (send as Send).resendable && (resends || (error !== undefined && isNeverSentError(error)));
    const decide = (outcome: Outcome<Response>, n: number, retryable: boolean): boolean => {
      if (!shouldRetry) return retryable;
      const decision = shouldRetry(outcome, { request, attempt: n, retryable });
      if (typeof decision !== "boolean") {
        throw optionError(TypeError, owner, "shouldRetry", "a function that returns a boolean", decision);
      }
      return decision;
    };
    /** Why no retry may start after `delayMs` from now, though the outcome is retryable. */
    const stopReason = (delayMs: number): FetchGiveUpReason | undefined => {
      const left = leftMs();
      return guard && /open|isolated/.test(guard.breaker.state)
        ? "circuit-open"
        : !(send as Send).resendable
          ? "body"
          : state.pausedUntilMs - env.now() >= left
            ? "retry-after"
            : delayMs < Infinity && delayMs >= left
              ? "elapsed"
              : undefined;
    };

    async function loop(resends: boolean, context: PolicyContext): Promise<Response> {
      // A half-open probe, or a client of one attempt: sent once.
      if (!retries || call.probe) return attempt(context);
      budget?.recordRequest();
      // An enclosing timeout already races the caller's abort (see src/timeout.ts): no second listener here.
      let signal = (context as { [ABORT_RACED]?: boolean })[ABORT_RACED] ? undefined : context.signal;
      if (signal?.aborted) throw signal.reason;
      let next = context;
      let previousDelayMs = 0;
      for (let n = 1; ; n++) {
        let response: Response | undefined;
        let error: unknown;
        let threw = false;
        try {
          response = await (signal ? raceAbort(attempt(next), signal) : attempt(next));
        } catch (caught) {
          threw = true;
          error = caught;
        }
        // Most results are successes: the status settles them before anything else is read.
        if (!threw && !shouldRetry && !(statuses.has((response as Response).status) && mayResend(resends))) {
          return response as Response;
        }
        signal = context.signal;
        // The caller's abort wins over whatever the attempt failed with, and is never retried.
        if (threw && signal?.aborted) throw signal.reason;
        let retryable: boolean;
        let delayMs = 0;
        let reason: FetchGiveUpReason | undefined;
        let delaySource: "backoff" | "retry-after" = "backoff";
        let elapsedMs = 0;
        try {
          retryable = threw
            ? mayResend(resends, error) && decide({ ok: false, error }, n, isTransientError(error))
            : mayResend(resends) &&
              decide({ ok: true, result: response as Response }, n, statuses.has((response as Response).status));
          if (retryable) {
            elapsedMs = env.now() - startedMs;
            if (n >= attempts) reason = "attempts";
            else {
              const now = env.now();
              const server = response
                ? decideServerDelay(response, now, leftMs(), maxRetryAfterMs, env.random, maxElapsedMs - elapsedMs)
                : ({ kind: "none" } as const);
              if (server.kind !== "none") delaySource = "retry-after";
              delayMs =
                server.kind === "none"
                  ? backoffMs({ attempt: n, elapsedMs, threw, error, result: response, previousDelayMs })
                  : server.kind === "wait"
                    ? server.delayMs
                    : Infinity;
              reason =
                stopReason(delayMs) ??
                (server.kind === "refuse"
                  ? "retry-after"
                  : elapsedMs + delayMs > maxElapsedMs
                    ? "elapsed"
                    : budget && !budget.tryAcquireRetry()
                      ? "budget"
                      : undefined);
            }
          }
        } catch (hookError) {
          // The caller's own code threw: it ends the call, and says nothing of the origin.
          if (!threw) discardBody(response);
          call.hookFailed = true;
          throw hookError;
        }
        if (!retryable) {
          if (threw) throw error;
          return response as Response;
        }
        const retryEvent = (): object => ({ attempt: n, elapsedMs: Math.round(env.now() - startedMs) });
        if (reason === undefined) {
          // An unread body holds its connection; a streamed upload still going on stops now.
          discardBody(response);
          (send as Send).stopSending?.();
          if (emit) {
            report(call, "fetch-retry", threw, threw ? error : response, {
              ...retryEvent(),
              delayMs: Math.round(delayMs),
              delaySource,
              maxAttempts: attempts,
            });
          }
          await env.sleep(delayMs, signal);
          previousDelayMs = delayMs;
          if (signal?.aborted) throw signal.reason;
          next = Object.defineProperty({ signal, attempt: n + 1 }, EXTERNAL_SIGNAL, {
            value: hasExternalSignal(context, signal),
          });
          if (beforeRetry) {
            headers ??= (send as Send).headers();
            try {
              await raceAbort(beforeRetry({ request, attempt: n + 1, response, error, headers, signal }), signal);
            } catch (hookError) {
              call.hookFailed = true;
              throw hookError;
            }
          }
          reason = stopReason(0);
          if (reason === undefined) continue;
        }
        if (emit) report(call, "fetch-give-up", threw, threw ? error : response, { ...retryEvent(), reason });
        if (threw) throw error;
        return (response as Response).bodyUsed ? new Response(null, response) : (response as Response);
      }
    }

    // The retry with its body: a request that may be sent again after it left keeps what it needs to send it
    // again (read under the caller's signal and the total deadline, like the rest of the call).
    const main = (context: PolicyContext): Promise<Response> => {
      const resends = retries && (retryNonIdempotent || isIdempotentRequest(request));
      if (!resends) {
        send = sendAsIs(input, init, keepsUnsent && !call.probe ? maxBufferedBodyBytes : undefined);
        return loop(false, context);
      }
      const ready = replayableSend(input, init, maxBufferedBodyBytes, context.signal, replayStreams);
      const go = (made: Send) => {
        send = made;
        return loop(true, context);
      };
      return "then" in ready ? ready.then(go) : go(ready);
    };
    const within = (_: unknown, context: PolicyContext) =>
      totalTimeout ? totalTimeout.run(main, context) : main(context);

    try {
      // Nothing is read or sent for a call cancelled before it starts.
      if (callerSignal?.aborted) throw callerSignal.reason;
      const top = callerSignal ? { signal: callerSignal, attempt: 1 } : UNCANCELLABLE;
      // The breaker outside the total deadline: it counts the call once, and judges an attempt a deadline cut.
      const pending = guard ? guard.run(within, top, call) : within(call, top);
      const response = await (fallback ? fallback.around(pending, callerSignal, call, statuses, reporter) : pending);
      answered = true;
      if (emit) report(call, "fetch-end", false, response, { durationMs: Math.round(env.now() - startedMs) });
      return response;
    } catch (error) {
      if (emit) report(call, "fetch-end", true, error, { durationMs: Math.round(env.now() - startedMs) });
      throw error;
    } finally {
      if (send) send.release(answered);
      else cancelUnsent(bodyStream(input, init));
    }
  }

  return Object.assign(resilientFetch, {
    origins: () =>
      Array.from(origins.entries(), ([origin, s]) => ({
        origin,
        circuit: s.guard?.breaker.state,
        circuitRetryAfterMs: s.guard?.breaker.retryAfterMs ?? 0,
        pausedForMs: Math.max(0, s.pausedUntilMs - env.now()),
      })),
    breaker: (url: string) => origins.get(originOf(url)).guard?.breaker,
  });
}

/** createFetch on the floor: the floor with the default breaker, as main's createFetch adds it. */
export function floorCreateFetch(options?: CreateFetchOptions): ResilientFetch {
  const o = requireOptionsObject("createFetch", options) as CreateFetchOptions;
  const breaker = o.breaker;
  return floorLeanFetch(
    {
      ...o,
      breaker:
        breaker === false || breaker === null || isFetchBreaker(breaker)
          ? breaker
          : perOriginBreaker(breaker, "createFetch"),
    },
    "createFetch",
  );
}
