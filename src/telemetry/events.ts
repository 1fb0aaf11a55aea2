/**
 * The one telemetry vocabulary: every policy reports what it does as a typed event, discriminated by `type`, to
 * the listeners it was given (`telemetry: listener | listener[]`). The logger, a metrics sink and
 * `staunch/otel` are listeners like any other. Event and metric names live in {@link TELEMETRY}.
 */

import type { CircuitStateChange } from "../circuit-breaker.ts";
import type { StaleServedEvent } from "../edge/cached-fallback.ts";
import type { FallbackEvent } from "../fallback.ts";
import type { FleetDegradedEvent, FleetRecoveredEvent } from "../fleet/channel.ts";
import type { HedgeEvent } from "../hedge.ts";
import type {
  FetchAttemptEvent,
  FetchEndEvent,
  FetchFallbackEvent,
  FetchGiveUpEvent,
  FetchRetryEvent,
} from "../http/types.ts";
import type { GiveUpEvent, RetryEvent } from "../retry.ts";
import type { RetryBudgetExhaustedEvent } from "../retry-budget.ts";
import { optionError } from "../validate.ts";

/**
 * The metric names, apart so that `metricsTo` bundles them without the event types; read them as
 * `TELEMETRY.metrics`.
 *
 * @internal
 */
export const METRIC_NAMES = {
  fetchAttempts: "staunch.fetch.attempts",
  fetchAttemptDurationMs: "staunch.fetch.attempt_duration_ms",
  fetchRetries: "staunch.fetch.retries",
  fetchGiveUps: "staunch.fetch.give_ups",
  fetchDurationMs: "staunch.fetch.duration_ms",
  fetchBreakerTransitions: "staunch.fetch.breaker_transitions",
  fetchFallbacks: "staunch.fetch.fallbacks",
  retries: "staunch.retry.retries",
  giveUps: "staunch.retry.give_ups",
  breakerTransitions: "staunch.breaker.transitions",
  budgetRefusedRetries: "staunch.retry_budget.refused_retries",
  fallbacks: "staunch.fallback.activations",
  hedges: "staunch.hedge.hedges",
  timeouts: "staunch.timeout.timeouts",
  bulkheadRejections: "staunch.bulkhead.rejections",
  rateLimitRejections: "staunch.rate_limiter.rejections",
  throttleRejections: "staunch.adaptive_throttle.rejections",
  staleServed: "staunch.edge.stale_served",
  fleetDegraded: "staunch.fleet.degradations",
  fleetRecovered: "staunch.fleet.recoveries",
} as const;

/**
 * Every event `type` and every metric name staunch uses: switch on `TELEMETRY.events.*`, build dashboards on
 * `TELEMETRY.metrics.*`. The metric names are what {@link metricsTo} and `staunch/otel` record; changing one
 * is a breaking change.
 *
 * @example
 * ```ts
 * const listener: TelemetryListener = (event) => {
 *   if (event.type === TELEMETRY.events.retry) console.warn(`retry ${event.attempt} in ${event.delayMs} ms`);
 * };
 * console.log(TELEMETRY.metrics.fetchRetries); // "staunch.fetch.retries"
 * ```
 */
export const TELEMETRY = {
  events: {
    /** `retry`: an attempt failed and another follows after `delayMs` ({@link RetryEvent}). */
    retry: "retry",
    /** `retry`: a retryable outcome is final, a cap reached ({@link GiveUpEvent}). */
    giveUp: "give-up",
    /** createFetch: one attempt ended, with a response or an error ({@link FetchAttemptEvent}). */
    fetchAttempt: "fetch-attempt",
    /** createFetch: a retry is about to wait ({@link FetchRetryEvent}). */
    fetchRetry: "fetch-retry",
    /** createFetch: a call ends on a retryable failure ({@link FetchGiveUpEvent}). */
    fetchGiveUp: "fetch-give-up",
    /** createFetch: its `fallback` answers instead of the origin ({@link FetchFallbackEvent}). */
    fetchFallback: "fetch-fallback",
    /** createFetch: a call ended, retries and sleeps included ({@link FetchEndEvent}). */
    fetchEnd: "fetch-end",
    /** A circuit breaker changed state, createFetch's per-origin ones included ({@link CircuitStateChange}). */
    circuitStateChange: "circuit-state-change",
    /** `fallback`: the fallback answers for a failure ({@link FallbackEvent}). */
    fallback: "fallback",
    /** `hedge`: an extra attempt starts ({@link HedgeEvent}). */
    hedge: "hedge",
    /** `retryBudget`: a retry was refused, the budget spent ({@link RetryBudgetExhaustedEvent}). */
    retryBudgetExhausted: "retry-budget-exhausted",
    /** `timeout`: the deadline fired ({@link TimeoutEvent}). */
    timeout: "timeout",
    /** `bulkhead`: a call was refused, every slot and the queue full ({@link BulkheadRejectedEvent}). */
    bulkheadRejected: "bulkhead-rejected",
    /** `rateLimiter`: a call was refused by the rate limit ({@link RateLimitedEvent}). */
    rateLimited: "rate-limited",
    /** `adaptiveThrottle`: a call was rejected locally ({@link ThrottleRejectedEvent}). */
    throttleRejected: "throttle-rejected",
    /** `cachedFallback`/`staleIfError`: a stored copy answered for a failed origin ({@link StaleServedEvent}). */
    staleServed: "stale-served",
    /** `coordinator`: the fleet's store did not answer; decided locally until it does ({@link FleetDegradedEvent}). */
    fleetDegraded: "fleet-degraded",
    /** `coordinator`: the fleet's store answers again ({@link FleetRecoveredEvent}). */
    fleetRecovered: "fleet-recovered",
  },
  metrics: METRIC_NAMES,
} as const;

