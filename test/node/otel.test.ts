/**
 * staunch/otel against the real OpenTelemetry SDK: a MeterProvider read through the in-memory exporter, a
 * tracer provider whose finished spans land in the in-memory span exporter, and real createFetch clients and
 * policies on a fake clock, their fetch injected.
 */

import { AsyncLocalStorage } from "node:async_hooks";
import { readFileSync } from "node:fs";
import {
  type Attributes,
  type Context,
  type ContextManager,
  context,
  type Meter,
  metrics,
  ROOT_CONTEXT,
} from "@opentelemetry/api";
import {
  AggregationTemporality,
  DataPointType,
  InMemoryMetricExporter,
  MeterProvider,
  type MetricData,
  PeriodicExportingMetricReader,
} from "@opentelemetry/sdk-metrics";
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type TimedEvent,
} from "@opentelemetry/sdk-trace-base";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  type CreateFetchOptions,
  circuitBreaker,
  consecutiveFailures,
  createFetch,
  fallback,
  fetchFallback,
  hedge,
  type Outcome,
  retry,
  retryBudget,
  TELEMETRY,
  type TelemetryEventOf,
  type TelemetryEventType,
} from "../../src/index.ts";
import { type StaunchTelemetryOptions, staunchTelemetry } from "../../src/otel.ts";
import { FakeClock } from "../support/fake-clock.ts";

/**
 * What the SDK's AsyncLocalStorageContextManager does, in a few lines: that class lives in
 * @opentelemetry/context-async-hooks, which is not a devDependency. Without a context manager no span is ever
 * active in Node, and `trace.getActiveSpan()` finds nothing.
 */
class AsyncLocalStorageContext implements ContextManager {
  readonly #storage = new AsyncLocalStorage<Context>();
  active(): Context {
    return this.#storage.getStore() ?? ROOT_CONTEXT;
  }
  with<A extends unknown[], F extends (...args: A) => ReturnType<F>>(
    context: Context,
    fn: F,
    thisArg?: ThisParameterType<F>,
    ...args: A
  ): ReturnType<F> {
    return this.#storage.run(context, () => Reflect.apply(fn, thisArg, args));
  }
  bind<T>(context: Context, target: T): T {
    if (typeof target !== "function") return target;
    return ((...args: unknown[]) =>
      this.with(context, target as (...a: unknown[]) => unknown, undefined, ...args)) as T;
  }
  enable(): this {
    return this;
  }
  disable(): this {
    this.#storage.disable();
    return this;
  }
}

beforeAll(() => {
  context.setGlobalContextManager(new AsyncLocalStorageContext());
});
afterAll(() => {
  context.disable();
});

const noJitter = { initialMs: 100, jitter: "none" } as const;
const URL_WITH_TOKEN = "https://api.example.com/v1/items?token=secret#top";
/** The server attributes of https://api.example.com. */
const server = { "server.address": "api.example.com", "server.port": 443, "url.scheme": "https" };

interface Point {
  readonly attributes: Attributes;
  readonly value: unknown;
}

