/**
 * `createFetch`: a drop-in `fetch` that retries what HTTP says may be retried, honours the server's
 * `Retry-After`, bounds every attempt and the whole call in time, never sends a non-idempotent request twice
 * unless the caller made it safe, and protects each origin with a circuit breaker and shared backpressure.
 *
 * The pipeline, per call, outermost first (FETCH_PIPELINE below; the README shows the same list, and a test
 * holds them together):
 *
 *   fallback → breaker → total timeout → retry → origin pause → bulkhead → attempt timeout → fetch
 *
 * The breaker sits outside the retry so that it counts calls, not attempts: one call's own retries cannot open
 * it, and a flaky origin whose retries succeed is not counted as failing. A call that finds the circuit open
 * fails fast; one already running when it opens sends no further retry and ends with what it last received:
 * the retry asks the circuit before each wait and again just before each retry is sent.
 *
 * Each layer is built once per client (the breaker, bulkhead and pause once per origin); a call passes only its
 * own state through them, and the retry is one loop per call (`retryLoop`) that runs the layers inside it for
 * each attempt. The breaker, the bulkhead, the fallback and stream replay are values the user passes in
 * (`perOriginBreaker(…)`, `bulkhead(…)`, `fetchFallback(…)`, `replayStreams`), so `createLeanFetch` bundles
 * none of them unless asked; `createFetch` is `createLeanFetch` with the default breaker.
 */

import { raceAbort } from "./abort.ts";
import type { ExponentialBackoffOptions } from "./backoff.ts";
import type { BulkheadPolicy } from "./bulkhead.ts";
import type { CircuitBreaker, CircuitState } from "./circuit-breaker.ts";
import { type Environment, resolveEnvironment } from "./environment.ts";
import {
  type CountedCall,
  type FetchBreaker,
  type FetchBreakerOption,
  isFetchBreaker,
  type OriginBreaker,
  perOriginBreaker,
} from "./fetch-breaker.ts";
import { discardBody } from "./http/discard-body.ts";
import type { FetchFallback } from "./http/fetch-fallback.ts";
import { breakerLayer, bulkheadLayer, statusSet, validTimeout } from "./http/fetch-options.ts";
import { isIdempotentRequest } from "./http/idempotency.ts";
import { learnOriginPause, originPauseWaitMs, type PausedOrigin } from "./http/origin-pause.ts";
import { redactUrl as defaultRedactUrl } from "./http/redact.ts";
import {
  cancelUnsentBody,
  isRequest,
  originOf,
  replayableSend,
  type Send,
  type StreamReplay,
  sendAsIs,
  summarize,
} from "./http/send.ts";
import { decideServerDelay } from "./http/server-delay.ts";
import {
  type FetchReporter,
  reportAttempt,
  reportBreakerChange,
  reportEnd,
  reportGiveUp,
  reportRetry,
} from "./http/telemetry.ts";
import type {
  DelaySource,
  FetchAttempt,
  FetchBeforeRetry,
  FetchFunction,
  FetchGiveUpReason,
  RequestSummary,
} from "./http/types.ts";
import { KeyedRegistry } from "./keyed-registry.ts";
import type { Outcome } from "./outcome.ts";
import { ABORT_RACED, EXTERNAL_SIGNAL, hasExternalSignal, type Policy, type PolicyContext } from "./policy.ts";
import { type BackoffState, checkBudget, delayChooser, type RetryBudget, type RetryState } from "./retry.ts";
import { emitterOf } from "./telemetry/emit.ts";
import type { TelemetryOption } from "./telemetry/events.ts";
import { timeout } from "./timeout.ts";
import { isNeverSentError, isTransientError, runtimeTellsNeverSent } from "./transient.ts";
import {
  optionalFunction,
  optionError,
  requireDurationMs,
  requireIntegerAtLeast,
  requireKnownKeys,
  requireLimitAtLeast,
  requireOptionsObject,
} from "./validate.ts";

export type { FetchBreaker, FetchBreakerOption, FetchBreakerOptions } from "./fetch-breaker.ts";
export { DEFAULT_RETRY_STATUSES } from "./http/fetch-options.ts";
export type {
  DelaySource,
  FetchAttempt,
  FetchAttemptEvent,
  FetchBeforeRetry,
  FetchEndEvent,
  FetchEventBase,
  FetchFallbackEvent,
  FetchFunction,
  FetchGiveUpEvent,
  FetchGiveUpReason,
  FetchRetryEvent,
  RequestSummary,
} from "./http/types.ts";

/**
 * The layers of a createFetch call, outermost first: the one list the code follows, the header above and the
 * README show.
 *
 * @example
 * ```ts
 * console.log(FETCH_PIPELINE.join(" → ")); // fallback → breaker → … → fetch
 * ```
 */
