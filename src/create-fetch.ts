/**
 * `createFetch`: a drop-in `fetch` that retries what HTTP says may be retried, honours the server's
 * `Retry-After`, bounds every attempt and the whole call in time, never sends a non-idempotent request twice
 * unless the caller made it safe, and protects each origin with a circuit breaker and shared backpressure.
 *
 * Per call, outermost first: fallback → breaker → total timeout → retry (with budget) → origin pause →
 * bulkhead → attempt timeout → fetch. The breaker sits outside the retry so that it counts calls, not attempts:
 * one call's own retries cannot open it, and a flaky origin whose retries succeed is not counted as failing. A
 * call that finds the circuit open fails fast; one already running when it opens sends no further retry and
 * ends with what it last received.
 */

import type { ExponentialBackoffOptions } from "./backoff.ts";
import type { BreakerStrategy } from "./breaker-strategies.ts";
import { type BulkheadOptions, type BulkheadPolicy, bulkhead } from "./bulkhead.ts";
import {
  CircuitBreaker,
  type CircuitBreakerOptions,
  type CircuitState,
  type CircuitStateChange,
  isDependencyFailure,
  watchBreaker,
} from "./circuit-breaker.ts";
import { type Environment, MAX_TIMER_DELAY_MS } from "./environment.ts";
import { RateLimitedError } from "./errors.ts";
import { type FallbackContext, fallback } from "./fallback.ts";
import type { Coordinator } from "./fleet/coordinator.ts";
import { guarded, guardedSink } from "./hooks.ts";
import { discardBody } from "./http/discard-body.ts";
import { isIdempotentRequest } from "./http/idempotency.ts";
import { redactUrl as defaultRedactUrl } from "./http/redact.ts";
import { isRequest, originOf, replayableSend, type Send, sendAsIs, summarize } from "./http/send.ts";
import { decideServerDelay, jitteredServerDelayMs, ORIGIN_PAUSE_STATUSES, originPauseMs } from "./http/server-delay.ts";
import {
  type CallTelemetry,
  callTelemetry,
  type Observers,
  reportBreakerChange,
  reportFallback,
} from "./http/telemetry.ts";
import type {
  DelaySource,
  FetchAttempt,
  FetchBeforeRetry,
  FetchFallbackEvent,
  FetchFunction,
  FetchGiveUpEvent,
  FetchRetryEvent,
  Logger,
  MetricsSink,
  RequestSummary,
} from "./http/types.ts";
import { KeyedRegistry } from "./keyed-registry.ts";
import type { Policy, PolicyContext } from "./policy.ts";
import { type BackoffState, type RetryBudget, retryRunner, retrySettings } from "./retry.ts";
import { timeout } from "./timeout.ts";
import { isNeverSentError, isTransientError } from "./transient.ts";
import {
  optionalFunction,
  optionalSink,
  optionError,
  requireFiniteAtLeast,
  requireIntegerAtLeast,
  requireKnownKeys,
  requireLimitAtLeast,
  requireOptionsObject,
} from "./validate.ts";

export type {
  DelaySource,
  FetchAttempt,
  FetchBeforeRetry,
  FetchEventBase,
  FetchFallbackEvent,
  FetchFunction,
  FetchGiveUpEvent,
  FetchGiveUpReason,
  FetchRetryEvent,
  Logger,
  MetricsSink,
  RequestSummary,
} from "./http/types.ts";

/** Circuit breaker options for createFetch: as `circuitBreaker`'s, with a strategy factory (one per origin). */
export interface FetchBreakerOptions
  extends Omit<CircuitBreakerOptions, "strategy" | "key" | "env" | "snapshot" | "shared"> {
  /** Makes each origin's strategy (one per origin). Default `() => defaultBreakerStrategy()`. */
  readonly strategy?: () => BreakerStrategy;
  /**
   * Shares each origin's circuit with other isolates: a `coordinator(…)`, asked for one link per origin.
   * Default: each breaker's own memory.
   */
  readonly shared?: Pick<Coordinator, "circuit">;
}