/** An SDK meter and tracer whose output the test reads back. */
function sdk() {
  const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  // Exports only when flushed: the interval is there because the reader requires one.
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 });
  const meterProvider = new MeterProvider({ readers: [reader] });
  const spanExporter = new InMemorySpanExporter();
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spanExporter)] });
  const rig = {
    meterProvider,
    meter: meterProvider.getMeter("test"),
    tracer: tracerProvider.getTracer("test"),
    async metric(name: string): Promise<MetricData | undefined> {
      await reader.forceFlush();
      const latest = exporter.getMetrics().at(-1);
      return latest?.scopeMetrics.flatMap((scope) => scope.metrics).find((m) => m.descriptor.name === name);
    },
    /** The instrumentation scope a metric was recorded under. */
    async scopeOf(name: string): Promise<{ name: string; version: string | undefined } | undefined> {
      await reader.forceFlush();
      const scope = exporter
        .getMetrics()
        .at(-1)
        ?.scopeMetrics.find((s) => s.metrics.some((m) => m.descriptor.name === name))?.scope;
      return scope && { name: scope.name, version: scope.version };
    },
    /** The data points of a metric: a number for a counter, `{ count, sum }` for a histogram. */
    async points(name: string): Promise<Point[]> {
      const metric = await rig.metric(name);
      return (metric?.dataPoints ?? []).map((p: { attributes: Attributes; value: unknown }) => {
        const value = p.value as number | { count: number; sum?: number };
        return {
          attributes: p.attributes,
          value: typeof value === "number" ? value : { count: value.count, sum: value.sum },
        };
      });
    },
    /** Runs `fn` inside an active span and returns the events the span ended with. */
    async eventsOf(fn: () => Promise<unknown>): Promise<TimedEvent[]> {
      await rig.tracer.startActiveSpan("call", async (span) => {
        try {
          await fn();
        } finally {
          span.end();
        }
      });
      return rig.lastSpanEvents();
    },
    /** The events of the span that ended last. */
    lastSpanEvents: (): TimedEvent[] => spanExporter.getFinishedSpans().at(-1)?.events ?? [],
    shutdown: () => Promise.all([meterProvider.shutdown(), tracerProvider.shutdown()]),
  };
  return rig;
}

let rig: ReturnType<typeof sdk>;
beforeEach(() => {
  rig = sdk();
});
afterEach(async () => {
  await rig.shutdown();
});

/** A createFetch whose fetch answers `statuses` in turn, each attempt taking 40 ms on the fake clock. */
function client(
  statuses: number[],
  options: CreateFetchOptions = {},
  telemetry: StaunchTelemetryOptions = { meter: rig.meter },
) {
  const clock = new FakeClock();
  const otel = staunchTelemetry(telemetry);
  const fetch = createFetch({
    env: clock.instantSleep(),
    backoff: noJitter,
    telemetry: otel,
    fetch: async () => {
      clock.nowMs += 40;
      return new Response(null, { status: statuses.shift() ?? 500 });
    },
    ...options,
  });
  return fetch;
}

/** What instrument made a metric: a Counter exports a monotonic sum. */
const kindOf = (metric: MetricData | undefined): string =>
  metric?.dataPointType === DataPointType.SUM && metric.isMonotonic
    ? "counter"
    : metric?.dataPointType === DataPointType.HISTOGRAM
      ? "histogram"
      : String(metric?.dataPointType);

const eventAttributes = (events: TimedEvent[], name: string) =>
  events.filter((e) => e.name === name).map((e) => e.attributes);