export const FETCH_PIPELINE = [
  "fallback",
  "breaker",
  "total timeout",
  "retry",
  "origin pause",
  "bulkhead",
  "attempt timeout",
  "fetch",
] as const;

export type { FetchFailure, FetchFallback } from "./http/fetch-fallback.ts";

/** One origin's shared state. */
export interface OriginStatus {
  readonly origin: string;
  /** The breaker's state, `undefined` without a breaker. */
  readonly circuit: CircuitState | undefined;
  /** Milliseconds until the breaker probes again (0 when closed). */
  readonly circuitRetryAfterMs: number;
  /** Milliseconds for which the origin's calls are paused by a server-asked delay. */
  readonly pausedForMs: number;
}

/** A resilient `fetch`, with a view of its per-origin state. */
export interface ResilientFetch extends FetchFunction {
  /** Each known origin's breaker and pause, most recently used last. */
  origins(): OriginStatus[];
  /** The breaker of one origin (created if missing), for `isolate()`, `reset()` or `toJSON()`. */
  breaker(origin: string): CircuitBreaker | undefined;
}

/** Options of {@link createFetch} and {@link createLeanFetch}. */
export interface CreateFetchOptions {
  /** The fetch to call. Default: `globalThis.fetch`, looked up at each call. */
  readonly fetch?: FetchFunction;
  /** Total attempts, the first included. Default 3. */
  readonly attempts?: number;
  /** No attempt starts later than this after the call started. Default 60,000. */
  readonly maxElapsedMs?: number;
  /** Backoff between attempts when the server does not say. Default full jitter, 100 ms doubling to 10 s. */
  readonly backoff?: ExponentialBackoffOptions | ((state: BackoffState<Response>) => number);
  /** Time limit of each attempt, until the response headers arrive; a timed-out attempt is retried. Default 10,000; `Infinity` for none. */
  readonly attemptTimeoutMs?: number;
  /** Time limit of the whole call, retries and sleeps included; ends it with a `TimeoutError`. Default `Infinity` (none). */
  readonly totalTimeoutMs?: number;
  /** Statuses worth another attempt. Default 408, 429, 500, 502, 503, 504. */
  readonly retryStatuses?: Iterable<number>;
  /**
   * Retry POST, PATCH and other non-idempotent requests without an `Idempotency-Key`. Default `false`: such a
   * request is sent again only when the runtime says it never left (a refused connection, a failed DNS lookup,
   * a TLS handshake that never completed: `isNeverSentError`), and only if its body can be sent again.
   */
  readonly retryNonIdempotent?: boolean;
  /**
   * Which outcomes of an attempt are worth another attempt, deciding instead of the defaults, which
   * `attempt.retryable` holds: return it to keep the default decision. Must return a boolean. Asked only when a
   * retry would be safe: a request that may have reached the server is sent again only if it is idempotent (or
   * `retryNonIdempotent`), and only a body that can be sent again is.
   *
   * @example
   * ```ts
   * // Also retry a 409, and never an attempt that ran out of time.
   * createFetch({
   *   shouldRetry: (outcome, { retryable }) =>
   *     outcome.ok ? retryable || outcome.result.status === 409 : retryable && !isTimeoutError(outcome.error),
   * });
   * ```
   */
  readonly shouldRetry?: (outcome: Outcome<Response>, attempt: FetchAttempt) => boolean;
  /** The longest server-asked wait (`Retry-After`…) to honour; a longer one ends the call with that response. Default 60,000. */
  readonly maxRetryAfterMs?: number;
  /**
   * The most bytes of a request body kept in memory to send it again: a `Request`'s body (read before the first
   * attempt), or with `replayStreams` a `ReadableStream` (kept while the first attempt streams it). A larger one
   * is sent once, not retried. Default 1 MiB.
   */
  readonly maxBufferedBodyBytes?: number;
  /**
   * Send a caller's `ReadableStream` body again: pass the `replayStreams` value (imported from staunch). Without
   * it, a streamed body is sent once, as the caller made it, and a request with one is not retried after it left.
   */
  readonly replayStreams?: StreamReplay;
  /**
   * The circuit breaker that guards each origin (`scheme://host:port`). It counts calls, not attempts: a call
   * counts once, with the outcome it ends with after its retries. In `createFetch`, accepts:
   * - options (or nothing): one breaker per origin with these options. Default: `circuitBreaker`'s defaults
   *   (open when half the calls of the last 5 s failed, once there were 10; probe after 10 s). A `strategy`
   *   is given as a function that makes one per origin, e.g. `() => failureRate({ windowMs: 60_000 })`;
   * - a function `(origin) => circuitBreaker(…)`: your breaker per origin, called once now to check it, then
   *   once for each new origin;
   * - a `CircuitBreaker`: that one breaker for every origin of this client (a client of one origin, or a
   *   circuit you also watch elsewhere); its `key` names it in errors;
   * - a `perOriginBreaker(…)`, the form `createLeanFetch` takes (where the default is no breaker);
   * - `false`: no breaker.
   */
  readonly breaker?: FetchBreakerOption | FetchBreaker | false;
  /** The most origins whose state (breaker, pause) is kept; the least recently used beyond it is dropped. Default 1,000. */
  readonly maxOrigins?: number;
  /** A retry budget shared with other clients and policies (see `retryBudget`). */
  readonly budget?: RetryBudget;
  /**
   * Caps the attempts in flight: a function `(origin) => bulkhead({ limit, queue })` makes one per origin
   * (called once now, to check it, then once for each new origin); a `bulkhead(…)` is one for every origin of
   * this client. Beyond it an attempt fails at once with `BulkheadRejectedError`; the wait in the queue does
   * not count against `attemptTimeoutMs`.
   */
  readonly bulkhead?: BulkheadPolicy | ((origin: string) => BulkheadPolicy);
  /**
   * The fail-safe answer when the call fails, as a layer: `fetchFallback((failure) => Response)`. It answers a
   * call that rejected (but for the caller's abort), or ended with a retryable status (whose body it cancels).
   */
  readonly fallback?: FetchFallback;
  /**
   * Called after each retry's wait, before the retry is sent, and awaited: change the request's `headers` (a
   * refreshed token, a new signature). What it throws ends the call, unretried.
   */
  readonly beforeRetry?: (retry: FetchBeforeRetry) => void | PromiseLike<void>;
  /**
   * Listeners of the client's events (`logTo(console)`, `metricsTo(sink)`, `staunchTelemetry()` from
   * `staunch/otel`, your own): `fetch-attempt` as each attempt ends, `fetch-retry` before each retry's wait,
   * `fetch-give-up` when a retryable failure is final, `fetch-fallback` when the `fallback` answers,
   * `fetch-end` as each call ends, and `circuit-state-change` (with its `origin`) on every transition of an
   * origin's breaker. None by default: a call then builds no event at all.
   */
  readonly telemetry?: TelemetryOption;
  /** How URLs appear in events and logs. Default: without query string and credentials; `false` for the full URL. */
  readonly redactUrl?: ((url: string) => string) | false;
  readonly env?: Partial<Environment>;
}