/** What a createFetch `fallback` receives. */
export interface FetchFailure {
  readonly request: RequestSummary;
  /** What the call threw, or `undefined` when it ended with a retryable status. */
  readonly error: unknown;
  /** The last response, when the call ended with a retryable status (body already cancelled). */
  readonly response: Response | undefined;
}

/** One origin's shared state. */
export interface OriginStatus {
  readonly origin: string;
  /** The breaker's state, `undefined` with `breaker: false`. */
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

/** Options of {@link createFetch}. */
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
  /** Decides instead of the defaults; return `undefined` to keep the default decision for this attempt. */
  readonly shouldRetry?: (attempt: FetchAttempt) => boolean | undefined;
  /** The longest server-asked wait (`Retry-After`…) to honour; a longer one ends the call with that response. Default 60,000. */
  readonly maxRetryAfterMs?: number;
  /**
   * The most bytes of a request body kept in memory to send it again: a `ReadableStream` (kept while the first
   * attempt streams it) or a `Request`'s body (read before the first attempt). A larger one is sent once, not
   * retried. Default 1 MiB.
   */
  readonly maxBufferedBodyBytes?: number;
  /**
   * The circuit breaker that guards each origin (`scheme://host:port`). It counts calls, not attempts: a call
   * counts once, with the outcome it ends with after its retries. Accepts:
   * - options (or nothing): one breaker per origin with these options. Default: `circuitBreaker`'s defaults
   *   (open when half the calls of the last 5 s failed, once there were 10; probe after 10 s). A `strategy`
   *   is given as a function that makes one per origin, e.g. `() => failureRate({ windowMs: 60_000 })`;
   * - a function `(origin) => circuitBreaker(…)`: your breaker per origin, called once for each new origin;
   * - a `CircuitBreaker`: that one breaker for every origin of this client (a client of one origin, or a
   *   circuit you also watch elsewhere); its `key` names it in errors;
   * - `false`: no breaker.
   */
  readonly breaker?: FetchBreakerOptions | ((origin: string) => CircuitBreaker) | CircuitBreaker | false;
  /** The most origins whose state (breaker, pause) is kept; the least recently used beyond it is dropped. Default 1,000. */
  readonly maxOrigins?: number;
  /** A retry budget shared with other clients and policies (see `retryBudget`). */
  readonly budget?: RetryBudget;
  /**
   * At most `limit` attempts in flight per origin, `queue` more waiting; beyond that an attempt fails at once
   * with `BulkheadRejectedError`. The wait in the queue does not count against `attemptTimeoutMs`. A
   * `bulkhead(…)` instead of options is one bulkhead for every origin of this client (a cap on the client's
   * attempts in flight, whatever the origin).
   */
  readonly bulkhead?: BulkheadOptions | BulkheadPolicy;
  /**
   * The fail-safe answer when the call fails: it rejected (but for the caller's abort), or ended with a
   * retryable status. Its `response`, when there is one, has its body cancelled already.
   */
  readonly fallback?: (failure: FetchFailure) => Response | PromiseLike<Response>;
  /**
   * Called after each retry's wait, before the retry is sent, and awaited: change the request's `headers` (a
   * refreshed token, a new signature). What it throws ends the call, unretried.
   */
  readonly beforeRetry?: (retry: FetchBeforeRetry) => void | PromiseLike<void>;
  /** Called before each retry's wait. */
  readonly onRetry?: (event: FetchRetryEvent) => void;
  /** Called once when a call ends on a retryable failure that no further attempt is allowed for. */
  readonly onGiveUp?: (event: FetchGiveUpEvent) => void;
  /** Called on every transition of an origin's breaker. */
  readonly onBreakerStateChange?: (change: CircuitStateChange) => void;
  /** Called each time the `fallback` answers instead of the origin. */
  readonly onFallback?: (event: FetchFallbackEvent) => void;
  /** Logs each retry (`warn`) and each give-up (`error`). */
  readonly logger?: Logger;
  readonly metrics?: MetricsSink;
  /** How URLs appear in events and logs. Default: without query string and credentials; `false` for the full URL. */
  readonly redactUrl?: ((url: string) => string) | false;
  readonly env?: Partial<Environment>;
}

