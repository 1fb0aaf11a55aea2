/**
 * staunch: make `fetch` and any async call survive transient failures.
 *
 * @packageDocumentation
 */

export { raceAbort } from "./abort.ts";
export {
  type AdaptiveThrottleOptions,
  type AdaptiveThrottlePolicy,
  adaptiveThrottle,
  clientRejectionProbability,
} from "./adaptive-throttle.ts";
export {
  backoffDelay,
  type ExponentialBackoff,
  type ExponentialBackoffOptions,
  exponentialBackoff,
  type Jitter,
} from "./backoff.ts";
export {
  type BreakerStrategy,
  type BreakerStrategySpec,
  consecutiveFailures,
  countWindow,
  defaultBreakerStrategy,
  type FailureRateOptions,
  failureRate,
  type OutcomeWindow,
  strategyFromSpec,
  timeWindow,
} from "./breaker-strategies.ts";
export { type BulkheadOptions, type BulkheadPolicy, bulkhead } from "./bulkhead.ts";
export {
  CircuitBreaker,
  type CircuitBreakerOptions,
  type CircuitSnapshot,
  type CircuitState,
  type CircuitStateChange,
  circuitBreaker,
  type HalfOpenBackoff,
  isDependencyFailure,
} from "./circuit-breaker.ts";
export {
  type CreateFetchOptions,
  createFetch,
  createLeanFetch,
  DEFAULT_RETRY_STATUSES,
  type DelaySource,
  FETCH_PIPELINE,
  type FetchAttempt,
  type FetchAttemptEvent,
  type FetchBeforeRetry,
  type FetchBreaker,
  type FetchBreakerOption,
  type FetchBreakerOptions,
  type FetchEndEvent,
  type FetchEventBase,
  type FetchFailure,
  type FetchFallbackEvent,
  type FetchFunction,
  type FetchGiveUpEvent,
  type FetchGiveUpReason,
  type FetchRetryEvent,
  type OriginStatus,
  type RequestSummary,
  type ResilientFetch,
} from "./create-fetch.ts";
export {
  type CachedFallbackOptions,
  type CacheLike,
  cachedFallback,
  FALLBACK_HEADER,
  type StaleIfError,
  type StaleServedEvent,
  staleIfError,
} from "./edge/cached-fallback.ts";
export {
  type ExecutionContextLike,
  type HonoContextLike,
  type StaleIfErrorOptions,
  staleIfErrorMiddleware,
  type WorkerFetchHandler,
  withStaleIfError,
} from "./edge/middleware.ts";
export {
  type CancelTimer,
  cryptoRandom,
  defaultEnvironment,
  type Environment,
  MAX_TIMER_DELAY_MS,
  resolveEnvironment,
} from "./environment.ts";
export {
  BulkheadRejectedError,
  CircuitOpenError,
  ExecutionRejectedError,
  isBulkheadRejectedError,
  isCircuitOpenError,
  isExecutionRejectedError,
  isRateLimitedError,
  RateLimitedError,
} from "./errors.ts";
export {
  type FallbackContext,
  type FallbackEvent,
  type FallbackHandler,
  type FallbackOptions,
  type FallbackPolicy,
  fallback,
} from "./fallback.ts";
export { type OriginBreaker, perOriginBreaker } from "./fetch-breaker.ts";
export type { FleetDegradedEvent, FleetLinkStatus, FleetRecoveredEvent } from "./fleet/channel.ts";
export { type Coordinator, type CoordinatorOptions, coordinator, fleetKey } from "./fleet/coordinator.ts";
export type { FleetBudgetLink, FleetCircuitLink } from "./fleet/links.ts";
export { type FleetStore, type MemoryStoreOptions, memoryStore } from "./fleet/stores.ts";
export { type HedgeEvent, type HedgeOptions, hedge } from "./hedge.ts";
export { discardBody } from "./http/discard-body.ts";
export { type FetchFallback, fetchFallback } from "./http/fetch-fallback.ts";
export { IDEMPOTENT_METHODS, isIdempotent } from "./http/idempotency.ts";
export { redactUrl } from "./http/redact.ts";
export {
  parseHttpDate,
  parseRateLimit,
  parseRetryAfter,
  parseXRateLimitReset,
  serverDelayMs,
} from "./http/retry-after.ts";
export type { StreamReplay } from "./http/send.ts";
export { replayStreams } from "./http/stream-replay.ts";
export { type FallbackReason, fallbackReason, type Outcome, type OutcomePredicate } from "./outcome.ts";
export { compose, createPolicy, type Operation, type Policy, type PolicyContext } from "./policy.ts";
export { type RateLimiterOptions, type RateLimiterPolicy, rateLimiter } from "./rate-limiter.ts";
export {
  type BackoffState,
  type GiveUpEvent,
  type GiveUpReason,
  type RetryBudget,
  type RetryEvent,
  type RetryOptions,
  type RetryState,
  retry,
} from "./retry.ts";
export {
  type RetryBudgetExhaustedEvent,
  type RetryBudgetOptions,
  type RetryBudgetState,
  retryBudget,
  type WindowedRetryBudget,
} from "./retry-budget.ts";
export {
  type BulkheadRejectedEvent,
  on,
  type RateLimitedEvent,
  TELEMETRY,
  type TelemetryEvent,
  type TelemetryEventOf,
  type TelemetryEventType,
  type TelemetryListener,
  type TelemetryOption,
  type ThrottleRejectedEvent,
  type TimeoutEvent,
} from "./telemetry/events.ts";
export { type Logger, logTo } from "./telemetry/log.ts";
export { type MetricsSink, metricsTo } from "./telemetry/metrics.ts";
export { type TimeoutOptions, timeout, timeoutReason } from "./timeout.ts";
export {
  errorName,
  isAbortError,
  isNetworkError,
  isNeverSentError,
  isPermanentFetchError,
  isTimeoutError,
  isTransientError,
} from "./transient.ts";
