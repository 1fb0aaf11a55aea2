/**
 * `staunch/otel`: staunch's events as OpenTelemetry metrics and span events, through one listener that every
 * policy takes in its `telemetry` option and that covers every event. The only module that imports
 * `@opentelemetry/api` (an optional peer dependency), so the main entry stays dependency-free.
 *
 * Metrics (every counter is monotonic, every histogram is in ms; all carry the `attributes` option too):
 *
 * | name | instrument | unit | attributes |
 * | --- | --- | --- | --- |
 * | `staunch.fetch.attempts` | Counter | `{attempt}` | method, server, outcome |
 * | `staunch.fetch.attempt_duration_ms` | Histogram | `ms` | method, server, outcome |
 * | `staunch.fetch.retries` | Counter | `{retry}` | method, server, `staunch.retry.delay_source` |
 * | `staunch.fetch.give_ups` | Counter | `{give_up}` | method, server, `staunch.give_up.reason` |
 * | `staunch.fetch.duration_ms` | Histogram | `ms` | method, server, outcome (of the whole call) |
 * | `staunch.fetch.breaker_transitions` | Counter | `{transition}` | server, `staunch.breaker.previous_state`, `staunch.breaker.state` |
 * | `staunch.retry.retries` | Counter | `{retry}` | outcome |
 * | `staunch.retry.give_ups` | Counter | `{give_up}` | `staunch.give_up.reason`, outcome |
 * | `staunch.breaker.transitions` | Counter | `{transition}` | `staunch.breaker.key`, `staunch.breaker.previous_state`, `staunch.breaker.state` |
 * | `staunch.fetch.fallbacks` | Counter | `{fallback}` | method, server, `staunch.fallback.reason` (`error` or `status`) |
 * | `staunch.retry_budget.refused_retries` | Counter | `{retry}` | — |
 * | `staunch.fallback.activations` | Counter | `{fallback}` | `staunch.fallback.reason`, outcome |
 * | `staunch.hedge.hedges` | Counter | `{hedge}` | `staunch.hedge.trigger` (`delay` or `failure`) |
 * | `staunch.timeout.timeouts` | Counter | `{timeout}` | — |
 * | `staunch.bulkhead.rejections` | Counter | `{call}` | — |
 * | `staunch.rate_limiter.rejections` | Counter | `{call}` | — |
 * | `staunch.adaptive_throttle.rejections` | Counter | `{call}` | — |
 * | `staunch.edge.stale_served` | Counter | `{response}` | `staunch.stale.reason` |
 * | `staunch.fleet.degradations` | Counter | `{degradation}` | `staunch.fleet.operation` |
 * | `staunch.fleet.recoveries` | Counter | `{recovery}` | — |
 *
 * - method: `http.request.method`, the method as sent, or `_OTHER` for one outside RFC 9110 (so a custom
 *   verb cannot grow the number of series).
 * - server: the origin as `server.address`, `server.port` (the scheme's default port filled in) and
 *   `url.scheme`, the attributes OTel's own HTTP client instrumentation puts on `http.client.request.duration`,
 *   so both join on them; none of the three when the origin could not be parsed.
 * - outcome: `http.response.status_code` when there was a response, plus `error.type` (the status as a
 *   string) when it is 400 or above, as OTel's HTTP conventions ask; `error.type` alone (the error's `name`:
 *   `TypeError`, `TimeoutError`…, else `Error`) when the attempt threw. A non-HTTP result carries neither.
 * - `staunch.retry.delay_source`: `backoff` or `retry-after`. `staunch.give_up.reason`: `attempts`,
 *   `elapsed`, `delay`, `budget` or `retry-after`. Breaker states: `closed`, `open`, `half-open`, `isolated`.
 *   `staunch.fallback.reason`: `error`, `timeout`, `circuit-open` or `result` (`FallbackReason`).
 *
 * Span events, on the active span (or the one `getSpan` returns), only while it is recording:
 *
 * | name | attributes |
 * | --- | --- |
 * | `staunch.retry` | `staunch.attempt` (the attempt that ended), `staunch.elapsed_ms`, `staunch.retry.delay_ms`, outcome; from createFetch also `http.request.method`, `url.full`, `staunch.retry.delay_source` |
 * | `staunch.give_up` | `staunch.attempt`, `staunch.elapsed_ms`, `staunch.give_up.reason`, outcome; from createFetch also `http.request.method`, `url.full` |
 * | `staunch.breaker.state_change` | `staunch.breaker.previous_state`, `staunch.breaker.state`, `staunch.breaker.open_for_ms` (when opening); server (createFetch) or `staunch.breaker.key` |
 * | `staunch.retry_budget.exhausted` | `staunch.retry_budget.requests`, `staunch.retry_budget.retries` (counts in the budget's window) |
 * | `staunch.fallback` | `staunch.fallback.reason`, outcome; from createFetch also `http.request.method`, `url.full` |
 * | `staunch.hedge` | `staunch.attempt` (the attempt starting), `staunch.elapsed_ms`, `staunch.hedge.trigger` |
 * | `staunch.timeout` | `staunch.timeout.timeout_ms` |
 * | `staunch.bulkhead.rejected` | `staunch.bulkhead.limit`, `staunch.bulkhead.queue` |
 * | `staunch.rate_limiter.rejected` | `staunch.rate_limiter.retry_after_ms` |
 * | `staunch.adaptive_throttle.rejected` | `staunch.adaptive_throttle.probability` |
 * | `staunch.stale_served` | `url.full`, `staunch.stale.reason`, `staunch.stale.age_s`, `http.response.status_code` (reason `result`) |
 * | `staunch.fleet.degraded` | `staunch.fleet.key`, `staunch.fleet.operation`, `error.type` |
 * | `staunch.fleet.recovered` | `staunch.fleet.key`, `staunch.fleet.degraded_for_ms` |
 *
 * `url.full` never has a query string, fragment or credentials, even with createFetch's `redactUrl: false`:
 * telemetry travels further than logs. URLs never appear on metrics, whose series they would multiply; a span
 * event with an unknown method also gets `http.request.method_original`.
 *
 * @packageDocumentation
 */