const OPTION_KEYS = Object.keys({
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
  breaker: true,
  maxOrigins: true,
  budget: true,
  bulkhead: true,
  fallback: true,
  beforeRetry: true,
  onRetry: true,
  onGiveUp: true,
  onBreakerStateChange: true,
  onFallback: true,
  logger: true,
  metrics: true,
  redactUrl: true,
  env: true,
} satisfies Record<keyof CreateFetchOptions, true>);

const BREAKER_KEYS = Object.keys({
  strategy: true,
  halfOpenAfterMs: true,
  halfOpenProbes: true,
  isFailure: true,
  isFailureResult: true,
  onStateChange: true,
  shared: true,
} satisfies Record<keyof FetchBreakerOptions, true>);

/**
 * The statuses retried by default: a timeout, rate limiting and the gateway/overload 5xx family.
 *
 * @example
 * ```ts
 * createFetch({ retryStatuses: [...DEFAULT_RETRY_STATUSES, 409] });
 * ```
 */
export const DEFAULT_RETRY_STATUSES: readonly number[] = [408, 429, 500, 502, 503, 504];

interface OriginState {
  readonly breaker: CircuitBreaker | undefined;
  /** The `online` events this origin's breaker has been told of (see {@link onlineEvents}). */
  onlineSeen: number;
  readonly bulkhead: Policy | undefined;
  /** Epoch ms before which no attempt to this origin starts; 0 when not paused. */
  pausedUntilMs: number;
}

/** One call's own state: the scope its retry decisions and hooks see. */
interface FetchCall {
  readonly request: RequestSummary;
  readonly startedMs: number;
  readonly telemetry: CallTelemetry;
  /** Where the delay chosen for the coming retry came from. */
  delaySource: DelaySource;
  /** Whether the last delay decision refused a server-asked wait. */
  refusedServerDelay: boolean;
  /** The origin's breaker: a circuit it opens while this call runs ends the call's retrying. */
  readonly breaker: CircuitBreaker | undefined;
  /** Whether retrying stopped because the circuit opened. */
  circuitOpened: boolean;
  /** How attempts send the request; set before the first. */
  send: Send | undefined;
  /** Whether the request may be sent again after it left (idempotent, keyed, or the caller vouches for it). */
  resendsAfterSending: boolean;
  /** The previous attempt's outcome, for `beforeRetry`. */
  previous: { readonly response: Response | undefined; readonly error: unknown } | undefined;
  /** The headers a `beforeRetry` changed, sent by every later attempt. */
  headers: Headers | undefined;
  /** Set when `beforeRetry` threw: that error ends the call. */
  hookFailed: boolean;
}

/** Looked up at each call, so that a test double or a binding installed later is used. */
const globalFetch: FetchFunction = (input, init) => globalThis.fetch(input, init);

const UNCANCELLABLE: PolicyContext = Object.freeze({ signal: undefined, attempt: 1 });

/**
 * `true` where the runtime knows it has no network at all (a browser's `navigator.onLine`); never elsewhere.
 * Failures then are the device's, not the origin's: they must not open its circuit, nor hide the network
 * error a page shows as "you are offline" behind a `CircuitOpenError`.
 */
const isOffline = (): boolean => (globalThis as { navigator?: { onLine?: unknown } }).navigator?.onLine === false;

/**
 * `online` events seen since the first createFetch. An origin whose breaker has seen fewer lets its open
 * circuit probe at once: the failures that opened it may have been the network's. A count read at each call,
 * not a listener per client, so that a client dropped is collected.
 */
let onlineEvents = 0;
let listeningForOnline = false;

function listenForOnline(): void {
  if (listeningForOnline) return;
  listeningForOnline = true;
  const g = globalThis as {
    navigator?: { onLine?: unknown };
    addEventListener?: (type: string, listener: () => void) => void;
  };
  if (typeof g.navigator?.onLine === "boolean" && typeof g.addEventListener === "function") {
    g.addEventListener("online", () => {
      onlineEvents++;
    });
  }
}

/**
 * What `beforeRetry` threw: the caller's own failure (a token that could not be refreshed), which ends the call
 * but says nothing of the origin, so the breakers built here do not count it. Weak: an error is kept no longer
 * than the caller keeps it.
 */