describe("staunch/otel: createFetch metrics", () => {
  it("counts each attempt by status, with the method and server as semantic-convention attributes", async () => {
    await client([503, 503, 200])(URL_WITH_TOKEN);
    expect(await rig.points("staunch.fetch.attempts")).toEqual([
      {
        attributes: {
          "http.request.method": "GET",
          ...server,
          "http.response.status_code": 503,
          "error.type": "503",
        },
        value: 2,
      },
      { attributes: { "http.request.method": "GET", ...server, "http.response.status_code": 200 }, value: 1 },
    ]);
  });

  it("labels an attempt that threw with its error name as error.type, and no status", async () => {
    const otel = staunchTelemetry({ meter: rig.meter });
    const fetch = createFetch({
      telemetry: otel,
      attempts: 1,
      fetch: () => Promise.reject(new TypeError("fetch failed")),
    });
    await expect(fetch("http://127.0.0.1:8787/health")).rejects.toThrow("fetch failed");
    expect(await rig.points("staunch.fetch.attempts")).toEqual([
      {
        attributes: {
          "http.request.method": "GET",
          "server.address": "127.0.0.1",
          "server.port": 8787,
          "url.scheme": "http",
          "error.type": "TypeError",
        },
        value: 1,
      },
    ]);
  });

  it("records attempt and call durations as millisecond histograms, sleeps included in the call's", async () => {
    await client([503, 503, 200])(URL_WITH_TOKEN);
    const attempt = await rig.metric("staunch.fetch.attempt_duration_ms");
    const call = await rig.metric("staunch.fetch.duration_ms");
    expect([attempt?.descriptor.unit, call?.descriptor.unit]).toEqual(["ms", "ms"]);
    expect((await rig.points("staunch.fetch.attempt_duration_ms")).map((p) => p.value)).toEqual([
      { count: 2, sum: 80 },
      { count: 1, sum: 40 },
    ]);
    // Three 40 ms attempts and the 100 ms and 200 ms sleeps between them.
    expect(await rig.points("staunch.fetch.duration_ms")).toEqual([
      {
        attributes: { "http.request.method": "GET", ...server, "http.response.status_code": 200 },
        value: { count: 1, sum: 420 },
      },
    ]);
  });

  it("counts retries by where their delay came from", async () => {
    await client([503, 503, 200])(URL_WITH_TOKEN);
    expect(await rig.points("staunch.fetch.retries")).toEqual([
      {
        attributes: { "http.request.method": "GET", ...server, "staunch.retry.delay_source": "backoff" },
        value: 2,
      },
    ]);
  });

  it("counts a give-up with the cap that ended the call", async () => {
    await client([503, 503, 503])(URL_WITH_TOKEN);
    expect(await rig.points("staunch.fetch.give_ups")).toEqual([
      { attributes: { "http.request.method": "GET", ...server, "staunch.give_up.reason": "attempts" }, value: 1 },
    ]);
  });

  it("counts a breaker transition per origin, without a method", async () => {
    const fetch = client([503, 503], { attempts: 2, breaker: { strategy: () => consecutiveFailures(1) } });
    await fetch(URL_WITH_TOKEN);
    expect(await rig.points("staunch.fetch.breaker_transitions")).toEqual([
      {
        attributes: { ...server, "staunch.breaker.previous_state": "closed", "staunch.breaker.state": "open" },
        value: 1,
      },
    ]);
  });

  it("records a method outside the standard set as _OTHER, so custom verbs add no series", async () => {
    await client([200])(URL_WITH_TOKEN, { method: "PURGE" });
    const [point] = await rig.points("staunch.fetch.attempts");
    expect(point?.attributes["http.request.method"]).toBe("_OTHER");
  });

  it("adds the telemetry's own attributes to every point", async () => {
    await client([200], {}, { meter: rig.meter, attributes: { "peer.service": "catalog" } })(URL_WITH_TOKEN);
    const [point] = await rig.points("staunch.fetch.duration_ms");
    expect(point?.attributes["peer.service"]).toBe("catalog");
  });

  it("names each instrument's unit: an annotation for counts, ms for timings", async () => {
    await client([503, 200])(URL_WITH_TOKEN);
    const units = await Promise.all(
      ["staunch.fetch.attempts", "staunch.fetch.retries", "staunch.fetch.duration_ms"].map(async (name) => {
        const metric = await rig.metric(name);
        return [kindOf(metric), metric?.descriptor.unit];
      }),
    );
    expect(units).toEqual([
      ["counter", "{attempt}"],
      ["counter", "{retry}"],
      ["histogram", "ms"],
    ]);
  });
});