import {
  type Attributes,
  type Counter,
  diag,
  type Histogram,
  type Meter,
  type MeterProvider,
  type MetricOptions,
  metrics,
  type Span,
  trace,
} from "@opentelemetry/api";
import type { CircuitStateChange } from "./circuit-breaker.ts";
import { redactUrl } from "./http/redact.ts";
import type { FetchEventBase } from "./http/types.ts";
import { TELEMETRY, type TelemetryEvent, type TelemetryListener } from "./telemetry/events.ts";
import { metricsTo } from "./telemetry/metrics.ts";
import { errorName } from "./transient.ts";
import { optionalFunction, optionalSink, requireKnownKeys, requireOptionsObject } from "./validate.ts";

/** The instrumentation scope. A test keeps the version in step with package.json. */
const SCOPE_NAME = "staunch";
const SCOPE_VERSION = "0.1.0";

/** Options of {@link staunchTelemetry}. */
export interface StaunchTelemetryOptions {
  /**
   * Where the instruments are created. Default: the meter `"staunch"` of the global `MeterProvider`, looked up
   * again whenever the global provider changes, so a client built before the SDK starts still reports.
   */
  readonly meter?: Meter;
  /**
   * The span that receives events. Default: `trace.getActiveSpan()`, which needs a context manager (the Node
   * SDK registers one; elsewhere, pass the span you hold, e.g. `() => span`).
   */
  readonly getSpan?: () => Span | undefined;
  /**
   * Added to every metric point and span event: tells apart the clients or policies that share one meter, e.g.
   * `{ "peer.service": "payments" }`. Keep the values few: each one makes new series.
   */
  readonly attributes?: Attributes;
}

const TELEMETRY_KEYS = /* @__PURE__ */ Object.keys({ meter: true, getSpan: true, attributes: true } satisfies Record<
  keyof StaunchTelemetryOptions,
  true
>);

const M = TELEMETRY.metrics;