const thrownByHook = new WeakSet<object>();

const isOpen = (state: CircuitState): boolean => state === "open" || state === "isolated";

/**
 * A call refused before its body was looked at (an open circuit, an abort before it started) still holds the
 * caller's stream (in a Worker, the incoming request's body): let it go.
 */
function cancelUnsentBody(input: RequestInfo | URL, init: RequestInit | undefined): void {
  const body = init?.body ?? (isRequest(input) ? input.body : null);
  if (typeof ReadableStream === "undefined" || !(body instanceof ReadableStream) || body.locked) return;
  void body.cancel(new DOMException("No attempt sent the request body", "AbortError")).catch(() => {});
}

/**
 * Creates a `fetch` with retries, timeouts, `Retry-After` support and a circuit breaker per origin. Use it
 * exactly like `fetch`: it resolves with the final `Response` (a retryable status after the last attempt is
 * returned, not thrown) and rejects with the last error — or with `CircuitOpenError` while the origin's
 * circuit is open.
 *
 * @example
 * ```ts
 * const fetch = createFetch({ attempts: 4, totalTimeoutMs: 20_000, logger: console });
 * const res = await fetch("https://api.example.com/items", { signal });
 *
 * // As ky's transport, letting staunch do the retrying:
 * const api = ky.create({ fetch: createFetch(), retry: 0 });
 * ```
 */
