/**
 * `createFetch`: a drop-in `fetch` that retries what HTTP says may be retried, honours the server's
 * `Retry-After`, bounds every attempt and the whole call in time, and never sends a non-idempotent request
 * twice unless the caller made it safe.
 */

import type { ExponentialBackoffOptions } from "./backoff.ts";
import { type Environment, MAX_TIMER_DELAY_MS, resolveEnvironment } from "./environment.ts";
import { isIdempotent } from "./http/idempotency.ts";
import { redactUrl as defaultRedactUrl } from "./http/redact.ts";
import { bufferBody } from "./http/replayable-body.ts";
import { serverDelayMs } from "./http/retry-after.ts";
import { compose, type Policy, type PolicyContext } from "./policy.ts";
import { type BackoffState, type GiveUpReason, type RetryState, retrySettings, retryWith } from "./retry.ts";
import { timeout } from "./timeout.ts";
import { isTransientError } from "./transient.ts";
import {
  optionalFunction,
  optionError,
  requireFiniteAtLeast,
  requireIntegerAtLeast,
  requireKnownKeys,
  requireLimitAtLeast,
  requireOptionsObject,
} from "./validate.ts";

/** The signature of the global `fetch`. */
export type FetchFunction = (input: RequestInfo | URL, init?: RequestInit) => Promise<Response>;

/** The request as predicates and hooks see it. */
export interface RequestSummary {
  readonly method: string;
  /** The full URL, query included (redaction applies to events and logs, not here). */
  readonly url: string;
  readonly headers: Headers;
}

/** What a custom `shouldRetry` sees after each attempt. */
export interface FetchAttempt {
  readonly request: RequestSummary;
  /** The response, when the attempt got one. */
  readonly response: Response | undefined;
  /** What the attempt threw, when it got no response. */
  readonly error: unknown;
  /** 1 for the first attempt. */
  readonly attempt: number;
}

/** Where a chosen delay came from. */
export type DelaySource = "backoff" | "retry-after";

/** The common fields of {@link FetchRetryEvent} and {@link FetchGiveUpEvent}. */
export interface FetchEventBase {
  readonly method: string;
  /** The URL, redacted (by default without its query string). */
  readonly url: string;
  /** The attempt that just ended. */
  readonly attempt: number;
  /** The response's status, when the attempt got a response. */
  readonly status: number | undefined;
  /** The error's name (`TypeError`, `TimeoutError`…), when the attempt threw. */
  readonly errorName: string | undefined;
  readonly error: unknown;
  /** Milliseconds since the call started. */
  readonly elapsedMs: number;
}

/** Emitted before each retry's sleep. */
export interface FetchRetryEvent extends FetchEventBase {
  readonly delayMs: number;
  readonly delaySource: DelaySource;
}

/** Why createFetch stopped retrying; `"retry-after"`: the server asked for a wait past `maxRetryAfterMs` or past the total deadline. */
export type FetchGiveUpReason = GiveUpReason | "retry-after";

/** Emitted once when a retryable failure is final. */
export interface FetchGiveUpEvent extends FetchEventBase {
  readonly reason: FetchGiveUpReason;
}

/** A structured logger; `console` fits. */
export interface Logger {
  warn(message: string, fields: Record<string, unknown>): void;
  error(message: string, fields: Record<string, unknown>): void;
}

/** Where counters and timings go (StatsD, Prometheus, OpenTelemetry…). Metric names are in the README. */
export interface MetricsSink {
  count(name: string, value: number, tags: Record<string, string>): void;
  timing(name: string, durationMs: number, tags: Record<string, string>): void;
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
  /** Retry POST, PATCH and other non-idempotent requests without an `Idempotency-Key`. Default `false`. */
  readonly retryNonIdempotent?: boolean;
  /** Decides instead of the defaults; return `undefined` to keep the default decision for this attempt. */
  readonly shouldRetry?: (attempt: FetchAttempt) => boolean | undefined;
  /** The longest server-asked wait (`Retry-After`…) to honour; a longer one ends the call with that response. Default 60,000. */
  readonly maxRetryAfterMs?: number;
  /** The largest streamed request body kept in memory to replay; a larger one is sent once, not retried. Default 1 MiB. */
  readonly maxBufferedBodyBytes?: number;
  readonly onRetry?: (event: FetchRetryEvent) => void;
  readonly onGiveUp?: (event: FetchGiveUpEvent) => void;
  /** Logs each retry (`warn`) and each give-up (`error`). */
  readonly logger?: Logger;
  readonly metrics?: MetricsSink;
  /** How URLs appear in events and logs. Default: without query string and credentials; `false` for the full URL. */
  readonly redactUrl?: ((url: string) => string) | false;
  readonly env?: Partial<Environment>;
}