/** Descriptions and units of the instruments, one for each metric name staunch records. */
const INSTRUMENTS: Readonly<Record<(typeof M)[keyof typeof M], MetricOptions>> = {
  [M.fetchAttempts]: { unit: "{attempt}", description: "Attempts createFetch made, by outcome." },
  [M.fetchAttemptDurationMs]: {
    unit: "ms",
    description: "Time of one createFetch attempt, until its response headers or its error.",
  },
  [M.fetchRetries]: { unit: "{retry}", description: "Retries createFetch started, by where the delay came from." },
  [M.fetchGiveUps]: {
    unit: "{give_up}",
    description: "createFetch calls that ended on a retryable failure, by the cap that stopped them.",
  },
  [M.fetchDurationMs]: { unit: "ms", description: "Time of a whole createFetch call, retries and sleeps included." },
  [M.fetchBreakerTransitions]: {
    unit: "{transition}",
    description: "State changes of createFetch's per-origin circuit breakers.",
  },
  [M.fetchFallbacks]: { unit: "{fallback}", description: "createFetch calls its fallback answered for." },
  [M.retries]: { unit: "{retry}", description: "Retries a retry policy started." },
  [M.giveUps]: {
    unit: "{give_up}",
    description: "Calls a retry policy ended on a retryable failure, by the cap that stopped them.",
  },
  [M.breakerTransitions]: { unit: "{transition}", description: "State changes of circuit breakers." },
  [M.budgetRefusedRetries]: { unit: "{retry}", description: "Retries a spent retry budget refused." },
  [M.fallbacks]: { unit: "{fallback}", description: "Failures a fallback policy answered for." },
  [M.hedges]: { unit: "{hedge}", description: "Extra attempts a hedge policy started." },
  [M.timeouts]: { unit: "{timeout}", description: "Deadlines a timeout policy enforced." },
  [M.bulkheadRejections]: { unit: "{call}", description: "Calls a full bulkhead refused." },
  [M.rateLimitRejections]: { unit: "{call}", description: "Calls a rate limiter refused." },
  [M.throttleRejections]: { unit: "{call}", description: "Calls an adaptive throttle rejected locally." },
  [M.staleServed]: { unit: "{response}", description: "Stored copies served for a failed origin." },
  [M.fleetDegraded]: { unit: "{degradation}", description: "Times the fleet's store stopped answering for a key." },
  [M.fleetRecovered]: { unit: "{recovery}", description: "Times the fleet's store answered again for a key." },
};

/** What a metric's `reason` tag is as an attribute: a give-up's cap or a fallback's or a stale copy's reason. */
const REASON_ATTRIBUTES: Readonly<Record<string, string>> = {
  [M.fetchGiveUps]: "staunch.give_up.reason",
  [M.giveUps]: "staunch.give_up.reason",
  [M.fetchFallbacks]: "staunch.fallback.reason",
  [M.fallbacks]: "staunch.fallback.reason",
  [M.staleServed]: "staunch.stale.reason",
};

/** Metric tags that only need a namespaced name; `method`, `origin`, `outcome` and `reason` are mapped apart. */
const RENAMED_TAGS: Readonly<Record<string, string>> = {
  delay_source: "staunch.retry.delay_source",
  from: "staunch.breaker.previous_state",
  to: "staunch.breaker.state",
  key: "staunch.breaker.key",
  trigger: "staunch.hedge.trigger",
  operation: "staunch.fleet.operation",
};

/**
 * One listener that turns every staunch event into OpenTelemetry metrics and span events: give it to any
 * policy's `telemetry` option, beside your own listeners. The metric and attribute names are listed in this
 * module's documentation. Nothing it records can fail a call: an error in a meter or span is reported through
 * OTel's `diag` logger instead.
 *
 * @example
 * ```ts
 * import { trace } from "@opentelemetry/api";
 * import { circuitBreaker, compose, createFetch, logTo, retry, retryBudget } from "staunch";
 * import { staunchTelemetry } from "staunch/otel";
 *
 * const otel = staunchTelemetry({ attributes: { "peer.service": "catalog" } });
 * const api = createFetch({ attempts: 4, telemetry: [otel, logTo(console)] });
 *
 * const budget = retryBudget({ telemetry: otel });
 * const db = compose(
 *   retry({ budget, telemetry: otel }),
 *   circuitBreaker({ key: "catalog-db", telemetry: otel }),
 * );
 *
 * // Without a context manager (browsers, Workers), hand it the span yourself:
 * const requestSpan = trace.getTracer("app").startSpan("request");
 * const spanned = staunchTelemetry({ getSpan: () => requestSpan });
 * ```
 */