export function createFetch(options?: CreateFetchOptions): ResilientFetch {
  const owner = "createFetch";
  const o = requireOptionsObject(owner, options) as CreateFetchOptions;
  requireKnownKeys(owner, o, OPTION_KEYS);
  const base = retrySettings<Response>(
    { attempts: o.attempts, maxElapsedMs: o.maxElapsedMs, backoff: o.backoff, budget: o.budget, env: o.env },
    owner,
  );
  const env = base.env;
  const fetchOverride = optionalFunction<FetchFunction>(owner, "fetch", o.fetch);
  const attemptTimeoutMs = validTimeout("attemptTimeoutMs", o.attemptTimeoutMs, 10_000);
  const totalTimeoutMs = validTimeout("totalTimeoutMs", o.totalTimeoutMs, Infinity);
  const retryStatuses = statusSet(o.retryStatuses);
  const retryNonIdempotent = o.retryNonIdempotent ?? false;
  if (typeof retryNonIdempotent !== "boolean") {
    throw optionError(TypeError, owner, "retryNonIdempotent", "a boolean", retryNonIdempotent);
  }
  const customShouldRetry = optionalFunction<CreateFetchOptions["shouldRetry"]>(owner, "shouldRetry", o.shouldRetry);
  const beforeRetry = optionalFunction<CreateFetchOptions["beforeRetry"]>(owner, "beforeRetry", o.beforeRetry);
  const maxRetryAfterMs = requireFiniteAtLeast(owner, "maxRetryAfterMs", o.maxRetryAfterMs ?? 60_000);
  if (maxRetryAfterMs > MAX_TIMER_DELAY_MS) {
    throw optionError(RangeError, owner, "maxRetryAfterMs", `at most ${MAX_TIMER_DELAY_MS} (2^31−1)`, maxRetryAfterMs);
  }
  const maxBufferedBodyBytes = requireIntegerAtLeast(
    owner,
    "maxBufferedBodyBytes",
    o.maxBufferedBodyBytes ?? 1_048_576,
    0,
  );
  const observers: Observers = {
    onRetry: guarded(optionalFunction<Observers["onRetry"]>(owner, "onRetry", o.onRetry)),
    onGiveUp: guarded(optionalFunction<Observers["onGiveUp"]>(owner, "onGiveUp", o.onGiveUp)),
    onBreakerStateChange: guarded(
      optionalFunction<Observers["onBreakerStateChange"]>(owner, "onBreakerStateChange", o.onBreakerStateChange),
    ),
    onFallback: guarded(optionalFunction<Observers["onFallback"]>(owner, "onFallback", o.onFallback)),
    logger: guardedSink(optionalSink<Logger>(owner, "logger", o.logger, ["warn", "error"]), ["warn", "error"]),
    metrics: guardedSink(optionalSink<MetricsSink>(owner, "metrics", o.metrics, ["count", "timing"]), [
      "count",
      "timing",
    ]),
    redact:
      o.redactUrl === false
        ? (url: string) => url
        : (optionalFunction<(url: string) => string>(owner, "redactUrl", o.redactUrl) ?? defaultRedactUrl),
    attempts: base.attempts,
  };
  const makeBreaker = breakerFactory(o.breaker, env, observers);
  if (makeBreaker !== undefined) listenForOnline();
  const makeBulkhead = bulkheadFactory(o.bulkhead);
  const fallbackPolicy = fallbackLayer(o.fallback, retryStatuses, observers);
  // Built once per client or per origin: a call only adds closures over its own state.
  const attemptTimeout = Number.isFinite(attemptTimeoutMs) ? timeout(attemptTimeoutMs, { env }) : undefined;
  const totalTimeout = Number.isFinite(totalTimeoutMs) ? timeout(totalTimeoutMs, { env }) : undefined;
  const origins = new KeyedRegistry<OriginState>(
    requireIntegerAtLeast(owner, "maxOrigins", o.maxOrigins ?? 1_000, 1),
    // Only state here, no composed policy: 10,000 origins should cost 10,000 breakers, not also their closures.
    (origin) => ({
      breaker: makeBreaker?.(origin),
      onlineSeen: onlineEvents,
      bulkhead: makeBulkhead?.(),
      pausedUntilMs: 0,
    }),
  );

  const decide = (attempt: FetchAttempt, byDefault: boolean): boolean => customShouldRetry?.(attempt) ?? byDefault;
  // Safety first, then the decision: a request that may have reached the server is sent again only if that is
  // safe, and only a body that can be sent again is.
  const mayResend = (call: FetchCall, error?: unknown): boolean =>
    (call.send as Send).resendable && (call.resendsAfterSending || (error !== undefined && isNeverSentError(error)));
  const runRetry = retryRunner<Response, FetchCall>({
    ...base,
    shouldRetry: (error, s, call) =>
      !call.hookFailed &&
      mayResend(call, error) &&
      decide({ request: call.request, response: undefined, error, attempt: s.attempt }, isTransientError(error)),
    // Most results are successes: the status settles them before anything else is asked.
    shouldRetryResult: (response, s, call) =>
      customShouldRetry === undefined
        ? retryStatuses.has(response.status) && mayResend(call)
        : mayResend(call) &&
          decide(
            { request: call.request, response, error: undefined, attempt: s.attempt },
            retryStatuses.has(response.status),
          ),
    nextDelay: (s, call) => {
      // Other calls opened the circuit while this one ran: no retry into it, and the call keeps its answer.
      if (call.breaker !== undefined && isOpen(call.breaker.state)) {
        call.circuitOpened = true;
        return Infinity;
      }
      const now = env.now();
      const decision = s.result
        ? decideServerDelay(s.result, now, totalTimeoutMs - (now - call.startedMs), maxRetryAfterMs, env.random)
        : ({ kind: "none" } as const);
      call.delaySource = decision.kind === "none" ? "backoff" : "retry-after";
      call.refusedServerDelay = decision.kind === "refuse";
      if (decision.kind === "none") return base.nextDelay(s, undefined);
      return decision.kind === "wait" ? decision.delayMs : Infinity;
    },
    onRetry: (event, call) => {
      // An unread body holds its connection; Workers allow six, so a retry loop must let each one go.
      discardBody(event.result);
      if (beforeRetry !== undefined) call.previous = { response: event.result, error: event.error };
      call.telemetry.retry(event, event.delayMs, call.delaySource);
    },
    onGiveUp: (event, call) =>
      call.telemetry.giveUp(
        event,
        event.reason !== "delay"
          ? event.reason
          : call.circuitOpened
            ? "circuit-open"
            : call.refusedServerDelay
              ? "retry-after"
              : event.reason,
      ),
  });
  const timesAttempts = observers.metrics !== undefined;
  const retries = base.attempts > 1;

  async function resilientFetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response> {
    // As fetch does: `init.signal`, even null, replaces the Request's own signal (an undefined one does not).
    const callerSignal =
      (init?.signal !== undefined ? init.signal : isRequest(input) ? input.signal : undefined) ?? undefined;
    const startedMs = env.now();
    const request = summarize(input, init);
    const origin = originOf(request.url);
    const state = origins.get(origin);
    const telemetry = callTelemetry(observers, request, origin, startedMs, env.now);
    const { breaker, bulkhead: originBulkhead } = state;
    const call: FetchCall = {
      request,
      startedMs,
      telemetry,
      delaySource: "backoff",
      refusedServerDelay: false,
      breaker,
      circuitOpened: false,
      send: undefined,
      resendsAfterSending: false,
      previous: undefined,
      headers: undefined,
      hookFailed: false,
    };
    const fetchImpl = fetchOverride ?? globalFetch;

    const attemptOnce = async (context: PolicyContext): Promise<Response> => {
      // The clock is read only for the metric that needs it.
      const attemptStartedMs = timesAttempts ? env.now() : 0;
      try {
        const response = await (call.send as Send).call(fetchImpl, context.signal, call.headers);
        if (timesAttempts) telemetry.attempt(response, false, env.now() - attemptStartedMs);
        if (ORIGIN_PAUSE_STATUSES.has(response.status)) pauseOrigin(state, response);
        return response;
      } catch (error) {
        if (timesAttempts) telemetry.attempt(error, true, env.now() - attemptStartedMs);
        throw error;
      }
    };
    // bulkhead → attempt timeout → fetch, composed by hand: `compose` would build a policy per call.
    const timedAttempt =
      attemptTimeout === undefined ? attemptOnce : (context: PolicyContext) => attemptTimeout.run(attemptOnce, context);
    const guardedAttempt =
      originBulkhead === undefined
        ? timedAttempt
        : (context: PolicyContext) => originBulkhead.run(timedAttempt, context);
    // Honours a pause another call learnt from this origin's Retry-After before starting the attempt.
    const gatedAttempt = (context: PolicyContext): Promise<Response> => {
      if (state.pausedUntilMs === 0) return guardedAttempt(context);
      const now = env.now();
      const waitMs = state.pausedUntilMs - now;
      if (waitMs <= 0) {
        state.pausedUntilMs = 0; // over: later calls need not read the clock
        return guardedAttempt(context);
      }
      // Waiting out a pause that ends past this call's deadline would only end in a timeout: say so now.
      if (waitMs >= totalTimeoutMs - (now - startedMs)) {
        const message = `${origin} asked for a pause of ${Math.ceil(waitMs)} ms more, past this call's deadline`;
        return Promise.reject(new RateLimitedError(message, waitMs));
      }
      // Every call waiting on the pause would wake at the same instant: each adds its own jitter.
      const jitteredMs = jitteredServerDelayMs(waitMs, env.random, (totalTimeoutMs - (now - startedMs) - waitMs) / 2);
      return env.sleep(jitteredMs, context.signal).then(() => guardedAttempt(context));
    };
    const attempts = (send: Send, context: PolicyContext): Promise<Response> => {
      call.send = send;
      if (!retries) return gatedAttempt(context);
      if (beforeRetry === undefined) return runRetry(gatedAttempt, context, call);
      // Outside the breaker: a hook's failure says nothing about the origin.
      const hookedAttempt = (next: PolicyContext): Promise<Response> =>
        next.attempt === 1 ? gatedAttempt(next) : runBeforeRetry(call, next).then(() => gatedAttempt(next));
      return runRetry(hookedAttempt, context, call);
    };
    // A body to replay is read under the caller's signal and the total deadline, like the rest of the call.
    const run = (context: PolicyContext): Promise<Response> => {
      call.resendsAfterSending = retries && (retryNonIdempotent || isIdempotentRequest(request));
      // A request sent at most once after it left goes as the caller made it, its body unread.
      if (!call.resendsAfterSending) return attempts(sendAsIs(input, init), context);
      const send = replayableSend(input, init, maxBufferedBodyBytes, context.signal);
      return "then" in send ? send.then((ready) => attempts(ready, context)) : attempts(send, context);
    };

    const bounded = totalTimeout === undefined ? run : (context: PolicyContext) => totalTimeout.run(run, context);
    // The breaker counts the call once, with the outcome it ends with; the total deadline's TimeoutError counts.
    const guardedCall = (context: PolicyContext): Promise<Response> => {
      if (breaker === undefined || isOffline()) return bounded(context);
      if (state.onlineSeen !== onlineEvents) {
        state.onlineSeen = onlineEvents;
        breaker.halfOpenNow();
      }
      return breaker.run(bounded, context);
    };

    let answered = false;
    try {
      // Nothing is read or sent for a call cancelled before it starts.
      if (callerSignal?.aborted) throw callerSignal.reason;
      const response = await (fallbackPolicy === undefined
        ? guardedCall(callerSignal === undefined ? UNCANCELLABLE : { signal: callerSignal, attempt: 1 })
        : fallbackPolicy(request).execute(guardedCall, callerSignal));
      answered = true;
      telemetry.done(response, false);
      return response;
    } catch (error) {
      telemetry.done(error, true);
      throw error;
    } finally {
      if (call.send !== undefined) call.send.release(answered);
      else cancelUnsentBody(input, init);
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
      if (typeof error === "object" && error !== null) thrownByHook.add(error);
      throw error;
    }
  }

  // A 429 or 503 with a delay the client would honour pauses every call to the origin, not just this one:
  // the server is overloaded or limiting this client, and concurrent calls need not each rediscover it.
  function pauseOrigin(origin: OriginState, response: Response): void {
    const now = env.now();
    const pauseMs = originPauseMs(response, now, maxRetryAfterMs);
    if (pauseMs !== undefined) origin.pausedUntilMs = Math.max(origin.pausedUntilMs, now + pauseMs);
  }

  return Object.assign(resilientFetch, {
    origins: (): OriginStatus[] => {
      const now = env.now();
      return Array.from(origins.entries(), ([origin, s]) => ({
        origin,
        circuit: s.breaker?.state,
        circuitRetryAfterMs: s.breaker?.retryAfterMs ?? 0,
        pausedForMs: Math.max(0, s.pausedUntilMs - now),
      }));
    },
    breaker: (origin: string) => origins.get(originOf(origin)).breaker,
  });
}

