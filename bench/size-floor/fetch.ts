/**
 * The floor of createLeanFetch / createFetch (issue 14): the same options, events and behaviour as
 * src/create-fetch.ts on main today — telemetry listeners, `shouldRetry(outcome, attempt)` answering a boolean,
 * a `Request`'s body kept for a retry of a request that never left, `replayStreams` and `fetchFallback` as
 * layers — with the orchestration written once by hand for the fewest bytes: one loop per call, and its steps
 * (origin pause, bulkhead, attempt timeout, the attempt) as plain functions of the client handed the call's
 * state, instead of a declared list of layers each wrapping the next. (Closures made per call, the first
 * version, cost 4–9 % per call in memory: the floor is not to be bought with speed.)
 *
 * It reuses the library's leaf modules, as main's createFetch does (what is measured is the orchestration): the
 * option checks, the header parsers (Retry-After, the rate-limit headers), the backoff chooser, the breaker, the
 * timeout, idempotency and transient tables, the sending of a body (http/send.ts) and telemetry's emit. The
 * events, the server-delay and origin-pause decisions and the per-origin map are written here.
 *
 * A measuring stick for `npm run size`, run against main's own tests by vitest.floor.config.ts; not exported.
 */

import { raceAbort } from "../../src/abort.ts";
import type { CreateFetchOptions, ResilientFetch } from "../../src/create-fetch.ts";
import { resolveEnvironment } from "../../src/environment.ts";
import { RateLimitedError } from "../../src/errors.ts";
import { type CountedCall, isFetchBreaker, type OriginBreaker, perOriginBreaker } from "../../src/fetch-breaker.ts";
import { discardBody } from "../../src/http/discard-body.ts";
import type { FetchFallback } from "../../src/http/fetch-fallback.ts";
import { breakerLayer, bulkheadLayer, statusSet, validTimeout } from "../../src/http/fetch-options.ts";
import { isIdempotentRequest } from "../../src/http/idempotency.ts";
import { redactUrl } from "../../src/http/redact.ts";
import { serverDelayMs } from "../../src/http/retry-after.ts";
import type { Send, StreamReplay } from "../../src/http/send.ts";
import { cancelUnsentBody, isRequest, originOf, replayableSend, sendAsIs, summarize } from "../../src/http/send.ts";
import type { FetchReporter, ReportedCall } from "../../src/http/telemetry.ts";
import type { FetchFunction, FetchGiveUpReason } from "../../src/http/types.ts";
import type { Outcome } from "../../src/outcome.ts";
import { ABORT_RACED, EXTERNAL_SIGNAL, hasExternalSignal, type Policy, type PolicyContext } from "../../src/policy.ts";
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

/** One call's own state, which the client's steps share. */
interface Call extends CountedCall, ReportedCall {
  readonly input: RequestInfo | URL;
  readonly init: RequestInit | undefined;
  readonly state: OriginState;
  send: Send | undefined;
  /** The headers a `beforeRetry` changed, sent by every later attempt. */
  headers: Headers | undefined;
  /** Whether the request may be sent again after it left (idempotent, keyed, or the caller vouches for it). */
  resends: boolean;
}