export function staunchTelemetry(options?: StaunchTelemetryOptions): TelemetryListener {
  const owner = "staunchTelemetry";
  const o = requireOptionsObject(owner, options) as StaunchTelemetryOptions;
  requireKnownKeys(owner, o, TELEMETRY_KEYS);
  optionalSink(owner, "meter", o.meter, ["createCounter", "createHistogram"]);
  if (o.attributes !== undefined) requireOptionsObject(`${owner}.attributes`, o.attributes);
  const instruments = instrumentsOf(o.meter);
  const getSpan =
    optionalFunction<() => Span | undefined>(owner, "getSpan", o.getSpan) ?? (() => trace.getActiveSpan());
  const common: Attributes = { ...o.attributes };

  // The metrics are metricsTo's, the one mapping of events to metric names and tags.
  const recordMetric = metricsTo({
    count: (name, value, tags) => instruments.counter(name).add(value, { ...common, ...tagAttributes(name, tags) }),
    timing: (name, durationMs, tags) =>
      instruments.histogram(name).record(durationMs, { ...common, ...tagAttributes(name, tags) }),
  });
  const addSpanEvent = (event: TelemetryEvent): void => {
    const described = spanEventOf(event);
    if (described === undefined) return;
    const span = getSpan();
    if (span?.isRecording()) span.addEvent(described[0], { ...common, ...described[1] });
  };

  return (event) => {
    try {
      recordMetric(event);
    } catch (error) {
      diag.error(`staunch/otel: recording the metric of ${event.type} failed`, error);
    }
    try {
      addSpanEvent(event);
    } catch (error) {
      diag.error(`staunch/otel: recording the span event of ${event.type} failed`, error);
    }
  };
}

/** The span event of a staunch event: its name and attributes; none for each attempt and each call's end. */
function spanEventOf(event: TelemetryEvent): [string, Attributes] | undefined {
  switch (event.type) {
    case "fetch-retry":
      return [
        "staunch.retry",
        {
          ...fetchRequest(event),
          "staunch.retry.delay_ms": event.delayMs,
          "staunch.retry.delay_source": event.delaySource,
        },
      ];
    case "fetch-give-up":
      return ["staunch.give_up", { ...fetchRequest(event), "staunch.give_up.reason": event.reason }];
    case "fetch-fallback":
      return [
        "staunch.fallback",
        {
          ...methodAttributes(event.method, true),
          "url.full": telemetryUrl(event.url),
          "staunch.fallback.reason": event.reason,
          ...(event.status !== undefined
            ? statusAttributes(event.status)
            : { "error.type": event.errorName ?? "Error" }),
        },
      ];
    case "circuit-state-change":
      return [
        "staunch.breaker.state_change",
        {
          ...(event.origin !== undefined
            ? serverAttributes(event.origin)
            : event.key === undefined
              ? {}
              : { "staunch.breaker.key": event.key }),
          ...breakerChange(event),
        },
      ];
    case "retry":
      return [
        "staunch.retry",
        {
          "staunch.attempt": event.attempt,
          "staunch.elapsed_ms": event.elapsedMs,
          "staunch.retry.delay_ms": event.delayMs,
          ...stateOutcome(event),
        },
      ];
    case "give-up":
      return [
        "staunch.give_up",
        {
          "staunch.attempt": event.attempt,
          "staunch.elapsed_ms": event.elapsedMs,
          "staunch.give_up.reason": event.reason,
          ...stateOutcome(event),
        },
      ];
    case "retry-budget-exhausted":
      return [
        "staunch.retry_budget.exhausted",
        { "staunch.retry_budget.requests": event.requests, "staunch.retry_budget.retries": event.retries },
      ];
    case "fallback":
      return [
        "staunch.fallback",
        {
          "staunch.fallback.reason": event.reason,
          ...(event.reason === "result" ? resultAttributes(event.result) : errorAttributes(event.error)),
        },
      ];
    case "hedge":
      return [
        "staunch.hedge",
        {
          "staunch.attempt": event.attempt,
          "staunch.elapsed_ms": event.elapsedMs,
          "staunch.hedge.trigger": event.trigger,
        },
      ];
    case "timeout":
      return ["staunch.timeout", { "staunch.timeout.timeout_ms": event.timeoutMs }];
    case "bulkhead-rejected":
      return [
        "staunch.bulkhead.rejected",
        { "staunch.bulkhead.limit": event.limit, "staunch.bulkhead.queue": event.queue },
      ];
    case "rate-limited":
      return ["staunch.rate_limiter.rejected", { "staunch.rate_limiter.retry_after_ms": event.retryAfterMs }];
    case "throttle-rejected":
      return ["staunch.adaptive_throttle.rejected", { "staunch.adaptive_throttle.probability": event.probability }];
    case "stale-served":
      return [
        "staunch.stale_served",
        {
          "url.full": telemetryUrl(event.url),
          "staunch.stale.reason": event.reason,
          "staunch.stale.age_s": event.ageSeconds,
          ...(event.status === undefined ? {} : { "http.response.status_code": event.status }),
        },
      ];
    case "fleet-degraded":
      return [
        "staunch.fleet.degraded",
        { "staunch.fleet.key": event.key, "staunch.fleet.operation": event.operation, ...errorAttributes(event.error) },
      ];
    case "fleet-recovered":
      return [
        "staunch.fleet.recovered",
        { "staunch.fleet.key": event.key, "staunch.fleet.degraded_for_ms": event.degradedForMs },
      ];
    default:
      return undefined;
  }
}