/** The outermost layer: a fallback that knows the call's request. */
function fallbackLayer(
  handler: CreateFetchOptions["fallback"],
  retryStatuses: ReadonlySet<number>,
  observers: Observers,
): ((request: RequestSummary) => Policy) | undefined {
  const answer = optionalFunction<NonNullable<CreateFetchOptions["fallback"]>>("createFetch", "fallback", handler);
  if (answer === undefined) return undefined;
  return (request) =>
    fallback(
      (error: unknown, context: FallbackContext) =>
        answer({ request, error, response: context.result as Response | undefined }),
      {
        shouldFallbackResult: (response: Response) => retryStatuses.has(response.status),
        logger: observers.logger,
        onFallback: (event) => reportFallback(observers, request, event.error, event.result as Response | undefined),
      },
    );
}

/**
 * Turns the `breaker` option into a maker of each origin's breaker (or none), checking it once. Breakers built
 * here count the failures of an offline device as no failure; the user's own ones are skipped while offline.
 */
function breakerFactory(
  option: CreateFetchOptions["breaker"],
  env: Environment,
  observers: Observers,
): ((origin: string) => CircuitBreaker) | undefined {
  const owner = "createFetch";
  if (option === false) return undefined;
  const report = (change: CircuitStateChange): void => reportBreakerChange(observers, change);
  const watched = new WeakSet<CircuitBreaker>();
  const watch = (breaker: CircuitBreaker): CircuitBreaker => {
    if (!watched.has(breaker)) {
      watched.add(breaker);
      watchBreaker(breaker, report);
    }
    return breaker;
  };
  if (option instanceof CircuitBreaker) {
    watch(option);
    return () => option;
  }
  if (typeof option === "function") {
    return (origin) => {
      const breaker: unknown = option(origin);
      if (!(breaker instanceof CircuitBreaker)) {
        throw optionError(
          TypeError,
          owner,
          "breaker",
          "a function that returns a circuitBreaker(…) for each origin",
          breaker,
        );
      }
      return watch(breaker);
    };
  }
  if (typeof (option as { run?: unknown } | null)?.run === "function") {
    throw optionError(
      TypeError,
      owner,
      "breaker",
      "breaker options, a circuitBreaker(…), a function (origin) => circuitBreaker(…), or false",
      option,
    );
  }
  const scope = `${owner}.breaker`;
  const o = requireOptionsObject(scope, option) as FetchBreakerOptions;
  requireKnownKeys(scope, o, BREAKER_KEYS);
  if (o.strategy !== undefined && typeof o.strategy !== "function") {
    throw optionError(
      TypeError,
      scope,
      "strategy",
      "a function that makes a strategy per origin, e.g. () => failureRate({ windowMs: 60_000 })",
      o.strategy,
    );
  }
  const { strategy, onStateChange, shared, isFailure, ...rest } = o;
  if (shared !== undefined && typeof shared?.circuit !== "function") {
    throw optionError(TypeError, scope, "shared", "a coordinator(…)", shared);
  }
  const userOnStateChange = guarded(
    optionalFunction<(change: CircuitStateChange) => void>(scope, "onStateChange", onStateChange),
  );
  const isFailureOnline =
    optionalFunction<(error: unknown) => boolean>(scope, "isFailure", isFailure) ?? isDependencyFailure;
  // Built once and shared by every origin's breaker: 10,000 origins should not cost 10,000 closures each.
  const isFailureHere = (error: unknown): boolean =>
    !isOffline() && !(typeof error === "object" && error !== null && thrownByHook.has(error)) && isFailureOnline(error);
  const onStateChangeHere =
    userOnStateChange === undefined
      ? report
      : (change: CircuitStateChange) => {
          userOnStateChange(change);
          report(change);
        };
  const make = (origin: string, check = false): CircuitBreaker =>
    new CircuitBreaker(
      {
        ...rest,
        strategy: strategy?.(),
        isFailure: isFailureHere,
        key: origin,
        shared: check ? undefined : shared?.circuit(origin),
        env,
        onStateChange: onStateChangeHere,
      },
      scope,
    );
  make("https://options.check", true); // throws now, at construction, on bad options
  return make;
}