interface OriginState {
  readonly origin: string;
  pausedUntilMs: number;
  readonly guard: OriginBreaker | undefined;
  readonly bulkhead: Policy | undefined;
}

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
  const attemptTimeoutMs = validTimeout(owner, "attemptTimeoutMs", o.attemptTimeoutMs, 10_000);
  const totalTimeoutMs = validTimeout(owner, "totalTimeoutMs", o.totalTimeoutMs, Infinity);
  const statuses = statusSet(owner, o.retryStatuses);
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
  const breaker = breakerLayer(owner, o.breaker);
  const guardOf = breaker
    ? breaker.forClient(
        env,
        emit && ((change) => emit({ ...change, origin: change.origin ?? change.key ?? "unknown" })),
        Math.min(attemptTimeoutMs, totalTimeoutMs) / 2,
      )
    : undefined;
  const bulkheadOf = bulkheadLayer(owner, o.bulkhead);
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

  /** Per origin, least recently used first; the last one looked up remembered (most clients call one origin). */
  const origins = new Map<string, OriginState>();
  let last: OriginState | undefined;
  const stateOf = (origin: string): OriginState => {
    if (last?.origin === origin) return last;
    let state = origins.get(origin);
    if (state) origins.delete(origin);
    else {
      state = {
        origin,
        pausedUntilMs: 0,
        guard: guardOf?.(origin),
        bulkhead: bulkheadOf?.(origin),
      };
      if (origins.size >= maxOrigins) origins.delete(origins.keys().next().value as string);
    }
    origins.set(origin, state);
    last = state;
    return state;
  };
  /** A server-asked wait, jittered up to a fifth of it (5 s at most) within `roomMs`: a fleet told one instant spreads. */
  const jittered = (askedMs: number, roomMs: number): number =>
    askedMs + env.random() * Math.min(askedMs * 0.2, 5_000, Math.max(0, roomMs));

  // One attempt: the fetch under the attempt's deadline, inside the bulkhead (whose queue is outside the
  // attempt's time), after the origin's pause.
  async function fetchOnce(call: Call, context: PolicyContext): Promise<Response> {
    const attemptStartedMs = timesAttempts ? env.now() : -Infinity;
    call.attemptSinceMs = attemptStartedMs;
    const { signal } = context;
    // As main: a cut attempt is reported when its signal aborts, once, before the retry it causes.
    let reportOnce =
      emit &&
      ((outcome: unknown, threw: boolean): void => {
        reportOnce = undefined;
        report(call, "fetch-attempt", threw, outcome, {
          attempt: context.attempt,
          durationMs: Math.round(env.now() - attemptStartedMs),
        });
      });
    const cut = (): void => reportOnce?.(signal?.reason, true);
    if (reportOnce) signal?.addEventListener("abort", cut);
    try {
      const response = await (call.send as Send).call(fetchImpl, signal, call.headers);
      reportOnce?.(response, false);
      call.attemptSinceMs = undefined;
      call.lastAttempt = { ok: true, result: response };
      // A 429 or 503 with a wait the client honours pauses the whole origin, not only this call.
      if (response.status === 429 || response.status === 503) {
        const now = env.now();
        const pauseMs = serverDelayMs(response.headers, now);
        if (pauseMs !== undefined && pauseMs <= maxRetryAfterMs) {
          call.state.pausedUntilMs = Math.max(call.state.pausedUntilMs, now + pauseMs);
        }
      }
      return response;
    } catch (error) {
      reportOnce?.(error, true);
      if (!context.signal?.aborted) {
        call.attemptSinceMs = undefined;
        call.lastAttempt = { ok: false, error };
      }
      throw error;
    } finally {
      signal?.removeEventListener("abort", cut);
    }
  }
  const timed = (call: Call, context: PolicyContext) =>
    attemptTimeout ? attemptTimeout.run((next) => fetchOnce(call, next), context) : fetchOnce(call, context);
  const inBulkhead = (call: Call, context: PolicyContext): Promise<Response> => {
    const { bulkhead } = call.state;
    return bulkhead ? bulkhead.run((next) => timed(call, next), context) : timed(call, context);
  };
  const attempt = (call: Call, context: PolicyContext): Promise<Response> => {
    const { state } = call;
    if (!state.pausedUntilMs) return inBulkhead(call, context);
    const waitMs = state.pausedUntilMs - env.now();
    if (waitMs <= 0) {
      state.pausedUntilMs = 0; // over: later calls need not read the clock
      return inBulkhead(call, context);
    }
    const left = leftMs(call);
    if (waitMs >= left) {
      return Promise.reject(
        new RateLimitedError(
          `${call.origin} asked for a pause of ${Math.ceil(waitMs)} ms more, past this call's deadline`,
          waitMs,
        ),
      );
    }
    return env.sleep(jittered(waitMs, (left - waitMs) / 2), context.signal).then(() => inBulkhead(call, context));
  };
  const leftMs = (call: Call): number => totalTimeoutMs - (env.now() - call.startedMs);
  const mayResend = (call: Call, error?: unknown): boolean =>
    (call.send as Send).resendable && (call.resends || (error !== undefined && isNeverSentError(error)));
  const decide = (call: Call, outcome: Outcome<Response>, n: number, retryable: boolean): boolean => {
    if (!shouldRetry) return retryable;
    const decision = shouldRetry(outcome, { request: call.request, attempt: n, retryable });
    if (typeof decision !== "boolean") {
      throw optionError(TypeError, owner, "shouldRetry", "a function that returns a boolean", decision);
    }
    return decision;
  };
  /** Why no retry may start after `delayMs` from now, though the outcome is retryable. */
  const stopReason = (call: Call, delayMs: number): FetchGiveUpReason | undefined => {
    const left = leftMs(call);
    const { guard } = call.state;
    return guard && /open|isolated/.test(guard.breaker.state)
      ? "circuit-open"
      : !(call.send as Send).resendable
        ? "body"
        : call.state.pausedUntilMs - env.now() >= left
          ? "retry-after"
          : delayMs < Infinity && delayMs >= left
            ? "elapsed"
            : undefined;
  };

  async function loop(call: Call, context: PolicyContext): Promise<Response> {
    // A half-open probe, or a client of one attempt: sent once.
    if (!retries || call.probe) return attempt(call, context);
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
        response = await (signal ? raceAbort(attempt(call, next), signal) : attempt(call, next));
      } catch (caught) {
        threw = true;
        error = caught;
      }
      // Most results are successes: the status settles them before anything else is read.
      if (!threw && !shouldRetry && !(statuses.has((response as Response).status) && mayResend(call))) {
        return response as Response;
      }
      signal = context.signal;
      // The caller's abort wins over whatever the attempt failed with, and is never retried.
      if (threw && signal?.aborted) throw signal.reason;
      let retryable: boolean;
      let delayMs = 0;
      let reason: FetchGiveUpReason | undefined;
      let delaySource: "backoff" | "retry-after" = "backoff";
      try {
        retryable = threw
          ? mayResend(call, error) && decide(call, { ok: false, error }, n, isTransientError(error))
          : mayResend(call) &&
            decide(call, { ok: true, result: response as Response }, n, statuses.has((response as Response).status));
        if (retryable) {
          if (n >= attempts) reason = "attempts";
          else {
            const now = env.now();
            const elapsedMs = now - call.startedMs;
            const left = leftMs(call);
            const askedMs =
              response && [413, 429, 503].includes(response.status) ? serverDelayMs(response.headers, now) : undefined;
            // An attempt that would start at the deadline could not finish before it: refused too.
            const refused = askedMs !== undefined && (askedMs > maxRetryAfterMs || askedMs >= left);
            if (askedMs !== undefined) delaySource = "retry-after";
            delayMs =
              askedMs === undefined
                ? backoffMs({ attempt: n, elapsedMs, threw, error, result: response, previousDelayMs })
                : refused
                  ? Infinity
                  : jittered(
                      askedMs,
                      Math.min(maxRetryAfterMs - askedMs, (left - askedMs) / 2, maxElapsedMs - elapsedMs - askedMs),
                    );
            reason =
              stopReason(call, delayMs) ??
              (refused
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
      const retryEvent = (): object => ({ attempt: n, elapsedMs: Math.round(env.now() - call.startedMs) });
      if (reason === undefined) {
        // An unread body holds its connection; a streamed upload still going on stops now.
        discardBody(response);
        (call.send as Send).stopSending?.();
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
          call.headers ??= (call.send as Send).headers();
          try {
            const { request, headers } = call;
            await raceAbort(beforeRetry({ request, attempt: n + 1, response, error, headers, signal }), signal);
          } catch (hookError) {
            call.hookFailed = true;
            throw hookError;
          }
        }
        reason = stopReason(call, 0);
        if (reason === undefined) continue;
      }
      if (emit) report(call, "fetch-give-up", threw, threw ? error : response, { ...retryEvent(), reason });
      if (threw) throw error;
      return (response as Response).bodyUsed ? new Response(null, response) : (response as Response);
    }
  }

  // The retry with its body: a request that may be sent again after it left keeps what it needs to send it
  // again (read under the caller's signal and the total deadline, like the rest of the call).
  const withBody = (call: Call, context: PolicyContext): Promise<Response> => {
    const { input, init } = call;
    call.resends = retries && (retryNonIdempotent || isIdempotentRequest(call.request));
    if (!call.resends) {
      call.send = sendAsIs(input, init, keepsUnsent && !call.probe ? maxBufferedBodyBytes : undefined);
      return loop(call, context);
    }
    const ready = replayableSend(input, init, maxBufferedBodyBytes, context, replayStreams);
    if (!("then" in ready)) {
      call.send = ready;
      return loop(call, context);
    }
    return ready.then((made) => {
      call.send = made;
      return loop(call, context);
    });
  };
  const within = (call: Call, context: PolicyContext) =>
    totalTimeout ? totalTimeout.run((next) => withBody(call, next), context) : withBody(call, context);

  async function resilientFetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response> {
    // As fetch does: `init.signal`, even null, replaces the Request's own signal (an undefined one does not).
    const callerSignal =
      (init?.signal !== undefined ? init.signal : isRequest(input) ? input.signal : undefined) ?? undefined;
    const startedMs = env.now();
    const request = summarize(input, init);
    const origin = originOf(request.url);
    const state = stateOf(origin);
    const call: Call = {
      input,
      init,
      request,
      origin,
      state,
      startedMs,
      redactedUrl: undefined,
      hookFailed: false,
      send: undefined,
      headers: undefined,
      resends: false,
    };
    let answered = false;
    try {
      // Nothing is read or sent for a call cancelled before it starts.
      if (callerSignal?.aborted) throw callerSignal.reason;
      const top = callerSignal ? { signal: callerSignal, attempt: 1 } : UNCANCELLABLE;
      // The breaker outside the total deadline: it counts the call once, and judges an attempt a deadline cut.
      const pending = state.guard ? state.guard.run(within, top, call) : within(call, top);
      const response = await (fallback ? fallback.around(pending, callerSignal, call, statuses, reporter) : pending);
      answered = true;
      if (emit) report(call, "fetch-end", false, response, { durationMs: Math.round(env.now() - startedMs) });
      return response;
    } catch (error) {
      if (emit) report(call, "fetch-end", true, error, { durationMs: Math.round(env.now() - startedMs) });
      throw error;
    } finally {
      if (call.send) call.send.release(answered);
      else cancelUnsentBody(input, init);
    }
  }

  return Object.assign(resilientFetch, {
    origins: () =>
      Array.from(origins, ([origin, s]) => ({
        origin,
        circuit: s.guard?.breaker.state,
        circuitRetryAfterMs: s.guard?.breaker.retryAfterMs ?? 0,
        pausedForMs: Math.max(0, s.pausedUntilMs - env.now()),
      })),
    breaker: (url: string) => stateOf(originOf(url)).guard?.breaker,
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