const OPTION_KEYS = /* @__PURE__ */ Object.keys({
  fetch: true,
  attempts: true,
  maxElapsedMs: true,
  backoff: true,
  attemptTimeoutMs: true,
  totalTimeoutMs: true,
  retryStatuses: true,
  retryNonIdempotent: true,
  shouldRetry: true,
  maxRetryAfterMs: true,
  maxBufferedBodyBytes: true,
  replayStreams: true,
  breaker: true,
  maxOrigins: true,
  budget: true,
  bulkhead: true,
  fallback: true,
  beforeRetry: true,
  telemetry: true,
  redactUrl: true,
  env: true,
} satisfies Record<keyof CreateFetchOptions, true>);

/** One origin's state: its breaker and bulkhead (when the client has them) and its pause. */
interface OriginState extends PausedOrigin {
  readonly guard: OriginBreaker | undefined;
  readonly bulkhead: Policy | undefined;
}

/** One call's own state: the scope its retry decisions and hooks see, and what its breaker counts it by. */
interface FetchCall extends CountedCall {
  readonly input: RequestInfo | URL;
  readonly init: RequestInit | undefined;
  readonly request: RequestSummary;
  readonly origin: string;
  readonly state: OriginState;
  readonly startedMs: number;
  /** The URL as its events show it, once one was reported. */
  redactedUrl: string | undefined;
  /** Where the delay chosen for the coming retry came from. */
  delaySource: DelaySource;
  /**
   * Why retrying stopped, when createFetch stopped it (the retry loop only sees an infinite delay or a refused
   * attempt): the circuit opened, the body can no longer be sent whole, the server's wait (or its origin's
   * pause) did not fit, or the deadline would end the wait.
   */
  stoppedBy: FetchGiveUpReason | undefined;
  /** The origin's breaker: a circuit it opens while this call runs ends the call's retrying. */
  readonly breaker: CircuitBreaker | undefined;
  /** How attempts send the request; set before the first. */
  send: Send | undefined;
  /** Whether the request may be sent again after it left (idempotent, keyed, or the caller vouches for it). */
  resendsAfterSending: boolean;
  /** The previous attempt's outcome, for `beforeRetry`. */
  previous: { readonly response: Response | undefined; readonly error: unknown } | undefined;
  /** The headers a `beforeRetry` changed, sent by every later attempt. */
  headers: Headers | undefined;
}