describe("staunch/otel: createFetch span events", () => {
  it("adds a retry event to the active span for each retry, with the URL redacted", async () => {
    const fetch = client([503, 503, 200]);
    const events = await rig.eventsOf(() => fetch(URL_WITH_TOKEN));
    expect(eventAttributes(events, "staunch.retry")).toEqual([
      {
        "http.request.method": "GET",
        "url.full": "https://api.example.com/v1/items?…",
        "staunch.attempt": 1,
        "staunch.elapsed_ms": 40,
        "http.response.status_code": 503,
        "error.type": "503",
        "staunch.retry.delay_ms": 100,
        "staunch.retry.delay_source": "backoff",
      },
      {
        "http.request.method": "GET",
        "url.full": "https://api.example.com/v1/items?…",
        "staunch.attempt": 2,
        "staunch.elapsed_ms": 180,
        "http.response.status_code": 503,
        "error.type": "503",
        "staunch.retry.delay_ms": 200,
        "staunch.retry.delay_source": "backoff",
      },
    ]);
  });

  it("adds a give-up event to the active span with its reason", async () => {
    const fetch = client([503, 503, 503]);
    const events = await rig.eventsOf(() => fetch(URL_WITH_TOKEN));
    expect(eventAttributes(events, "staunch.give_up")).toEqual([
      {
        "http.request.method": "GET",
        "url.full": "https://api.example.com/v1/items?…",
        "staunch.attempt": 3,
        "staunch.elapsed_ms": 420,
        "http.response.status_code": 503,
        "error.type": "503",
        "staunch.give_up.reason": "attempts",
      },
    ]);
  });

  it("never puts a query string on a span, even when createFetch is told not to redact", async () => {
    const fetch = client([503, 200], { redactUrl: false });
    const events = await rig.eventsOf(() => fetch("https://user:pw@api.example.com/v1/items?token=secret"));
    expect(eventAttributes(events, "staunch.retry").map((a) => a?.["url.full"])).toEqual([
      "https://api.example.com/v1/items?…",
    ]);
  });

  it("cuts the query off a custom redaction that is not a URL", async () => {
    const fetch = client([503, 200], { redactUrl: () => "/v1/items/{id}?token=secret" });
    const events = await rig.eventsOf(() => fetch(URL_WITH_TOKEN));
    expect(eventAttributes(events, "staunch.retry").map((a) => a?.["url.full"])).toEqual(["/v1/items/{id}?…"]);
  });

  it("adds a breaker transition to the active span with the origin and how long it stays open", async () => {
    const fetch = client([503, 503], { attempts: 2, breaker: { strategy: () => consecutiveFailures(1) } });
    const events = await rig.eventsOf(() => fetch(URL_WITH_TOKEN));
    expect(eventAttributes(events, "staunch.breaker.state_change")).toEqual([
      {
        ...server,
        "staunch.breaker.previous_state": "closed",
        "staunch.breaker.state": "open",
        "staunch.breaker.open_for_ms": 10_000,
      },
    ]);
  });

  it("adds events to the span getSpan returns, with no span active", async () => {
    const span = rig.tracer.startSpan("held by hand");
    await client([503, 200], {}, { meter: rig.meter, getSpan: () => span })(URL_WITH_TOKEN);
    span.end();
    expect(rig.lastSpanEvents().map((e) => e.name)).toEqual(["staunch.retry"]);
  });

  it("still records metrics when there is no span to add events to", async () => {
    await client([503, 200])(URL_WITH_TOKEN);
    expect((await rig.points("staunch.fetch.retries")).map((p) => p.value)).toEqual([1]);
  });
});

