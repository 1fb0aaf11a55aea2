/**
 * `staunch/otel`: staunch's events as OpenTelemetry metrics and span events. The only module that imports
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
 * | `staunch.retry_budget.refused_retries` | Counter | `{retry}` | — |
 * | `staunch.fallback.activations` | Counter | `{fallback}` | `staunch.fallback.reason`, outcome |
 *
 * - method: `http.request.method`, the method as sent, or `_OTHER` for one outside RFC 9110 (so a custom
 *   verb cannot grow the number of series).
 * - server: the origin as `server.address`, `server.port` (the scheme's default port filled in) and
 *   `url.scheme`, the attributes OTel's own HTTP client instrumentation puts on `http.client.request.duration`,
 *   so both join on them; none of the three when the origin could not be parsed.
 * - outcome: `http.response.status_code` when there was a response, plus `error.type` (the status as a
 *   string) when it is 400 or above, as OTel's HTTP conventions ask; `error.type` alone (the error's `name`:
 *   `TypeError`, `TimeoutError`…, else `_OTHER`) when the attempt threw. A non-HTTP result carries neither.
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
 * | `staunch.fallback` | `staunch.fallback.reason`, outcome |
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
import type { FallbackEvent } from "./fallback.ts";
import { redactUrl } from "./http/redact.ts";
import type { FetchEventBase, FetchGiveUpEvent, FetchRetryEvent, MetricsSink } from "./http/types.ts";
import type { GiveUpEvent, RetryEvent } from "./retry.ts";
import type { RetryBudgetState } from "./retry-budget.ts";
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

const TELEMETRY_KEYS = Object.keys({ meter: true, getSpan: true, attributes: true } satisfies Record<
  keyof StaunchTelemetryOptions,
  true
>);

/**
 * For `createFetch`: the metrics sink counts attempts, retries, give-ups and breaker transitions; the hooks
 * add the same retries, give-ups and transitions to the span as events (and record no metric, so nothing is
 * counted twice).
 *
 * @example
 * ```ts
 * import { staunchTelemetry } from "staunch/otel";
 * const api = createFetch({ attempts: 4, ...staunchTelemetry().fetchOptions });
 * ```
 */
export interface FetchTelemetryOptions {
  readonly metrics: MetricsSink;
  /** Adds a `staunch.retry` event to the span (the metrics sink already counts the retry). */
  readonly onRetry: (event: FetchRetryEvent) => void;
  /** Adds a `staunch.give_up` event to the span. */
  readonly onGiveUp: (event: FetchGiveUpEvent) => void;
  /** Adds a `staunch.breaker.state_change` event to the span. */
  readonly onBreakerStateChange: (change: CircuitStateChange) => void;
}

/**
 * For `retry`: counts retries and give-ups and adds them to the span.
 *
 * @example
 * ```ts
 * import { staunchTelemetry } from "staunch/otel";
 * const policy = retry({ attempts: 5, ...staunchTelemetry().retryOptions });
 * ```
 */
export interface RetryTelemetryOptions {
  /** Counts `staunch.retry.retries` and adds a `staunch.retry` event to the span. */
  readonly onRetry: (event: RetryEvent) => void;
  /** Counts `staunch.retry.give_ups` and adds a `staunch.give_up` event to the span. */
  readonly onGiveUp: (event: GiveUpEvent) => void;
}

/**
 * For `circuitBreaker`: counts transitions and adds them to the span. Name the breaker with `key`, which
 * becomes `staunch.breaker.key`. Not for createFetch's own breakers: `fetchOptions` reports those already.
 *
 * @example
 * ```ts
 * import { staunchTelemetry } from "staunch/otel";
 * const breaker = circuitBreaker({ key: "payments-db", ...staunchTelemetry().breakerOptions });
 * ```
 */
export interface BreakerTelemetryOptions {
  /** Counts `staunch.breaker.transitions` and adds a `staunch.breaker.state_change` event to the span. */
  readonly onStateChange: (change: CircuitStateChange) => void;
}

