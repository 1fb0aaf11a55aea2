/**
 * Everything createFetch reports — hooks, log lines and metrics — in one place, so the orchestration reads
 * as the policy it is. Metric names are part of the public contract (see the README).
 */

import type { CircuitStateChange } from "../circuit-breaker.ts";
import { fallbackReason } from "../outcome.ts";
import type { RetryState } from "../retry.ts";
import { errorName } from "../transient.ts";
import { originOf } from "./send.ts";
import type {
  DelaySource,
  FetchEventBase,
  FetchFallbackEvent,
  FetchGiveUpEvent,
  FetchGiveUpReason,
  FetchRetryEvent,
  Logger,
  MetricsSink,
  RequestSummary,
} from "./types.ts";

/** The observers a createFetch client was given. */
export interface Observers {
  readonly onRetry: ((event: FetchRetryEvent) => void) | undefined;
  readonly onGiveUp: ((event: FetchGiveUpEvent) => void) | undefined;
  readonly onBreakerStateChange: ((change: CircuitStateChange) => void) | undefined;
  readonly onFallback: ((event: FetchFallbackEvent) => void) | undefined;
  readonly logger: Logger | undefined;
  readonly metrics: MetricsSink | undefined;
  readonly redact: (url: string) => string;
  readonly attempts: number;
}

const outcomeOf = (event: FetchEventBase): string =>
  event.status !== undefined ? `status ${event.status}` : (event.errorName ?? "an error");

/** What one call reports. */
export interface CallTelemetry {
  attempt(outcome: Response | unknown, threw: boolean, durationMs: number): void;
  retry(state: RetryState<Response>, delayMs: number, source: DelaySource): void;
  giveUp(state: RetryState<Response>, reason: FetchGiveUpReason): void;
  done(outcome: Response | unknown, threw: boolean): void;
}

/** Reporting for one call; `now` is the client's clock, `startedMs` when the call began. */
export function callTelemetry(
  observers: Observers,
  request: RequestSummary,
  origin: string,
  startedMs: number,
  now: () => number,
): CallTelemetry {
  return new FetchCallTelemetry(observers, request, origin, startedMs, now);
}

const outcomeTag = (outcome: unknown, threw: boolean): string =>
  threw ? (errorName(outcome) ?? "Error") : String((outcome as Response).status);

/**
 * A class, not an object of closures: one is made per call, and most calls report nothing (no observers) or
 * only at the end, so construction is kept to one allocation.
 */
class FetchCallTelemetry implements CallTelemetry {
  readonly #observers: Observers;
  readonly #request: RequestSummary;
  readonly #origin: string;
  readonly #startedMs: number;
  readonly #now: () => number;

  constructor(observers: Observers, request: RequestSummary, origin: string, startedMs: number, now: () => number) {
    this.#observers = observers;
    this.#request = request;
    this.#origin = origin;
    this.#startedMs = startedMs;
    this.#now = now;
  }

  #tags(): { method: string; origin: string } {
    return { method: this.#request.method, origin: this.#origin };
  }

  #describe(state: RetryState<Response>): FetchEventBase {
    return {
      method: this.#request.method,
      url: this.#observers.redact(this.#request.url),
      attempt: state.attempt,
      status: state.threw ? undefined : state.result?.status,
      errorName: state.threw ? errorName(state.error) : undefined,
      error: state.error,
      elapsedMs: Math.round(this.#now() - this.#startedMs),
    };
  }

  attempt(outcome: Response | unknown, threw: boolean, durationMs: number): void {
    const metrics = this.#observers.metrics;
    if (!metrics) return;
    const attemptTags = { ...this.#tags(), outcome: outcomeTag(outcome, threw) };
    metrics.count("staunch.fetch.attempts", 1, attemptTags);
    metrics.timing("staunch.fetch.attempt_duration_ms", durationMs, attemptTags);
  }

  retry(state: RetryState<Response>, delayMs: number, source: DelaySource): void {
    const observers = this.#observers;
    const event: FetchRetryEvent = { ...this.#describe(state), delayMs, delaySource: source };
    observers.onRetry?.(event);
    observers.logger?.warn(
      `staunch: retrying ${event.method} ${event.url} after ${outcomeOf(event)} in ${Math.round(delayMs)} ms (attempt ${event.attempt} of ${observers.attempts}, ${source})`,
      { ...event },
    );
    observers.metrics?.count("staunch.fetch.retries", 1, { ...this.#tags(), delay_source: source });
  }

  giveUp(state: RetryState<Response>, reason: FetchGiveUpReason): void {
    const observers = this.#observers;
    const event: FetchGiveUpEvent = { ...this.#describe(state), reason };
    observers.onGiveUp?.(event);
    observers.logger?.error(
      `staunch: giving up on ${event.method} ${event.url} after ${outcomeOf(event)} (attempt ${event.attempt}, ${reason})`,
      { ...event },
    );
    observers.metrics?.count("staunch.fetch.give_ups", 1, { ...this.#tags(), reason });
  }

  done(outcome: Response | unknown, threw: boolean): void {
    this.#observers.metrics?.timing("staunch.fetch.duration_ms", this.#now() - this.#startedMs, {
      ...this.#tags(),
      outcome: outcomeTag(outcome, threw),
    });
  }
}

/** Reports a breaker's transition for an origin. */
export function reportBreakerChange(observers: Observers, change: CircuitStateChange): void {
  observers.onBreakerStateChange?.(change);
  const origin = change.key ?? "unknown";
  if (change.to === "open") {
    observers.logger?.warn(`staunch: circuit for ${origin} opened; calls fail fast for ${change.openForMs} ms`, {
      ...change,
    });
  } else {
    observers.logger?.warn(`staunch: circuit for ${origin} is ${change.to} (was ${change.from})`, { ...change });
  }
  observers.metrics?.count("staunch.fetch.breaker_transitions", 1, { origin, from: change.from, to: change.to });
}

/** Reports that the fallback answered for a call (the fallback policy itself logs the warning). */
export function reportFallback(
  observers: Observers,
  request: RequestSummary,
  error: unknown,
  response: Response | undefined,
): void {
  const event: FetchFallbackEvent = {
    method: request.method,
    url: observers.redact(request.url),
    reason: response === undefined ? fallbackReason({ ok: false, error }) : "result",
    status: response?.status,
    errorName: response === undefined ? (errorName(error) ?? "Error") : undefined,
    error,
  };
  observers.onFallback?.(event);
  observers.metrics?.count("staunch.fetch.fallbacks", 1, {
    method: request.method,
    origin: originOf(request.url),
    reason: event.reason,
  });
}