/** A step of the pipeline: runs one call from a layer inward. */
type Step = (call: FetchCall, context: PolicyContext) => Promise<Response>;

/** A layer of the pipeline, named as in {@link FETCH_PIPELINE}: given the step inside it, the step around it. */
interface Layer {
  readonly name: Exclude<(typeof FETCH_PIPELINE)[number], "fetch">;
  readonly around: (inner: Step) => Step;
}

/** Looked up at each call, so that a test double or a binding installed later is used. */
const globalFetch: FetchFunction = (input, init) => globalThis.fetch(input, init);

const UNCANCELLABLE: PolicyContext = Object.freeze({ signal: undefined, attempt: 1 });

const isOpen = (state: CircuitState): boolean => state === "open" || state === "isolated";

/**
 * Creates a `fetch` with retries, timeouts, `Retry-After` support and a circuit breaker per origin. Use it
 * exactly like `fetch`: it resolves with the final `Response` (a retryable status after the last attempt is
 * returned, not thrown) and rejects with the last error — or with `CircuitOpenError` while the origin's
 * circuit is open. For a smaller bundle without the breaker, see {@link createLeanFetch}.
 *
 * @example
 * ```ts
 * const fetch = createFetch({ attempts: 4, totalTimeoutMs: 20_000, telemetry: logTo(console) });
 * const res = await fetch("https://api.example.com/items", { signal });
 *
 * // As ky's transport, letting staunch do the retrying:
 * import ky from "ky";
 * const api = ky.create({ fetch: createFetch(), retry: 0 });
 * ```
 */
export function createFetch(options?: CreateFetchOptions): ResilientFetch {
  const o = requireOptionsObject("createFetch", options) as CreateFetchOptions;
  const breaker = o.breaker;
  // `null` is left to the common option check, which refuses it as it does for every option.
  const layer =
    breaker === false || breaker === null || isFetchBreaker(breaker)
      ? breaker
      : perOriginBreaker(breaker, "createFetch");
  return pipeline({ ...o, breaker: layer }, "createFetch");
}

/**
 * `createFetch` that bundles only what it is given: retries, timeouts, `Retry-After`, the origin pause and
 * body replay always; a circuit breaker only with `breaker: perOriginBreaker(…)` (no breaker by default), a
 * bulkhead only with `bulkhead`, a fallback only with `fallback: fetchFallback(…)`, the replay of a streamed
 * body only with `replayStreams`. The same options and behaviour as `createFetch` otherwise.
 *
 * @example
 * ```ts
 * // A frontend's fetch: about 3 KB less than createFetch, without the breaker.
 * const fetch = createLeanFetch({ attempts: 4, attemptTimeoutMs: 8_000 });
 * // The same, with the breaker: what createFetch() is.
 * const guarded = createLeanFetch({ breaker: perOriginBreaker() });
 * ```
 */
export function createLeanFetch(options?: CreateFetchOptions): ResilientFetch {
  return pipeline(options, "createLeanFetch");
}