const OPTION_KEYS = [
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
  "onRetry",
  "onGiveUp",
  "logger",
  "metrics",
  "redactUrl",
  "env",
];

/** The statuses retried by default: a timeout, rate limiting and the gateway/overload 5xx family. */
export const DEFAULT_RETRY_STATUSES: readonly number[] = [408, 429, 500, 502, 503, 504];

/** Statuses whose `Retry-After` (or rate-limit headers) is honoured, per RFC 9110 and RFC 6585. */
const SERVER_DELAY_STATUSES = new Set([413, 429, 503]);

const isRequest = (input: unknown): input is Request =>
  typeof input === "object" && input !== null && typeof (input as Request).clone === "function" && "method" in input;

/** Body types that can be handed to `fetch` again and produce the same bytes. FormData cannot: its boundary is drawn anew. */
const isResendable = (body: BodyInit): boolean =>
  typeof body === "string" ||
  body instanceof ArrayBuffer ||
  ArrayBuffer.isView(body) ||
  body instanceof URLSearchParams ||
  (typeof Blob !== "undefined" && body instanceof Blob);

function validTimeout(name: string, value: unknown, fallback: number): number {
  const ms = requireLimitAtLeast("createFetch", name, value ?? fallback);
  if (ms === 0) throw optionError(RangeError, "createFetch", name, "a number > 0 (Infinity for none)", value);
  return ms;
}

