/**
 * `logTo(logger)`: staunch's events as log lines. A listener like any other, so a client that logs nothing
 * bundles none of the wording below.
 */

import { errorName } from "../transient.ts";
import { optionError } from "../validate.ts";
import type { TelemetryEvent, TelemetryListener } from "./events.ts";

/** A structured logger; `console` fits. */
export interface Logger {
  /** Something went wrong and staunch handled it: a retry, a fallback, a refusal, a circuit that opened. */
  warn(message: string, fields: Record<string, unknown>): void;
  /** A call failed for good: a give-up. */
  error(message: string, fields: Record<string, unknown>): void;
}

/**
 * A listener that logs what needs a reader's attention, with the event as the structured fields: retries and
 * breaker transitions, fallbacks, refusals (bulkhead, rate limit, throttle, spent retry budget), timeouts,
 * stale copies served and the fleet's store going and coming back on `warn`; give-ups on `error`. Routine
 * events (each attempt, each call's end, hedges) are not logged.
 *
 * @example
 * ```ts
 * const api = createFetch({ telemetry: logTo(console) });
 * const db = retry({ attempts: 4, telemetry: logTo(console) });
 * ```
 */
export function logTo(logger: Logger): TelemetryListener {
  if (typeof logger?.warn !== "function" || typeof logger.error !== "function") {
    throw optionError(TypeError, "logTo", "logger", "an object with warn and error methods (console fits)", logger);
  }
  return (event) => {
    const line = describe(event);
    if (line === undefined) return;
    const fields = { ...event } as Record<string, unknown>;
    if (event.type === "give-up" || event.type === "fetch-give-up") logger.error(`staunch: ${line}`, fields);
    else logger.warn(`staunch: ${line}`, fields);
  };
}

function describe(event: TelemetryEvent): string | undefined {
  switch (event.type) {
    case "fetch-retry":
      return `retrying ${event.method} ${event.url} after ${outcomeOf(event)} in ${event.delayMs} ms (attempt ${event.attempt} of ${event.maxAttempts}, ${event.delaySource})`;
    case "fetch-give-up":
      return `giving up on ${event.method} ${event.url} after ${outcomeOf(event)} (attempt ${event.attempt}, ${event.reason})`;
    case "fetch-fallback":
      return `falling back for ${event.method} ${event.url} after ${event.status === undefined ? describeError(event.error) : `a result with status ${event.status}`}`;
    case "retry":
      return `retrying after ${resultOf(event)} in ${event.delayMs} ms (attempt ${event.attempt})`;
    case "give-up":
      return `giving up after ${resultOf(event)} (attempt ${event.attempt}, ${event.reason})`;
    case "circuit-state-change": {
      const name = event.origin ?? event.key;
      const circuit = name === undefined ? "circuit" : `circuit for ${name}`;
      return event.to === "open"
        ? `${circuit} opened; calls fail fast for ${event.openForMs} ms`
        : `${circuit} is ${event.to} (was ${event.from})`;
    }
    case "fallback":
      return `falling back after ${event.reason === "result" ? describeResult(event.result, "a result that shouldHandle picked") : describeError(event.error)}`;
    case "retry-budget-exhausted":
      return `retry budget spent (${event.retries} retries for ${event.requests} calls); retry skipped`;
    case "timeout":
      return `timed out after ${event.timeoutMs} ms`;
    case "bulkhead-rejected":
      return `bulkhead full (${event.limit} running, ${event.queue} queued); call refused`;
    case "rate-limited":
      return `rate limit reached; call refused, next allowed in ${event.retryAfterMs} ms`;
    case "throttle-rejected":
      return `call rejected locally (probability ${event.probability.toFixed(2)}) while the backend is refusing requests`;
    case "stale-served":
      return `serving a stored copy of ${event.url}, ${event.ageSeconds} s old, after ${event.reason === "result" ? `status ${event.status}` : describeError(event.error)}`;
    case "fleet-degraded":
      return `shared state for ${event.key} unavailable (${errorName(event.error) ?? "error"}); deciding locally`;
    case "fleet-recovered":
      return `shared state for ${event.key} reachable again after ${event.degradedForMs} ms`;
    default:
      return undefined;
  }
}

const outcomeOf = (event: { readonly status: number | undefined; readonly errorName: string | undefined }): string =>
  event.status !== undefined ? `status ${event.status}` : (event.errorName ?? "an error");

function resultOf(event: { readonly threw: boolean; readonly error: unknown; readonly result: unknown }): string {
  return event.threw ? describeError(event.error) : describeResult(event.result);
}

function describeResult(result: unknown, otherwise = "a result"): string {
  const status = (result as { status?: unknown } | null | undefined)?.status;
  return typeof status === "number" ? `a result with status ${status}` : otherwise;
}

function describeError(error: unknown): string {
  // Any Error (`message` is on Error.prototype) and error-like objects, such as `{ name, message }` from a library.
  if (typeof error === "object" && error !== null && "message" in error) {
    const { name, message } = error as { name?: unknown; message?: unknown };
    return `${String(name ?? "Error")}: ${String(message)}`;
  }
  return String(error);
}