function pipeline(options: CreateFetchOptions | undefined, owner: string): ResilientFetch {
  const o = requireOptionsObject(owner, options) as CreateFetchOptions;
  requireKnownKeys(owner, o, OPTION_KEYS);
  // The retry's options, checked as retry() checks them (its own loop is below).
  const env = resolveEnvironment(o.env, owner);
  const maxAttempts = requireIntegerAtLeast(owner, "attempts", o.attempts ?? 3, 1);
  const maxElapsedMs = requireLimitAtLeast(owner, "maxElapsedMs", o.maxElapsedMs ?? 60_000);
  const backoffDelayMs = delayChooser<Response>(o.backoff, env, owner);
  const budget = checkBudget(owner, o.budget);
  const fetchOverride = optionalFunction<FetchFunction>(owner, "fetch", o.fetch);
  const attemptTimeoutMs = validTimeout(owner, "attemptTimeoutMs", o.attemptTimeoutMs, 10_000);
  const totalTimeoutMs = validTimeout(owner, "totalTimeoutMs", o.totalTimeoutMs, Infinity);
  const retryStatuses = statusSet(owner, o.retryStatuses);
  const retryNonIdempotent = o.retryNonIdempotent ?? false;
  if (typeof retryNonIdempotent !== "boolean") {
    throw optionError(TypeError, owner, "retryNonIdempotent", "a boolean", retryNonIdempotent);
  }
  const customShouldRetry = optionalFunction<CreateFetchOptions["shouldRetry"]>(owner, "shouldRetry", o.shouldRetry);
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
      : (optionalFunction<(url: string) => string>(owner, "redactUrl", o.redactUrl) ?? defaultRedactUrl);
  // Without listeners there is no reporter, and every report below is skipped before anything is built.
  const reporter: FetchReporter | undefined =
    emit === undefined ? undefined : { emit, redact, now: env.now, maxAttempts };
  const replayStream = optionalFunction<StreamReplay>(owner, "replayStreams", o.replayStreams);
  const guardOf = breakerLayer(owner, o.breaker)?.forClient(
    env,
    emit === undefined ? undefined : (change) => reportBreakerChange(emit, change),
    // An attempt a deadline cuts short counts against the origin if it had at least half the time one may take.
    Math.min(attemptTimeoutMs, totalTimeoutMs) / 2,
  );
  const bulkheadOf = bulkheadLayer(owner, o.bulkhead);
  const answerFailure = o.fallback;
  if (answerFailure !== undefined && typeof (answerFailure as Partial<FetchFallback> | null)?.around !== "function") {
    throw optionError(TypeError, owner, "fallback", "a fetchFallback((failure) => Response)", answerFailure);
  }
  // Built once per client or per origin: a call only adds closures over its own state.
  const attemptTimeout = Number.isFinite(attemptTimeoutMs) ? timeout(attemptTimeoutMs, { env }) : undefined;
  const totalTimeout = Number.isFinite(totalTimeoutMs) ? timeout(totalTimeoutMs, { env }) : undefined;
  const origins = new KeyedRegistry<OriginState>(
    requireIntegerAtLeast(owner, "maxOrigins", o.maxOrigins ?? 1_000, 1),
    // Only state here, no composed policy: 10,000 origins should cost 10,000 breakers, not also their closures.
    (origin) => ({ guard: guardOf?.(origin), bulkhead: bulkheadOf?.(origin), pausedUntilMs: 0 }),
  );

  const decide = (outcome: Outcome<Response>, call: FetchCall, attempt: number, retryable: boolean): boolean => {
    if (customShouldRetry === undefined) return retryable;
    const decision = customShouldRetry(outcome, {
      request: call.request,
      attempt,
      retryable,
    });
    // `undefined` once meant "the default": a predicate written for that must fail, not silently stop retrying.
    if (typeof decision !== "boolean") {
      throw optionError(TypeError, owner, "shouldRetry", "a function that returns a boolean", decision);
    }
    return decision;
  };
  // Safety first, then the decision: a request that may have reached the server is sent again only if that is
  // safe, and only a body that can be sent again is.
  const mayResend = (call: FetchCall, error?: unknown): boolean =>
    (call.send as Send).resendable && (call.resendsAfterSending || (error !== undefined && isNeverSentError(error)));
  // Whether a response is worth another attempt; a `shouldRetry` that throws leaves nobody to read the response,
  // whose body must not hold its connection, and the breaker must not count the caller's failure.
  const shouldRetryResult = (call: FetchCall, response: Response, attempt: number): boolean => {
    if (customShouldRetry === undefined) return retryStatuses.has(response.status) && mayResend(call);
    try {
      return (
        mayResend(call) && decide({ ok: true, result: response }, call, attempt, retryStatuses.has(response.status))
      );
    } catch (error) {
      discardBody(response);
      call.hookFailed = true;
      throw error;
    }
  };
  // Why no attempt may start after a wait of `delayMs` from now, though the outcome is retryable: the call then
  // ends with that outcome.
  const stopReason = (call: FetchCall, delayMs: number): FetchGiveUpReason | undefined => {
    const now = env.now();
    const leftMs = totalTimeoutMs - (now - call.startedMs);
    // Other calls opened the circuit while this one ran: no retry into it.
    if (call.breaker !== undefined && isOpen(call.breaker.state)) return "circuit-open";
    // A streamed body the first attempt kept uploading during the wait, past the copy's limit: a retry would
    // send it without its beginning.
    if (!(call.send as Send).resendable) return "body";
    // Another call learnt a pause that ends past the deadline: the retry could only time out.
    if (call.state.pausedUntilMs - now >= leftMs) return "retry-after";
    // A wait that ends at the total deadline would be cut by it: the call would lose its answer to a
    // TimeoutError (and a rate-limiting origin be counted as failing). Like maxElapsedMs, it ends here.
    return delayMs < Infinity && delayMs >= leftMs ? "elapsed" : undefined;
  };
  // Where the wait before the next retry comes from (the server's, or the backoff's), and whether anything ends
  // the retrying first: Infinity then, with `call.stoppedBy` saying why.
  const nextDelay = (call: FetchCall, state: RetryState<Response>, previousDelayMs: number): number => {
    const now = env.now();
    const decision = state.result
      ? decideServerDelay(
          state.result,
          now,
          totalTimeoutMs - (now - call.startedMs),
          maxRetryAfterMs,
          env.random,
          maxElapsedMs - state.elapsedMs,
        )
      : ({ kind: "none" } as const);
    call.delaySource = decision.kind === "none" ? "backoff" : "retry-after";
    const delayMs =
      decision.kind === "none"
        ? backoffDelayMs({ ...state, previousDelayMs })
        : decision.kind === "wait"
          ? decision.delayMs
          : Infinity;
    call.stoppedBy = stopReason(call, delayMs) ?? (decision.kind === "refuse" ? "retry-after" : undefined);
    return call.stoppedBy === undefined ? delayMs : Infinity;
  };
  const mayRetryNow = (call: FetchCall): boolean => {
    call.stoppedBy = stopReason(call, 0);
    return call.stoppedBy === undefined;
  };
  const timesAttempts = reporter !== undefined;
  const retries = maxAttempts > 1;
  // Only where the runtime can say a request never left is a Request's body kept for that retry.
  const keepsUnsent = retries && runtimeTellsNeverSent();
  const fetchImpl = fetchOverride ?? globalFetch;

  // The pipeline, declared once per client in FETCH_PIPELINE's order, outermost first; a layer the client was
  // not given is left out. Each layer wraps the step inside it; a call passes only its own state (`FetchCall`)
  // through, and a policy that runs an operation (a timeout, the breaker, the bulkhead) gets one closure over it.
  const layers: Layer[] = [];
  if (answerFailure !== undefined) {
    layers.push({
      name: "fallback",
      around: (inner) => (call, context) =>
        answerFailure.around(inner(call, context), context.signal, call, retryStatuses, reporter),
    });
  }
  if (guardOf !== undefined) {
    // The breaker counts the call once, with the outcome it ends with, unless that is no news of the origin.
    layers.push({
      name: "breaker",
      around: (inner) => (call, context) => (call.state.guard as OriginBreaker).run(inner, context, call),
    });
  }
  if (totalTimeout !== undefined) {
    layers.push({
      name: "total timeout",
      around: (inner) => (call, context) => totalTimeout.run((next) => inner(call, next), context),
    });
  }
  layers.push({
    name: "retry",
    around: (inner) => {
      const attempts = (call: FetchCall, send: Send, context: PolicyContext): Promise<Response> => {
        call.send = send;
        return !retries || call.probe ? inner(call, context) : retryLoop(inner, call, send, context);
      };
      // A body to replay is read under the caller's signal and the total deadline, like the rest of the call.
      return (call, context) => {
        const { input, init } = call;
        call.resendsAfterSending = retries && (retryNonIdempotent || isIdempotentRequest(call.request));
        // A request sent at most once after it left goes as the caller made it, its body unread.
        // With retries, a Request's body (ky's POSTs) is kept for a retry if the request never left.
        const keepBytes = keepsUnsent && !call.probe ? maxBufferedBodyBytes : undefined;
        if (!call.resendsAfterSending) return attempts(call, sendAsIs(input, init, keepBytes), context);
        const send = replayableSend(input, init, maxBufferedBodyBytes, context, replayStream);
        return "then" in send ? send.then((ready) => attempts(call, ready, context)) : attempts(call, send, context);
      };
    },
  });
  layers.push({
    name: "origin pause",
    // Honours a pause another call learnt from this origin's Retry-After before starting the attempt.
    around: (inner) => (call, context) => {
      const { state } = call;
      if (state.pausedUntilMs === 0) return inner(call, context);
      let waitMs: number;
      try {
        waitMs = originPauseWaitMs(state, call.origin, env, totalTimeoutMs - (env.now() - call.startedMs));
      } catch (error) {
        return Promise.reject(error);
      }
      return waitMs === 0 ? inner(call, context) : env.sleep(waitMs, context.signal).then(() => inner(call, context));
    },
  });
  if (bulkheadOf !== undefined) {
    layers.push({
      name: "bulkhead",
      around: (inner) => (call, context) => (call.state.bulkhead as Policy).run((next) => inner(call, next), context),
    });
  }
  if (attemptTimeout !== undefined) {
    layers.push({
      name: "attempt timeout",
      around: (inner) => (call, context) => attemptTimeout.run((next) => inner(call, next), context),
    });
  }
  /**
   * One attempt's `fetch-attempt` event, reported once: when its signal aborts (a deadline or the caller cut it),
   * or else when fetch settles.
   */
  const watchAttempt = (
    reporter: FetchReporter,
    call: FetchCall,
    attempt: number,
    startedMs: number,
    signal: AbortSignal | undefined,
  ) => {
    let pending = true;
    const settle = (outcome: unknown, threw: boolean): void => {
      if (pending) reportAttempt(reporter, call, attempt, outcome, threw, env.now() - startedMs);
      pending = false;
    };
    const cut = (): void => settle(signal?.reason, true);
    signal?.addEventListener("abort", cut);
    return { settle, stop: () => signal?.removeEventListener("abort", cut) };
  };
  const fetchOnce: Step = async (call, context) => {
    // The breaker needs to know when an attempt a deadline cut short started: only the total deadline can cut
    // one before it had fairAttemptMs (half the shorter deadline). Under the attempt timeout alone, a cut attempt
    // had all of attemptTimeoutMs, twice that, which -Infinity says without reading the clock (~50 ns a call).
    // A listener's fetch-attempt event reads it anyway; without any deadline, fairAttemptMs is Infinity and a
    // real time never reaches it. Without a breaker, only that event needs it.
    const attemptStartedMs = timesAttempts || (guardOf && (totalTimeout || !attemptTimeout)) ? env.now() : -Infinity;
    call.attemptSinceMs = attemptStartedMs;
    const { signal } = context;
    // An attempt a deadline (or the caller) cuts is over when its signal aborts, not when fetch notices: the retry
    // decides at once, and its fetch-retry must not come before the attempt it retries. Only with listeners, and
    // without a closure here: one would cost every call a context allocation, listened to or not.
    const report = reporter && watchAttempt(reporter, call, context.attempt, attemptStartedMs, signal);
    try {
      const response = await (call.send as Send).call(fetchImpl, signal, call.headers);
      report?.settle(response, false);
      call.attemptSinceMs = undefined;
      call.lastAttempt = { ok: true, result: response };
      learnOriginPause(call.state, response, env, maxRetryAfterMs);
      return response;
    } catch (error) {
      report?.settle(error, true);
      // Cut short by a deadline or an abort: the breaker judges it by how long it had.
      if (!context.signal?.aborted) {
        call.attemptSinceMs = undefined;
        call.lastAttempt = { ok: false, error };
      }
      throw error;
    } finally {
      report?.stop();
    }
  };
  const runCall = layers.reduceRight<Step>((inner, layer) => layer.around(inner), fetchOnce);

  async function resilientFetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response> {
    // As fetch does: `init.signal`, even null, replaces the Request's own signal (an undefined one does not).
    const callerSignal =
      (init?.signal !== undefined ? init.signal : isRequest(input) ? input.signal : undefined) ?? undefined;
    const startedMs = env.now();
    const request = summarize(input, init);
    const origin = originOf(request.url);
    const state = origins.get(origin);
    const call: FetchCall = {
      input,
      init,
      request,
      origin,
      state,
      startedMs,
      redactedUrl: undefined,
      delaySource: "backoff",
      stoppedBy: undefined,
      breaker: state.guard?.breaker,
      send: undefined,
      resendsAfterSending: false,
      previous: undefined,
      headers: undefined,
      hookFailed: false,
    };
    let answered = false;
    try {
      // Nothing is read or sent for a call cancelled before it starts.
      if (callerSignal?.aborted) throw callerSignal.reason;
      const response = await runCall(
        call,
        callerSignal === undefined ? UNCANCELLABLE : { signal: callerSignal, attempt: 1 },
      );
      answered = true;
      if (reporter !== undefined) reportEnd(reporter, call, response, false);
      return response;
    } catch (error) {
      if (reporter !== undefined) reportEnd(reporter, call, error, true);
      throw error;
    } finally {
      if (call.send !== undefined) call.send.release(answered);
      else cancelUnsentBody(input, init);
    }
  }

  /**
   * The retry layer's loop, one per call: the attempts, each run through the layers inside it (`inner`), the
   * decision after each (safety, then `shouldRetry` or the defaults), the wait (the server's or the backoff's),
   * and after it `beforeRetry` and a last look at the circuit, the pause and the deadline. What the caller's own
   * code throws (`shouldRetry`, a backoff function, `beforeRetry`) ends the call and marks it for the breaker
   * not to count it.
   */
  async function retryLoop(inner: Step, call: FetchCall, send: Send, context: PolicyContext): Promise<Response> {
    budget?.recordRequest();
    // An enclosing timeout already rejects the moment the caller aborts, so racing the first attempt here again
    // would only cost a listener; and reading its signal would build it (see timeout.ts).
    let signal = (context as { [ABORT_RACED]?: boolean })[ABORT_RACED] === true ? undefined : context.signal;
    if (signal?.aborted) throw signal.reason;
    let next = context;
    let previousDelayMs = 0;
    for (let attempt = 1; ; attempt++) {
      let response: Response | undefined;
      let error: unknown;
      let threw = false;
      try {
        const pending = inner(call, next);
        response = await (signal === undefined ? pending : raceAbort(pending, signal));
      } catch (caught) {
        threw = true;
        error = caught;
      }
      // Most results are successes: the status settles them before anything else is read or built.
      if (!threw && !shouldRetryResult(call, response as Response, attempt)) return response as Response;
      // maxElapsedMs counts from the call's start, as the events' elapsedMs do.
      const state: RetryState<Response> = {
        attempt,
        elapsedMs: env.now() - call.startedMs,
        threw,
        error,
        result: response,
      };
      signal = context.signal;
      const result = response;
      // The caller's abort wins over whatever the attempt failed with, and is never retried.
      if (threw && signal?.aborted) throw signal.reason;
      let retryable = !threw;
      let delayMs = 0;
      let reason: FetchGiveUpReason | undefined;
      try {
        retryable ||= mayResend(call, error) && decide({ ok: false, error }, call, attempt, isTransientError(error));
        // Decides everything that can end the retrying before the response's body is let go, so that a call
        // that retries no more ends with its last response whole.
        if (retryable && attempt >= maxAttempts) reason = "attempts";
        else if (retryable) {
          delayMs = nextDelay(call, state, previousDelayMs);
          reason =
            delayMs === Infinity
              ? (call.stoppedBy ?? "delay")
              : state.elapsedMs + delayMs > maxElapsedMs
                ? "elapsed"
                : budget !== undefined && !budget.tryAcquireRetry()
                  ? "budget"
                  : undefined;
        }
      } catch (hookError) {
        // A backoff function that throws leaves nobody to read the response, whose body must not hold its connection.
        discardBody(result);
        call.hookFailed = true;
        throw hookError;
      }
      if (!retryable) throw error;
      if (reason === undefined) {
        // An unread body holds its connection; Workers allow six, so a retry loop must let each one go.
        discardBody(result);
        // A streamed upload the answered attempt is still sending stops now: during the wait it would read on,
        // past the copy's limit, and leave the retry nothing whole to send.
        send.stopSending?.();
        if (beforeRetry !== undefined) call.previous = { response: result, error };
        if (reporter !== undefined) reportRetry(reporter, call, state, delayMs, call.delaySource);
        await env.sleep(delayMs, signal);
        previousDelayMs = delayMs;
        if (signal?.aborted) throw signal.reason;
        // The marker is not enumerable, so a policy that copies the context with its own signal drops it.
        next = Object.defineProperty({ signal, attempt: attempt + 1 }, EXTERNAL_SIGNAL, {
          value: hasExternalSignal(context, signal),
        });
        // After the wait (and beforeRetry), the world may have changed: the circuit opened, a pause was learnt.
        // The call then ends with the outcome it had, its body already let go above.
        if (beforeRetry !== undefined) await raceAbort(runBeforeRetry(call, next), signal);
        if (mayRetryNow(call)) continue;
        reason = call.stoppedBy;
      }
      if (reporter !== undefined) reportGiveUp(reporter, call, state, reason as FetchGiveUpReason);
      if (threw) throw error;
      // A retry called off after its wait ends the call with the response before it, whose body was let go
      // before the wait: answered with its status and headers and an empty body, which reads as empty rather
      // than failing with "Body is unusable".
      return (result as Response).bodyUsed ? new Response(null, result) : (result as Response);
    }
  }

  async function runBeforeRetry(call: FetchCall, context: PolicyContext): Promise<void> {
    call.headers ??= (call.send as Send).headers();
    try {
      await (beforeRetry as NonNullable<CreateFetchOptions["beforeRetry"]>)({
        request: call.request,
        attempt: context.attempt,
        response: call.previous?.response,
        error: call.previous?.error,
        headers: call.headers,
        signal: context.signal,
      });
    } catch (error) {
      call.hookFailed = true;
      throw error;
    }
  }

  return Object.assign(resilientFetch, {
    origins: (): OriginStatus[] => {
      const now = env.now();
      return Array.from(origins.entries(), ([origin, s]) => ({
        origin,
        circuit: s.guard?.breaker.state,
        circuitRetryAfterMs: s.guard?.breaker.retryAfterMs ?? 0,
        pausedForMs: Math.max(0, s.pausedUntilMs - now),
      }));
    },
    breaker: (origin: string) => origins.get(originOf(origin)).guard?.breaker,
  });
}