/**
 * Creates a `fetch` with retries, timeouts and `Retry-After` support. Use it exactly like `fetch`: it
 * resolves with the final `Response` (a retryable status after the last attempt is returned, not thrown)
 * and rejects with the last error.
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
export function createFetch(options?: CreateFetchOptions): FetchFunction {
  const o = requireOptionsObject("createFetch", options) as CreateFetchOptions;
  requireKnownKeys("createFetch", o, OPTION_KEYS);
  const base = retrySettings<Response>(
    { attempts: o.attempts, maxElapsedMs: o.maxElapsedMs, backoff: o.backoff, env: o.env },
    "createFetch",
  );
  const env = resolveEnvironment(o.env);
  const fetchOverride = optionalFunction<FetchFunction>("createFetch", "fetch", o.fetch);
  const attemptTimeoutMs = validTimeout("attemptTimeoutMs", o.attemptTimeoutMs, 10_000);
  const totalTimeoutMs = validTimeout("totalTimeoutMs", o.totalTimeoutMs, Number.POSITIVE_INFINITY);
  const retryStatuses = statusSet(o.retryStatuses);
  const retryNonIdempotent = o.retryNonIdempotent ?? false;
  if (typeof retryNonIdempotent !== "boolean") {
    throw optionError(TypeError, "createFetch", "retryNonIdempotent", "a boolean", retryNonIdempotent);
  }
  const customShouldRetry = optionalFunction<CreateFetchOptions["shouldRetry"]>(
    "createFetch",
    "shouldRetry",
    o.shouldRetry,
  );
  const maxRetryAfterMs = requireFiniteAtLeast("createFetch", "maxRetryAfterMs", o.maxRetryAfterMs ?? 60_000);
  if (maxRetryAfterMs > MAX_TIMER_DELAY_MS) {
    throw optionError(
      RangeError,
      "createFetch",
      "maxRetryAfterMs",
      `at most ${MAX_TIMER_DELAY_MS} (2^31−1)`,
      maxRetryAfterMs,
    );
  }
  const maxBufferedBodyBytes = requireIntegerAtLeast(
    "createFetch",
    "maxBufferedBodyBytes",
    o.maxBufferedBodyBytes ?? 1024 * 1024,
    0,
  );
  const onRetry = optionalFunction<CreateFetchOptions["onRetry"]>("createFetch", "onRetry", o.onRetry);
  const onGiveUp = optionalFunction<CreateFetchOptions["onGiveUp"]>("createFetch", "onGiveUp", o.onGiveUp);
  const logger = checkSink<Logger>("logger", o.logger, ["warn", "error"]);
  const metrics = checkSink<MetricsSink>("metrics", o.metrics, ["count", "timing"]);
  const redact =
    o.redactUrl === false
      ? (url: string) => url
      : (optionalFunction<(url: string) => string>("createFetch", "redactUrl", o.redactUrl) ?? defaultRedactUrl);

  // Built once: per-call policies below only add the retry layer, which needs the call's request.
  const attemptTimeout = Number.isFinite(attemptTimeoutMs) ? timeout(attemptTimeoutMs, { env }) : undefined;
  const totalTimeout = Number.isFinite(totalTimeoutMs) ? timeout(totalTimeoutMs, { env }) : undefined;
  const singleAttempt = compose(...[totalTimeout, attemptTimeout].filter((p): p is Policy => p !== undefined));

  return async function resilientFetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response> {
    const startedMs = env.now();
    const request = summarize(input, init);
    const callerSignal = init?.signal ?? (isRequest(input) ? input.signal : undefined) ?? undefined;
    const send = await prepareSend(input, init, maxBufferedBodyBytes);
    const fetchImpl: FetchFunction = fetchOverride ?? ((i, n) => globalThis.fetch(i, n));
    const tags = metrics ? { method: request.method, origin: originOf(request.url) } : undefined;

    const attemptOnce = async (context: PolicyContext): Promise<Response> => {
      const attemptStartedMs = metrics ? env.now() : 0;
      try {
        const response = await send.call(fetchImpl, context.signal);
        if (metrics && tags) recordAttempt(metrics, tags, String(response.status), env.now() - attemptStartedMs);
        return response;
      } catch (error) {
        if (metrics && tags) recordAttempt(metrics, tags, errorName(error) ?? "Error", env.now() - attemptStartedMs);
        throw error;
      }
    };

    const retryable = send.replayable && (retryNonIdempotent || isIdempotent(request.method, request.headers));
    let policy = singleAttempt;
    if (retryable) {
      let delaySource: DelaySource = "backoff";
      let refusedServerDelay = false;
      const describe = (state: RetryState<Response>): FetchEventBase => ({
        method: request.method,
        url: redact(request.url),
        attempt: state.attempt,
        status: state.threw ? undefined : state.result?.status,
        errorName: state.threw ? errorName(state.error) : undefined,
        error: state.error,
        elapsedMs: env.now() - startedMs,
      });
      const decide = (state: RetryState<Response>, fallback: boolean): boolean => {
        const custom = customShouldRetry?.({
          request,
          response: state.result,
          error: state.error,
          attempt: state.attempt,
        });
        return custom ?? fallback;
      };
      const retryPolicy = retryWith<Response>({
        ...base,
        shouldRetry: (error, state) => decide(state, isTransientError(error)),
        shouldRetryResult: (response, state) => decide(state, retryStatuses.has(response.status)),
        nextDelay: (state) => {
          const response = state.result;
          const asked =
            response && SERVER_DELAY_STATUSES.has(response.status)
              ? serverDelayMs(response.headers, env.now())
              : undefined;
          if (asked === undefined) {
            delaySource = "backoff";
            return base.nextDelay(state);
          }
          delaySource = "retry-after";
          const leftMs = totalTimeoutMs - (env.now() - startedMs);
          refusedServerDelay = asked > maxRetryAfterMs || asked >= leftMs;
          return refusedServerDelay ? Number.POSITIVE_INFINITY : asked;
        },
        onRetry: (event) => {
          // A discarded response still holds a connection until its body is read or cancelled; Workers allow
          // only six at once, so a retry loop that leaves bodies open stalls.
          discard(event.result);
          const fetchEvent: FetchRetryEvent = { ...describe(event), delayMs: event.delayMs, delaySource };
          onRetry?.(fetchEvent);
          logger?.warn(
            `staunch: retrying ${fetchEvent.method} ${fetchEvent.url} after ${outcomeOf(fetchEvent)} in ${Math.round(event.delayMs)} ms (attempt ${event.attempt} of ${base.attempts}, ${delaySource})`,
            { ...fetchEvent },
          );
          if (metrics && tags) metrics.count("staunch.fetch.retries", 1, { ...tags, delay_source: delaySource });
        },
        onGiveUp: (event) => {
          const reason: FetchGiveUpReason =
            event.reason === "delay" && refusedServerDelay ? "retry-after" : event.reason;
          const fetchEvent: FetchGiveUpEvent = { ...describe(event), reason };
          onGiveUp?.(fetchEvent);
          logger?.error(
            `staunch: giving up on ${fetchEvent.method} ${fetchEvent.url} after ${outcomeOf(fetchEvent)} (attempt ${event.attempt}, ${reason})`,
            { ...fetchEvent },
          );
          if (metrics && tags) metrics.count("staunch.fetch.give_ups", 1, { ...tags, reason });
        },
      });
      policy = compose(...[totalTimeout, retryPolicy, attemptTimeout].filter((p): p is Policy => p !== undefined));
    }

    try {
      const response = await policy.execute(attemptOnce, callerSignal);
      if (metrics && tags)
        metrics.timing("staunch.fetch.duration_ms", env.now() - startedMs, {
          ...tags,
          outcome: String(response.status),
        });
      return response;
    } catch (error) {
      if (metrics && tags)
        metrics.timing("staunch.fetch.duration_ms", env.now() - startedMs, {
          ...tags,
          outcome: errorName(error) ?? "Error",
        });
      throw error;
    }
  };
}

/** How each attempt sends the request, and whether it may be sent more than once. */
interface Send {
  readonly replayable: boolean;
  call(fetchImpl: FetchFunction, signal: AbortSignal | undefined): Promise<Response>;
}