function fetchRequest(event: FetchEventBase): Attributes {
  return {
    ...methodAttributes(event.method, true),
    "url.full": telemetryUrl(event.url),
    "staunch.attempt": event.attempt,
    "staunch.elapsed_ms": event.elapsedMs,
    ...(event.status !== undefined ? statusAttributes(event.status) : { "error.type": event.errorName ?? "Error" }),
  };
}

function breakerChange(change: CircuitStateChange): Attributes {
  return {
    "staunch.breaker.previous_state": change.from,
    "staunch.breaker.state": change.to,
    ...(change.openForMs === undefined ? {} : { "staunch.breaker.open_for_ms": change.openForMs }),
  };
}

/** Counters and histograms, created once per name and meter. */
function instrumentsOf(given: Meter | undefined): {
  counter(name: string): Counter;
  histogram(name: string): Histogram;
} {
  const counters = new Map<string, Counter>();
  const histograms = new Map<string, Histogram>();
  let provider: MeterProvider | undefined;
  let meter = given;
  const currentMeter = (): Meter => {
    if (given !== undefined) return given;
    // The API has no proxy meter (it has one for tracers): a meter taken before the SDK registers its provider
    // stays a no-op for good. So the global provider is looked up at each record, and a new one gets new
    // instruments.
    const global = metrics.getMeterProvider();
    if (global !== provider || meter === undefined) {
      provider = global;
      meter = global.getMeter(SCOPE_NAME, SCOPE_VERSION);
      counters.clear();
      histograms.clear();
    }
    return meter;
  };
  const described = (name: string): MetricOptions | undefined =>
    (INSTRUMENTS as Readonly<Record<string, MetricOptions>>)[name];
  return {
    counter(name) {
      const current = currentMeter();
      let counter = counters.get(name);
      if (counter === undefined) {
        counter = current.createCounter(name, described(name));
        counters.set(name, counter);
      }
      return counter;
    },
    histogram(name) {
      const current = currentMeter();
      let histogram = histograms.get(name);
      if (histogram === undefined) {
        histogram = current.createHistogram(name, described(name) ?? { unit: "ms" });
        histograms.set(name, histogram);
      }
      return histogram;
    },
  };
}