/**
 * For `retryBudget`: counts each retry the budget refuses and adds it to the span.
 *
 * @example
 * ```ts
 * import { staunchTelemetry } from "staunch/otel";
 * const budget = retryBudget({ ratio: 0.2, ...staunchTelemetry().budgetOptions });
 * ```
 */
export interface BudgetTelemetryOptions {
  /** Counts `staunch.retry_budget.refused_retries` and adds a `staunch.retry_budget.exhausted` event. */
  readonly onExhausted: (state: RetryBudgetState) => void;
}

/**
 * For `fallback`: counts each fallback and adds it to the span.
 *
 * @example
 * ```ts
 * import { staunchTelemetry } from "staunch/otel";
 * const policy = fallback([], { logger: console, ...staunchTelemetry().fallbackOptions });
 * ```
 */
export interface FallbackTelemetryOptions {
  /** Counts `staunch.fallback.activations` and adds a `staunch.fallback` event to the span. */
  readonly onFallback: (event: FallbackEvent) => void;
}

/**
 * Options to spread into each staunch factory, named for the factory they fit. To keep a hook of your own as
 * well, call both: `onRetry: (event) => { otel.retryOptions.onRetry(event); mine(event); }`.
 *
 * @example
 * ```ts
 * import { staunchTelemetry } from "staunch/otel";
 * const otel = staunchTelemetry();
 * const budget = retryBudget(otel.budgetOptions);
 * const api = createFetch({ budget, ...otel.fetchOptions });
 * const db = compose(fallback(null, otel.fallbackOptions), retry({ budget, ...otel.retryOptions }));
 * ```
 */
export interface StaunchTelemetry {
  readonly fetchOptions: FetchTelemetryOptions;
  readonly retryOptions: RetryTelemetryOptions;
  readonly breakerOptions: BreakerTelemetryOptions;
  readonly budgetOptions: BudgetTelemetryOptions;
  readonly fallbackOptions: FallbackTelemetryOptions;
}

/** Descriptions and units of the known instruments; a name not listed still works, undescribed. */
const INSTRUMENTS: Readonly<Record<string, MetricOptions>> = {
  "staunch.fetch.attempts": { unit: "{attempt}", description: "Attempts createFetch made, by outcome." },
  "staunch.fetch.attempt_duration_ms": {
    unit: "ms",
    description: "Time of one createFetch attempt, until its response headers or its error.",
  },
  "staunch.fetch.retries": {
    unit: "{retry}",
    description: "Retries createFetch started, by where the delay came from.",
  },
  "staunch.fetch.give_ups": {
    unit: "{give_up}",
    description: "createFetch calls that ended on a retryable failure, by the cap that stopped them.",
  },
  "staunch.fetch.duration_ms": {
    unit: "ms",
    description: "Time of a whole createFetch call, retries and sleeps included.",
  },
  "staunch.fetch.breaker_transitions": {
    unit: "{transition}",
    description: "State changes of createFetch's per-origin circuit breakers.",
  },
  "staunch.retry.retries": { unit: "{retry}", description: "Retries a retry policy started." },
  "staunch.retry.give_ups": {
    unit: "{give_up}",
    description: "Calls a retry policy ended on a retryable failure, by the cap that stopped them.",
  },
  "staunch.breaker.transitions": { unit: "{transition}", description: "State changes of circuit breakers." },
  "staunch.retry_budget.refused_retries": { unit: "{retry}", description: "Retries a spent retry budget refused." },
  "staunch.fallback.activations": { unit: "{fallback}", description: "Failures a fallback policy answered for." },
};