/** One bulkhead per origin from options, or the one given for all origins; checked now. */
function bulkheadFactory(option: CreateFetchOptions["bulkhead"]): (() => Policy) | undefined {
  if (option === undefined) return undefined;
  const given = option as Partial<BulkheadPolicy> | null;
  if (typeof given?.run === "function") {
    if (typeof given.running !== "number" || typeof given.queued !== "number") {
      throw optionError(
        TypeError,
        "createFetch",
        "bulkhead",
        "bulkhead options ({ limit, queue }) or a bulkhead(…)",
        option,
      );
    }
    return () => option as BulkheadPolicy;
  }
  const make = (): Policy => bulkhead(option as BulkheadOptions, "createFetch.bulkhead");
  make(); // throws now, at construction, on bad options
  return make;
}

function validTimeout(name: string, value: unknown, fallback: number): number {
  const ms = requireLimitAtLeast("createFetch", name, value ?? fallback);
  if (ms === 0) throw optionError(RangeError, "createFetch", name, "a number > 0 (Infinity for none)", value);
  return ms;
}

function statusSet(statuses: Iterable<number> | undefined): ReadonlySet<number> {
  if (statuses === undefined) return new Set(DEFAULT_RETRY_STATUSES);
  // A string is iterable too, and "503" would be read as the statuses "5", "0" and "3".
  if (typeof statuses === "string" || typeof (statuses as Iterable<number> | null)?.[Symbol.iterator] !== "function") {
    throw optionError(TypeError, "createFetch", "retryStatuses", "an iterable of status codes", statuses);
  }
  const set = new Set<number>();
  for (const status of statuses) {
    if (!Number.isInteger(status) || status < 100 || status > 599) {
      throw optionError(RangeError, "createFetch", "retryStatuses", "status codes from 100 to 599", status);
    }
    set.add(status);
  }
  return set;
}
