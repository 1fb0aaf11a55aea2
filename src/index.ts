/**
 * staunch: make `fetch` and any async call survive transient failures.
 *
 * @packageDocumentation
 */

export { raceAbort } from "./abort.ts";
export {
  backoffDelay,
  type ExponentialBackoff,
  type ExponentialBackoffOptions,
  exponentialBackoff,
  type Jitter,
} from "./backoff.ts";
export {
  type CreateFetchOptions,
  createFetch,
  DEFAULT_RETRY_STATUSES,
  type DelaySource,
  type FetchAttempt,
  type FetchEventBase,
  type FetchFunction,
  type FetchGiveUpEvent,
  type FetchGiveUpReason,
  type FetchRetryEvent,
  type Logger,
  type MetricsSink,
  type RequestSummary,
} from "./create-fetch.ts";
export {
  type CancelTimer,
  cryptoRandom,
  defaultEnvironment,
  type Environment,
  MAX_TIMER_DELAY_MS,
  resolveEnvironment,
} from "./environment.ts";
export { IDEMPOTENT_METHODS, isIdempotent } from "./http/idempotency.ts";
export { redactUrl } from "./http/redact.ts";
export {
  parseHttpDate,
  parseRateLimit,
  parseRetryAfter,
  parseXRateLimitReset,
  serverDelayMs,
} from "./http/retry-after.ts";
export { compose, createPolicy, type Operation, type Policy, type PolicyContext } from "./policy.ts";
export {
  type BackoffState,
  type GiveUpEvent,
  type GiveUpReason,
  type RetryEvent,
  type RetryOptions,
  type RetryState,
  retry,
} from "./retry.ts";
export { type TimeoutOptions, timeout, timeoutReason } from "./timeout.ts";
export { isAbortError, isNetworkError, isTimeoutError, isTransientError } from "./transient.ts";
export {
  BulkheadRejectedError,
  CircuitOpenError,
  isBulkheadRejectedError,
  isCircuitOpenError,
  isRateLimitedError,
  RateLimitedError,
} from "./errors.ts";