/** The methods of RFC 9110 and RFC 5789, as OTel's `http.request.method` lists them. */
const KNOWN_METHODS = new Set(["CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "TRACE"]);

const DEFAULT_PORTS: Readonly<Record<string, number>> = { "http:": 80, "https:": 443, "ws:": 80, "wss:": 443 };

/** createFetch's metric tags that only need a namespaced name; `method`, `origin` and `outcome` are mapped apart. */
const RENAMED_TAGS: Readonly<Record<string, string>> = {
  delay_source: "staunch.retry.delay_source",
  reason: "staunch.give_up.reason",
  from: "staunch.breaker.previous_state",
  to: "staunch.breaker.state",
};

/**
 * Turns staunch's events into OpenTelemetry metrics and span events. Spread the option sets it returns into
 * `createFetch`, `retry`, `circuitBreaker`, `retryBudget` and `fallback`; the metric and attribute names are
 * listed in this module's documentation. Nothing it records can fail a call: an error in a meter or span is
 * reported through OTel's `diag` logger instead.
 *
 * @example
 * ```ts
 * import { trace } from "@opentelemetry/api";
 * import { circuitBreaker, compose, createFetch, retry, retryBudget } from "staunch";
 * import { staunchTelemetry } from "staunch/otel";
 *
 * const otel = staunchTelemetry({ attributes: { "peer.service": "catalog" } });
 * const api = createFetch({ attempts: 4, ...otel.fetchOptions });
 *
 * const budget = retryBudget(otel.budgetOptions);
 * const db = compose(
 *   retry({ budget, ...otel.retryOptions }),
 *   circuitBreaker({ key: "catalog-db", ...otel.breakerOptions }),
 * );
 *
 * // Without a context manager (browsers, Workers), hand it the span yourself:
 * const requestSpan = trace.getTracer("app").startSpan("request");
 * const spanned = staunchTelemetry({ getSpan: () => requestSpan });
 * ```
 */
export function staunchTelemetry(options?: StaunchTelemetryOptions): StaunchTelemetry {
  const owner = "staunchTelemetry";
  const o = requireOptionsObject(owner, options) as StaunchTelemetryOptions;
  requireKnownKeys(owner, o, TELEMETRY_KEYS);
  optionalSink(owner, "meter", o.meter, ["createCounter", "createHistogram"]);
  if (o.attributes !== undefined) requireOptionsObject(`${owner}.attributes`, o.attributes);
  const instruments = instrumentsOf(o.meter);
  const getSpan =
    optionalFunction<() => Span | undefined>(owner, "getSpan", o.getSpan) ?? (() => trace.getActiveSpan());
  const common: Attributes = { ...o.attributes };

  const count = (name: string, attributes: Attributes): void =>
    instruments.counter(name).add(1, { ...common, ...attributes });
  const spanEvent = (name: string, attributes: Attributes): void => {
    const span = getSpan();
    if (span?.isRecording()) span.addEvent(name, { ...common, ...attributes });
  };

  const fetchRequest = (event: FetchEventBase): Attributes => ({
    ...methodAttributes(event.method, true),
    "url.full": telemetryUrl(event.url),
    "staunch.attempt": event.attempt,
    "staunch.elapsed_ms": event.elapsedMs,
    ...(event.status !== undefined ? statusAttributes(event.status) : { "error.type": event.errorName ?? "_OTHER" }),
  });
  const breakerChange = (change: CircuitStateChange): Attributes => ({
    "staunch.breaker.previous_state": change.from,
    "staunch.breaker.state": change.to,
  });
  const openFor = (change: CircuitStateChange): Attributes =>
    change.openForMs === undefined ? {} : { "staunch.breaker.open_for_ms": change.openForMs };

  return {
    fetchOptions: {
      metrics: {
        count: guarded("a count", (name: string, value: number, tags: Record<string, string>) =>
          instruments.counter(name).add(value, { ...common, ...tagAttributes(tags) }),
        ),
        timing: guarded("a timing", (name: string, durationMs: number, tags: Record<string, string>) =>
          instruments.histogram(name).record(durationMs, { ...common, ...tagAttributes(tags) }),
        ),
      },
      onRetry: guarded("a retry", (event: FetchRetryEvent) =>
        spanEvent("staunch.retry", {
          ...fetchRequest(event),
          "staunch.retry.delay_ms": event.delayMs,
          "staunch.retry.delay_source": event.delaySource,
        }),
      ),
      onGiveUp: guarded("a give-up", (event: FetchGiveUpEvent) =>
        spanEvent("staunch.give_up", { ...fetchRequest(event), "staunch.give_up.reason": event.reason }),
      ),
      onBreakerStateChange: guarded("a breaker transition", (change: CircuitStateChange) =>
        spanEvent("staunch.breaker.state_change", {
          ...serverAttributes(change.key ?? "unknown"),
          ...breakerChange(change),
          ...openFor(change),
        }),
      ),
    },
    retryOptions: {
      onRetry: guarded("a retry", (event: RetryEvent) => {
        const outcome = stateOutcome(event);
        count("staunch.retry.retries", outcome);
        spanEvent("staunch.retry", {
          "staunch.attempt": event.attempt,
          "staunch.elapsed_ms": event.elapsedMs,
          "staunch.retry.delay_ms": event.delayMs,
          ...outcome,
        });
      }),
      onGiveUp: guarded("a give-up", (event: GiveUpEvent) => {
        const attributes = { "staunch.give_up.reason": event.reason, ...stateOutcome(event) };
        count("staunch.retry.give_ups", attributes);
        spanEvent("staunch.give_up", {
          "staunch.attempt": event.attempt,
          "staunch.elapsed_ms": event.elapsedMs,
          ...attributes,
        });
      }),
    },
    breakerOptions: {
      onStateChange: guarded("a breaker transition", (change: CircuitStateChange) => {
        const attributes = {
          ...(change.key === undefined ? {} : { "staunch.breaker.key": change.key }),
          ...breakerChange(change),
        };
        count("staunch.breaker.transitions", attributes);
        spanEvent("staunch.breaker.state_change", { ...attributes, ...openFor(change) });
      }),
    },
    budgetOptions: {
      onExhausted: guarded("a refused retry", (state: RetryBudgetState) => {
        count("staunch.retry_budget.refused_retries", {});
        spanEvent("staunch.retry_budget.exhausted", {
          "staunch.retry_budget.requests": state.requests,
          "staunch.retry_budget.retries": state.retries,
        });
      }),
    },
    fallbackOptions: {
      onFallback: guarded("a fallback", (event: FallbackEvent) => {
        const attributes = {
          "staunch.fallback.reason": event.reason,
          ...(event.reason === "result" ? resultAttributes(event.result) : errorAttributes(event.error)),
        };
        count("staunch.fallback.activations", attributes);
        spanEvent("staunch.fallback", attributes);
      }),
    },
  };
}

/**
 * Runs a recording step so that its failure goes to OTel's diag logger, not to the call it observes: these
 * hooks run inside staunch's retry loop and breaker, where a throw would fail the call.
 */
function guarded<A extends unknown[]>(what: string, step: (...args: A) => void): (...args: A) => void {
  return (...args) => {
    try {
      step(...args);
    } catch (error) {
      diag.error(`staunch/otel: recording ${what} failed`, error);
    }
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
  return {
    counter(name) {
      const current = currentMeter();
      let counter = counters.get(name);
      if (counter === undefined) {
        counter = current.createCounter(name, INSTRUMENTS[name]);
        counters.set(name, counter);
      }
      return counter;
    },
    histogram(name) {
      const current = currentMeter();
      let histogram = histograms.get(name);
      if (histogram === undefined) {
        // The sink's timings are all in ms, listed or not.
        histogram = current.createHistogram(name, INSTRUMENTS[name] ?? { unit: "ms" });
        histograms.set(name, histogram);
      }
      return histogram;
    },
  };
}

/** createFetch's metric tags as OTel attributes; a tag staunch adds later keeps its value as `staunch.<tag>`. */
function tagAttributes(tags: Record<string, string>): Attributes {
  let attributes: Attributes = {};
  for (const [tag, value] of Object.entries(tags)) {
    if (tag === "method") attributes = { ...attributes, ...methodAttributes(value, false) };
    else if (tag === "origin") attributes = { ...attributes, ...serverAttributes(value) };
    else if (tag === "outcome") attributes = { ...attributes, ...outcomeAttributes(value) };
    else attributes[RENAMED_TAGS[tag] ?? `staunch.${tag}`] = value;
  }
  return attributes;
}

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
  return { "error.type": errorName(error) ?? "_OTHER" };
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