/**
 * Works out, once per call, how to send the request again. Most requests (no body, or a body that fetch can
 * send twice) pass through untouched; FormData and streams are read once into bytes, up to the limit.
 */
async function prepareSend(input: RequestInfo | URL, init: RequestInit | undefined, limitBytes: number): Promise<Send> {
  const body = init?.body ?? (isRequest(input) ? input.body : null);
  if (body == null || (init?.body != null && isResendable(init.body))) {
    return { replayable: true, call: (fetchImpl, signal) => fetchImpl(input, init ? { ...init, signal } : { signal }) };
  }
  // Request normalises every body type to one stream and fixes FormData's boundary in its content-type.
  const template = new Request(
    input,
    init?.body instanceof ReadableStream ? ({ ...init, duplex: "half" } as RequestInit) : init,
  );
  const buffered =
    init?.body instanceof FormData
      ? { bytes: new Uint8Array(await template.arrayBuffer()) }
      : await bufferBody(template.body as ReadableStream<Uint8Array>, limitBytes);
  if ("bytes" in buffered) {
    const { bytes } = buffered;
    return {
      replayable: true,
      call: (fetchImpl, signal) => fetchImpl(new Request(template, { body: bytes, signal })),
    };
  }
  const { stream } = buffered;
  return {
    replayable: false,
    call: (fetchImpl, signal) =>
      fetchImpl(new Request(template, { body: stream, signal, duplex: "half" } as RequestInit)),
  };
}

function summarize(input: RequestInfo | URL, init: RequestInit | undefined): RequestSummary {
  const method = (init?.method ?? (isRequest(input) ? input.method : "GET")).toUpperCase();
  const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
  let headers: Headers | undefined;
  return {
    method,
    url,
    // Built on first use: a GET that nobody inspects should not pay for a Headers object.
    get headers() {
      headers ??=
        init?.headers !== undefined ? new Headers(init.headers) : isRequest(input) ? input.headers : new Headers();
      return headers;
    },
  };
}

function statusSet(statuses: Iterable<number> | undefined): ReadonlySet<number> {
  if (statuses === undefined) return new Set(DEFAULT_RETRY_STATUSES);
  if (typeof (statuses as Iterable<number>)?.[Symbol.iterator] !== "function") {
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

function checkSink<S>(name: string, sink: unknown, methods: readonly string[]): S | undefined {
  if (sink === undefined) return undefined;
  for (const method of methods) {
    if (typeof (sink as Record<string, unknown> | null)?.[method] !== "function") {
      throw optionError(TypeError, "createFetch", name, `an object with ${methods.join(" and ")} methods`, sink);
    }
  }
  return sink as S;
}

function recordAttempt(metrics: MetricsSink, tags: Record<string, string>, outcome: string, durationMs: number): void {
  const attemptTags = { ...tags, outcome };
  metrics.count("staunch.fetch.attempts", 1, attemptTags);
  metrics.timing("staunch.fetch.attempt_duration_ms", durationMs, attemptTags);
}

function discard(response: Response | undefined): void {
  if (response?.body && !response.bodyUsed) response.body.cancel().catch(() => {});
}

function errorName(error: unknown): string | undefined {
  return typeof error === "object" && error !== null ? String((error as { name?: unknown }).name) : undefined;
}

function outcomeOf(event: FetchEventBase): string {
  return event.status !== undefined ? `status ${event.status}` : (event.errorName ?? "an error");
}

function originOf(url: string): string {
  try {
    return new URL(url, (globalThis as { location?: { href: string } }).location?.href).origin;
  } catch {
    return "unknown";
  }
}