/** A metric's tags as OTel attributes; a tag staunch adds later keeps its value as `staunch.<tag>`. */
function tagAttributes(metric: string, tags: Record<string, string>): Attributes {
  let attributes: Attributes = {};
  for (const [tag, value] of Object.entries(tags)) {
    if (tag === "method") attributes = { ...attributes, ...methodAttributes(value, false) };
    else if (tag === "origin") attributes = { ...attributes, ...serverAttributes(value) };
    else if (tag === "outcome") attributes = { ...attributes, ...outcomeAttributes(value) };
    else if (tag === "reason") attributes[REASON_ATTRIBUTES[metric] ?? "staunch.reason"] = value;
    else attributes[RENAMED_TAGS[tag] ?? `staunch.${tag}`] = value;
  }
  return attributes;
}

/** The methods of RFC 9110 and RFC 5789, as OTel's `http.request.method` lists them. */
const KNOWN_METHODS = new Set(["CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "TRACE"]);

const DEFAULT_PORTS: Readonly<Record<string, number>> = { "http:": 80, "https:": 443, "ws:": 80, "wss:": 443 };

/**
 * `http.request.method`, with `_OTHER` for a method outside the standard set. Only a span event keeps the
 * original (`http.request.method_original`): on a metric every custom verb would be a new series.
 */
function methodAttributes(method: string, keepOriginal: boolean): Attributes {
  if (KNOWN_METHODS.has(method)) return { "http.request.method": method };
  return keepOriginal
    ? { "http.request.method": "_OTHER", "http.request.method_original": method }
    : { "http.request.method": "_OTHER" };
}

/** An origin (`scheme://host:port`) as OTel's server attributes; none when it does not parse ("unknown", "null"). */
function serverAttributes(origin: string): Attributes {
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return {};
  }
  const port = url.port === "" ? DEFAULT_PORTS[url.protocol] : Number(url.port);
  return {
    // An IPv6 host comes bracketed from URL; OTel's examples give the bare address.
    "server.address": url.hostname.replace(/^\[(.*)\]$/, "$1"),
    "url.scheme": url.protocol.slice(0, -1),
    ...(port === undefined ? {} : { "server.port": port }),
  };
}

/** createFetch's `outcome` tag: a status ("503") or an error name ("TimeoutError"). */
function outcomeAttributes(outcome: string): Attributes {
  return /^\d{3}$/.test(outcome) ? statusAttributes(Number(outcome)) : { "error.type": outcome };
}

/** OTel's HTTP client conventions count a 4xx or 5xx as an error whose type is the status code. */
function statusAttributes(status: number): Attributes {
  return status >= 400
    ? { "http.response.status_code": status, "error.type": String(status) }
    : { "http.response.status_code": status };
}

function errorAttributes(error: unknown): Attributes {
  // "Error" for a thrown value without a name, as metricsTo tags it and createFetch names it: one value a dashboard
  // joins on, in metrics and span events alike.
  return { "error.type": errorName(error) ?? "Error" };
}

/** A result's status when it looks like an HTTP response (a `retry` or `fallback` around `fetch`); else nothing. */
function resultAttributes(result: unknown): Attributes {
  const status = (result as { status?: unknown } | null | undefined)?.status;
  return typeof status === "number" && Number.isInteger(status) && status >= 100 && status <= 599
    ? statusAttributes(status)
    : {};
}

function stateOutcome(state: { readonly threw: boolean; readonly error: unknown; readonly result: unknown }) {
  return state.threw ? errorAttributes(state.error) : resultAttributes(state.result);
}

/**
 * The URL as telemetry may carry it: redacted again whatever createFetch's `redactUrl` let through, because
 * traces are kept longer and seen by more people than logs. A custom redaction that is not a URL (a route
 * template, say) keeps its shape, cut at its query or fragment.
 */
function telemetryUrl(url: string): string {
  try {
    new URL(url);
  } catch {
    const cut = url.search(/[?#]/);
    return cut === -1 ? url : `${url.slice(0, cut)}${url[cut] === "?" ? "?…" : ""}`;
  }
  return redactUrl(url);
}