describe("staunch/otel: policies", () => {
  const env = () => new FakeClock().instantSleep();
  const failTwice = () => {
    let calls = 0;
    return async () => {
      if (++calls <= 2) throw new TypeError("fetch failed");
      return "ok";
    };
  };

  it("counts a retry policy's retries by error type and adds each to the span", async () => {
    const otel = staunchTelemetry({ meter: rig.meter });
    const policy = retry({ attempts: 3, backoff: noJitter, env: env(), telemetry: otel });
    const events = await rig.eventsOf(() => policy.execute(failTwice()));
    expect(await rig.points("staunch.retry.retries")).toEqual([
      { attributes: { "error.type": "TypeError" }, value: 2 },
    ]);
    expect(eventAttributes(events, "staunch.retry")).toEqual([
      { "staunch.attempt": 1, "staunch.elapsed_ms": 0, "staunch.retry.delay_ms": 100, "error.type": "TypeError" },
      { "staunch.attempt": 2, "staunch.elapsed_ms": 100, "staunch.retry.delay_ms": 200, "error.type": "TypeError" },
    ]);
  });

  it("counts a retry policy's give-up with its reason and adds it to the span", async () => {
    const otel = staunchTelemetry({ meter: rig.meter });
    const policy = retry({ attempts: 2, backoff: noJitter, env: env(), telemetry: otel });
    const events = await rig.eventsOf(() => policy.execute(failTwice()).catch(() => undefined));
    const attributes = { "staunch.give_up.reason": "attempts", "error.type": "TypeError" };
    expect(await rig.points("staunch.retry.give_ups")).toEqual([{ attributes, value: 1 }]);
    expect(eventAttributes(events, "staunch.give_up")).toEqual([
      { "staunch.attempt": 2, "staunch.elapsed_ms": 100, ...attributes },
    ]);
  });

  it("names an unnamed thrown value's error.type Error on the span event, as on the metric", async () => {
    const otel = staunchTelemetry({ meter: rig.meter });
    const policy = retry({ attempts: 1, shouldHandle: () => true, env: env(), telemetry: otel });
    const events = await rig.eventsOf(() => policy.execute(() => Promise.reject("a string")).catch(() => undefined));
    expect(await rig.points("staunch.retry.give_ups")).toMatchObject([{ attributes: { "error.type": "Error" } }]);
    expect(eventAttributes(events, "staunch.give_up")).toMatchObject([{ "error.type": "Error" }]);
  });

  it("labels a retried HTTP result with its status code", async () => {
    const otel = staunchTelemetry({ meter: rig.meter });
    const policy = retry<Response>({
      attempts: 2,
      env: env(),
      shouldHandle: (outcome) => outcome.ok && outcome.result.status === 503,
      telemetry: otel,
    });
    await policy.execute(async () => new Response(null, { status: 503 }));
    expect((await rig.points("staunch.retry.retries")).map((p) => p.attributes)).toEqual([
      { "http.response.status_code": 503, "error.type": "503" },
    ]);
  });

  it("counts a circuit breaker's transitions by key and adds them to the span", async () => {
    const otel = staunchTelemetry({ meter: rig.meter });
    const breaker = circuitBreaker({
      key: "payments-db",
      strategy: consecutiveFailures(1),
      env: env(),
      telemetry: otel,
    });
    const events = await rig.eventsOf(() => breaker.execute(failTwice()).catch(() => undefined));
    const attributes = {
      "staunch.breaker.key": "payments-db",
      "staunch.breaker.previous_state": "closed",
      "staunch.breaker.state": "open",
    };
    expect(await rig.points("staunch.breaker.transitions")).toEqual([{ attributes, value: 1 }]);
    expect(eventAttributes(events, "staunch.breaker.state_change")).toEqual([
      { ...attributes, "staunch.breaker.open_for_ms": 10_000 },
    ]);
  });

  it("counts each retry a spent budget refuses and adds it to the span", async () => {
    const otel = staunchTelemetry({ meter: rig.meter });
    const budget = retryBudget({ ratio: 0, minRetriesPerSecond: 0, env: env(), telemetry: otel });
    const policy = retry({ budget, env: env() });
    const events = await rig.eventsOf(() => policy.execute(failTwice()).catch(() => undefined));
    expect(await rig.points("staunch.retry_budget.refused_retries")).toEqual([{ attributes: {}, value: 1 }]);
    expect(eventAttributes(events, "staunch.retry_budget.exhausted")).toEqual([
      { "staunch.retry_budget.requests": 1, "staunch.retry_budget.retries": 0 },
    ]);
  });

  it("counts a fallback for an error by its type and adds it to the span", async () => {
    const otel = staunchTelemetry({ meter: rig.meter });
    const policy = fallback("cached", { telemetry: otel });
    const events = await rig.eventsOf(() => policy.execute(failTwice()));
    const attributes = { "staunch.fallback.reason": "error", "error.type": "TypeError" };
    expect(await rig.points("staunch.fallback.activations")).toEqual([{ attributes, value: 1 }]);
    expect(eventAttributes(events, "staunch.fallback")).toEqual([attributes]);
  });

  it("counts a fallback for a timeout by its reason and the error's type", async () => {
    const otel = staunchTelemetry({ meter: rig.meter });
    const policy = fallback("cached", { telemetry: otel });
    await policy.execute(() => Promise.reject(new DOMException("deadline", "TimeoutError")));
    expect((await rig.points("staunch.fallback.activations")).map((p) => p.attributes)).toEqual([
      { "staunch.fallback.reason": "timeout", "error.type": "TimeoutError" },
    ]);
  });

  it("counts a fallback for a rejected response by its status", async () => {
    const otel = staunchTelemetry({ meter: rig.meter });
    const policy = fallback("cached", {
      shouldHandle: (outcome: Outcome<Response>) => !outcome.ok || outcome.result.status >= 500,
      telemetry: otel,
    });
    await policy.execute(async () => new Response(null, { status: 502 }));
    expect((await rig.points("staunch.fallback.activations")).map((p) => p.attributes)).toEqual([
      { "staunch.fallback.reason": "result", "http.response.status_code": 502, "error.type": "502" },
    ]);
  });
});