/** An event's `type`: one of the values of `TELEMETRY.events`. */
export type TelemetryEventType = (typeof TELEMETRY.events)[keyof typeof TELEMETRY.events];

/** `timeout`: the deadline fired before the operation settled; the call rejects with a `TimeoutError`. */
export interface TimeoutEvent {
  readonly type: "timeout";
  /** The deadline, in ms. */
  readonly timeoutMs: number;
}

/** `bulkhead`: a call found every slot taken and the queue full, and was refused without running. */
export interface BulkheadRejectedEvent {
  readonly type: "bulkhead-rejected";
  readonly limit: number;
  readonly queue: number;
}

/** `rateLimiter`: a call was refused (`RateLimitedError`) rather than run or queued. */
export interface RateLimitedEvent {
  readonly type: "rate-limited";
  /** When the next call would be allowed, in whole ms. */
  readonly retryAfterMs: number;
}

/** `adaptiveThrottle`: a call was rejected locally while the backend refuses requests. */
export interface ThrottleRejectedEvent {
  readonly type: "throttle-rejected";
  /** The rejection probability the call was drawn against, in (0, 1). */
  readonly probability: number;
}

/** Everything a staunch policy reports, one payload per `type`. */
export type TelemetryEvent =
  | RetryEvent
  | GiveUpEvent
  | FetchAttemptEvent
  | FetchRetryEvent
  | FetchGiveUpEvent
  | FetchFallbackEvent
  | FetchEndEvent
  | CircuitStateChange
  | FallbackEvent
  | HedgeEvent
  | RetryBudgetExhaustedEvent
  | TimeoutEvent
  | BulkheadRejectedEvent
  | RateLimitedEvent
  | ThrottleRejectedEvent
  | StaleServedEvent
  | FleetDegradedEvent
  | FleetRecoveredEvent;

/** The event of one `type`. */
export type TelemetryEventOf<K extends TelemetryEventType> = Extract<TelemetryEvent, { readonly type: K }>;

/**
 * Receives a policy's events. Runs inside the policy's control flow, synchronously: keep it short, and what it
 * throws (or, async, rejects) is reported on `console.error` and otherwise ignored — a listener cannot change
 * the call it observes.
 *
 * @example
 * ```ts
 * const seen: TelemetryListener = (event) => console.debug("staunch", event.type, event);
 * const api = createFetch({ telemetry: seen });
 * ```
 */
export type TelemetryListener = (event: TelemetryEvent) => void;

/** What a policy's `telemetry` option takes: one listener, several, or none (`undefined`, `[]`). */
export type TelemetryOption = TelemetryListener | readonly TelemetryListener[];

/**
 * A listener for one event type, with its payload typed: sugar for a `switch` on `event.type`.
 *
 * @example
 * ```ts
 * const policy = retry({
 *   attempts: 5,
 *   telemetry: on("retry", ({ attempt, delayMs }) => console.warn(`attempt ${attempt} failed, retrying in ${delayMs} ms`)),
 * });
 * ```
 */
export function on<K extends TelemetryEventType>(
  type: K,
  handler: (event: TelemetryEventOf<K>) => void,
): TelemetryListener {
  // Checked now, for callers without the types: a misspelt type would otherwise never fire, and say nothing.
  const types: readonly string[] = Object.values(TELEMETRY.events);
  if (!types.includes(type)) throw optionError(TypeError, "on", "type", `one of ${types.join(", ")}`, type);
  if (typeof handler !== "function")
    throw optionError(TypeError, "on", "handler", "a function (event) => void", handler);
  return (event) => {
    if (event.type === type) handler(event as TelemetryEventOf<K>);
  };
}
