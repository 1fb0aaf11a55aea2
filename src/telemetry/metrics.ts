/**
 * `metricsTo(sink)`: staunch's events as counters and timings, named as in `TELEMETRY.metrics`. A listener like
 * any other, so a client without metrics bundles none of this.
 */

import { errorName } from "../transient.ts";
import { optionError } from "../validate.ts";
import { METRIC_NAMES, type TelemetryEvent, type TelemetryListener } from "./events.ts";

/** Where counters and timings go (StatsD, Prometheus, OpenTelemetry…). */
export interface MetricsSink {
  /** Adds `value` to the counter `name`. */
  count(name: string, value: number, tags: Record<string, string>): void;
  /** Records one duration, in ms, in the distribution `name`. */
  timing(name: string, durationMs: number, tags: Record<string, string>): void;
}

const M = METRIC_NAMES;

/**
 * A listener that counts every event in `sink` and times createFetch's attempts and calls. Names and tags (the
 * README lists them): createFetch's metrics carry `method` and `origin`, its attempts and calls an `outcome`
 * (a status, or an error's name); URLs are never tags, which would multiply the series.
 *
 * @example
 * ```ts
 * const sink: MetricsSink = {
 *   count: (name, value, tags) => console.log(name, value, tags),
 *   timing: (name, ms, tags) => console.log(name, ms, tags),
 * };
 * const api = createFetch({ telemetry: [logTo(console), metricsTo(sink)] });
 * ```
 */
export function metricsTo(sink: MetricsSink): TelemetryListener {
  if (typeof sink?.count !== "function" || typeof sink.timing !== "function") {
    throw optionError(TypeError, "metricsTo", "sink", "an object with count and timing methods", sink);
  }
  return (event) => record(sink, event);
}

function record(sink: MetricsSink, event: TelemetryEvent): void {
  if (event.type === "fetch-attempt") {
    const tags = { method: event.method, origin: event.origin, outcome: outcomeTag(event) };
    sink.count(M.fetchAttempts, 1, tags);
    sink.timing(M.fetchAttemptDurationMs, event.durationMs, tags);
  } else if (event.type === "fetch-end") {
    sink.timing(M.fetchDurationMs, event.durationMs, {
      method: event.method,
      origin: event.origin,
      outcome: outcomeTag(event),
    });
  } else {
    const [name, tags] = counted(event);
    sink.count(name, 1, tags);
  }
}

/** The counter an event adds one to, and its tags. */
function counted(
  event: Exclude<TelemetryEvent, { readonly type: "fetch-attempt" | "fetch-end" }>,
): [string, Record<string, string>] {
  switch (event.type) {
    case "fetch-retry":
      return [M.fetchRetries, { method: event.method, origin: event.origin, delay_source: event.delaySource }];
    case "fetch-give-up":
      return [M.fetchGiveUps, { method: event.method, origin: event.origin, reason: event.reason }];
    case "fetch-fallback":
      return [M.fetchFallbacks, { method: event.method, origin: event.origin, reason: event.reason }];
    case "circuit-state-change":
      return event.origin !== undefined
        ? [M.fetchBreakerTransitions, { origin: event.origin, from: event.from, to: event.to }]
        : [
            M.breakerTransitions,
            { ...(event.key === undefined ? {} : { key: event.key }), from: event.from, to: event.to },
          ];
    case "retry":
      return [M.retries, resultTags(event)];
    case "give-up":
      return [M.giveUps, { reason: event.reason, ...resultTags(event) }];
    case "fallback":
      return [
        M.fallbacks,
        {
          reason: event.reason,
          ...resultTags({ threw: event.reason !== "result", error: event.error, result: event.result }),
        },
      ];
    case "retry-budget-exhausted":
      return [M.budgetRefusedRetries, {}];
    case "hedge":
      return [M.hedges, { trigger: event.trigger }];
    case "timeout":
      return [M.timeouts, {}];
    case "bulkhead-rejected":
      return [M.bulkheadRejections, {}];
    case "rate-limited":
      return [M.rateLimitRejections, {}];
    case "throttle-rejected":
      return [M.throttleRejections, {}];
    case "stale-served":
      return [M.staleServed, { reason: event.reason }];
    case "fleet-degraded":
      return [M.fleetDegraded, { operation: event.operation }];
    case "fleet-recovered":
      return [M.fleetRecovered, {}];
  }
}

/** createFetch's `outcome` tag: the status ("503"), or the error's name ("TimeoutError"). */
const outcomeTag = (event: { readonly status: number | undefined; readonly errorName: string | undefined }): string =>
  event.status !== undefined ? String(event.status) : (event.errorName ?? "Error");

/**
 * A `retry` or `fallback` outcome as an `outcome` tag: the error's name when it threw, the status when the
 * result looks like an HTTP response, else no tag (a result's value would multiply the series).
 */
function resultTags(state: {
  readonly threw: boolean;
  readonly error: unknown;
  readonly result: unknown;
}): Record<string, string> {
  if (state.threw) return { outcome: errorName(state.error) ?? "Error" };
  const status = (state.result as { status?: unknown } | null | undefined)?.status;
  return typeof status === "number" && Number.isInteger(status) && status >= 100 && status <= 599
    ? { outcome: String(status) }
    : {};
}