describe("staunch/otel: every event", () => {
  it("counts createFetch's fallbacks by reason and adds them to the span", async () => {
    const otel = staunchTelemetry({ meter: rig.meter });
    const fetch = createFetch({
      attempts: 1,
      telemetry: otel,
      fetch: async () => new Response(null, { status: 503 }),
      fallback: fetchFallback(() => new Response("cached")),
    });
    const events = await rig.eventsOf(() => fetch(URL_WITH_TOKEN));
    expect(await rig.points("staunch.fetch.fallbacks")).toEqual([
      { attributes: { "http.request.method": "GET", ...server, "staunch.fallback.reason": "result" }, value: 1 },
    ]);
    expect(eventAttributes(events, "staunch.fallback")).toEqual([
      {
        "http.request.method": "GET",
        "url.full": "https://api.example.com/v1/items?…",
        "staunch.fallback.reason": "result",
        "http.response.status_code": 503,
        "error.type": "503",
      },
    ]);
  });

  it("counts hedges by trigger and adds each to the span", async () => {
    const otel = staunchTelemetry({ meter: rig.meter });
    let calls = 0;
    const policy = hedge({ delayMs: 10, telemetry: otel });
    const events = await rig.eventsOf(() =>
      policy.execute(async () => {
        if (++calls === 1) throw new TypeError("fetch failed");
        return "ok";
      }),
    );
    expect(await rig.points("staunch.hedge.hedges")).toEqual([
      { attributes: { "staunch.hedge.trigger": "failure" }, value: 1 },
    ]);
    expect(eventAttributes(events, "staunch.hedge")).toMatchObject([
      { "staunch.attempt": 2, "staunch.hedge.trigger": "failure" },
    ]);
  });

  it("records a metric for each event type staunch emits", async () => {
    const otel = staunchTelemetry({ meter: rig.meter });
    const fetchFields = {
      method: "GET",
      url: "https://api.example.com/?…",
      origin: "https://api.example.com",
      status: 503,
      errorName: undefined,
      error: undefined,
    };
    const state = { attempt: 1, elapsedMs: 0, threw: true, error: new TypeError("x"), result: undefined };
    // One of each: the Record's type fails to compile if an event type is added without a sample here.
    const samples: { readonly [K in TelemetryEventType]: TelemetryEventOf<K> } = {
      retry: { type: "retry", ...state, delayMs: 100 },
      "give-up": { type: "give-up", ...state, reason: "attempts" },
      "fetch-attempt": { type: "fetch-attempt", ...fetchFields, attempt: 1, durationMs: 5 },
      "fetch-retry": {
        type: "fetch-retry",
        ...fetchFields,
        attempt: 1,
        elapsedMs: 5,
        delayMs: 100,
        delaySource: "backoff",
        maxAttempts: 3,
      },
      "fetch-give-up": { type: "fetch-give-up", ...fetchFields, attempt: 3, elapsedMs: 5, reason: "attempts" },
      "fetch-fallback": { type: "fetch-fallback", ...fetchFields, reason: "result" },
      "fetch-end": { type: "fetch-end", ...fetchFields, durationMs: 5 },
      "circuit-state-change": { type: "circuit-state-change", from: "closed", to: "open", key: "db", openForMs: 5 },
      fallback: { type: "fallback", reason: "error", error: new TypeError("x"), result: undefined },
      hedge: { type: "hedge", attempt: 2, elapsedMs: 10, trigger: "delay" },
      "retry-budget-exhausted": { type: "retry-budget-exhausted", requests: 1, retries: 0, available: 0 },
      timeout: { type: "timeout", timeoutMs: 250 },
      "bulkhead-rejected": { type: "bulkhead-rejected", limit: 1, queue: 0 },
      "rate-limited": { type: "rate-limited", retryAfterMs: 700 },
      "throttle-rejected": { type: "throttle-rejected", probability: 0.5 },
      "stale-served": {
        type: "stale-served",
        url: "https://api.example.com/",
        reason: "timeout",
        status: undefined,
        error: undefined,
        ageSeconds: 30,
      },
      "fleet-degraded": { type: "fleet-degraded", key: "k", operation: "sync", error: new Error("down") },
      "fleet-recovered": { type: "fleet-recovered", key: "k", degradedForMs: 1_000 },
    };
    const recorded: Record<string, string[]> = {};
    for (const event of Object.values(samples)) {
      const before = new Set(await metricNames());
      otel(event);
      recorded[event.type] = (await metricNames()).filter((name) => !before.has(name));
    }
    const withoutMetric = Object.keys(samples).filter((type) => recorded[type]?.length === 0);
    expect(withoutMetric).toEqual([]);
    expect(Object.values(TELEMETRY.events).sort()).toEqual(Object.keys(samples).sort());
  });
});

