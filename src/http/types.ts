/**
 * The public types of `createFetch`'s contract: what its hooks, predicates, logger and metrics sink see.
 */

import type { FallbackReason } from "../outcome.ts";
import type { GiveUpReason } from "../retry.ts";

/** The signature of the global `fetch`. */
export type FetchFunction = (input: RequestInfo | URL, init?: RequestInit) => Promise<Response>;

/** The request as predicates and hooks see it. */
export interface RequestSummary {
  readonly method: string;
  /** The full URL, query included (redaction applies to events and logs, not here). */
  readonly url: string;
  /**
   * Built on first read (a getter on the prototype): most calls never look, and a `Headers` object costs
   * microseconds. So a spread copy (`{ ...request }`) has no `headers`; copy it by name if you need it.
   */
  readonly headers: Headers;
}

/** What a custom `shouldRetry` sees besides the attempt's outcome. */
export interface FetchAttempt {
  readonly request: RequestSummary;
  /** The attempt that just ended: 1 for the first. */
  readonly attempt: number;
  /**
   * What createFetch decides without `shouldRetry`: the response's status is one of `retryStatuses`, or the
   * error is transient (`isTransientError`).
   */
  readonly retryable: boolean;
}

/** What a createFetch `beforeRetry` hook sees, after the backoff sleep and before the retry is sent. */
export interface FetchBeforeRetry {
  readonly request: RequestSummary;
  /** The attempt about to be sent: 2 for the first retry. */
  readonly attempt: number;
  /** The previous attempt's response (its body already cancelled), when it got one: a 401 to refresh on, say. */
  readonly response: Response | undefined;
  /** What the previous attempt threw, when it got no response. */
  readonly error: unknown;
  /**
   * The headers this attempt and every later one are sent with, to change in place: a refreshed token, a new
   * signature. The same object at each retry of a call.
   */
  readonly headers: Headers;
  /** Aborted when the call is cancelled or out of time: hand it to the work the hook does (a token refresh). */
  readonly signal: AbortSignal | undefined;
}

/** Where a chosen delay came from. */
export type DelaySource = "backoff" | "retry-after";

/** The common fields of createFetch's events about one attempt. */
export interface FetchEventBase {
  readonly method: string;
  /** The URL, redacted (by default without its query string). */
  readonly url: string;
  /** The origin (`scheme://host:port`) the call went to. */
  readonly origin: string;
  /** The attempt that just ended. */
  readonly attempt: number;
  /** The response's status, when the attempt got a response. */
  readonly status: number | undefined;
  /** The error's name (`TypeError`, `TimeoutError`…), when the attempt threw. */
  readonly errorName: string | undefined;
  readonly error: unknown;
  /** Milliseconds since the call started, whole. */
  readonly elapsedMs: number;
}

/** Emitted as each attempt ends, with a response or an error. */
export interface FetchAttemptEvent extends Omit<FetchEventBase, "elapsedMs"> {
  readonly type: "fetch-attempt";
  /** How long the attempt took, until its response headers or its error, in whole ms. */
  readonly durationMs: number;
}

/** Emitted before each retry's sleep. */
export interface FetchRetryEvent extends FetchEventBase {
  readonly type: "fetch-retry";
  /** How long it is about to sleep, in whole ms. */
  readonly delayMs: number;
  readonly delaySource: DelaySource;
  /** The client's `attempts`: the most this call may make. */
  readonly maxAttempts: number;
}

/**
 * Why createFetch stopped retrying: a cap of `retry` (`"attempts"`, `"elapsed"`: the wait would end past
 * `maxElapsedMs` or at the total deadline, `"delay"`, `"budget"`), or `"retry-after"`: the server asked (for
 * this call or, as an origin pause, another) for a wait past `maxRetryAfterMs` or past the total deadline, or
 * `"circuit-open"`: the origin's circuit opened while the call ran, or `"body"`: the request's streamed body
 * can no longer be sent whole (the first attempt read it past `maxBufferedBodyBytes` during the wait). The call
 * keeps what it last received.
 */
export type FetchGiveUpReason = GiveUpReason | "retry-after" | "circuit-open" | "body";

/** Emitted once when a retryable failure is final. */
export interface FetchGiveUpEvent extends FetchEventBase {
  readonly type: "fetch-give-up";
  readonly reason: FetchGiveUpReason;
}

/** Emitted when createFetch's `fallback` answers instead of the origin. */
export interface FetchFallbackEvent {
  readonly type: "fetch-fallback";
  readonly method: string;
  /** The URL, redacted. */
  readonly url: string;
  readonly origin: string;
  /** `"result"`: the call ended with a retryable status; else it threw (see `FallbackReason`). */
  readonly reason: FallbackReason;
  readonly status: number | undefined;
  readonly errorName: string | undefined;
  readonly error: unknown;
}

/** Emitted when a call ends, with the response it resolves with or the error it rejects with. */
export interface FetchEndEvent {
  readonly type: "fetch-end";
  readonly method: string;
  /** The URL, redacted. */
  readonly url: string;
  readonly origin: string;
  /** The final response's status, when the call resolved. */
  readonly status: number | undefined;
  /** The error's name, when the call rejected. */
  readonly errorName: string | undefined;
  readonly error: unknown;
  /** The whole call, retries and sleeps included, in whole ms. */
  readonly durationMs: number;
}