/** The names of the metrics recorded so far. */
async function metricNames(): Promise<string[]> {
  const known = Object.values(TELEMETRY.metrics);
  const names: string[] = [];
  for (const name of known) if ((await rig.points(name)).length > 0) names.push(name);
  return names;
}

describe("staunch/otel: the meter", () => {
  afterEach(() => {
    metrics.disable();
  });

  it("reports to a global meter provider registered after its first calls", async () => {
    const fetch = client([200, 200], {}, {});
    await fetch(URL_WITH_TOKEN); // recorded on the API's no-op provider: nothing is listening yet
    metrics.setGlobalMeterProvider(rig.meterProvider);
    await fetch(URL_WITH_TOKEN);
    expect((await rig.points("staunch.fetch.attempts")).map((p) => p.value)).toEqual([1]);
  });

  it("names its instrumentation scope staunch, at the version in package.json", async () => {
    metrics.setGlobalMeterProvider(rig.meterProvider);
    await client([200], {}, {})(URL_WITH_TOKEN);
    const { version } = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8"));
    expect(await rig.scopeOf("staunch.fetch.attempts")).toEqual({ name: "staunch", version });
  });

  it("never fails a call when the meter throws", async () => {
    const broken = {
      createCounter: () => {
        throw new Error("meter down");
      },
      createHistogram: () => {
        throw new Error("meter down");
      },
    } as unknown as Meter;
    const res = await client([503, 200], {}, { meter: broken })(URL_WITH_TOKEN);
    expect(res.status).toBe(200);
  });
});
