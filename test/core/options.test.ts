/**
 * Every option of every factory, tried with bad values: each is refused at construction with a TypeError or a
 * RangeError whose message names the factory, the option and the value. `null` is a TypeError everywhere (an
 * option left out takes its default; `null` never does), and an unknown key is refused in every options
 * object, nested ones (`breaker`, `backoff`, `env`, `halfOpenAfterMs`) included. Runs in Node, workerd,
 * Chromium and Deno.
 */

import { describe, expect, it } from "vitest";
import { chaos, chaosFetch } from "../../src/chaos.ts";
import { durableObjectStore } from "../../src/durable.ts";
import { staleIfError } from "../../src/edge/cached-fallback.ts";
import {
  adaptiveThrottle,
  bulkhead,
  circuitBreaker,
  consecutiveFailures,
  coordinator,
  countWindow,
  createFetch,
  exponentialBackoff,
  failureRate,
  fallback,
  hedge,
  memoryStore,
  rateLimiter,
  retry,
  retryBudget,
  timeout,
  timeWindow,
} from "../../src/index.ts";
import { staunchTelemetry } from "../../src/otel.ts";

type Options = Record<string, unknown>;

interface Factory {
  /** How the factory names itself in its messages (`createFetch.breaker` for a nested object). */
  readonly owner: string;
  /** Builds with these options on top of whatever the factory requires. */
  readonly make: (options: Options) => unknown;
  /** Each option, with bad values beyond the ones every option gets (`null`, a symbol). */
  readonly options: Record<string, readonly unknown[]>;
  /** The key under which `env` is nested in `make`'s options, when the factory takes one. */
  readonly env?: boolean;
}

const fn = (): void => {};

/** A bad value whose message shows something else than the value itself (the offending element of a list). */
class Shows {
  constructor(
    readonly value: unknown,
    readonly shown: string,
  ) {}
}
const shows = (value: unknown, shown: string): Shows => new Shows(value, shown);
const namespace = { idFromName: (name: string) => name, get: () => ({ fetch: async () => new Response() }) };
const cache = { match: async () => undefined, put: async () => {} };

const factories: Factory[] = [
  {
    owner: "retry",
    make: (o) => retry(o),
    env: true,
    options: {
      attempts: [0, 1.5, Number.NaN, "3"],
      maxElapsedMs: [-1, Number.NaN],
      backoff: [5, "fast"],
      shouldHandle: ["yes"],
      telemetry: ["log"],
      budget: [{}, { ratio: 0.2 }],
    },
  },
  {
    owner: "retry.backoff",
    make: (o) => retry({ backoff: o }),
    options: { initialMs: [-1, Infinity], maxMs: [-1], multiplier: [0.5], jitter: ["partial"] },
  },
  {
    owner: "backoff",
    make: (o) => exponentialBackoff(o),
    options: { initialMs: [-1, Infinity], maxMs: [-1], multiplier: [0.5], jitter: ["partial"] },
  },
  { owner: "timeout", make: (o) => timeout(1_000, o), env: true, options: { telemetry: ["log"] } },
  {
    owner: "circuitBreaker",
    make: (o) => circuitBreaker(o),
    env: true,
    options: {
      strategy: [{}, () => consecutiveFailures(1)],
      halfOpenAfterMs: [-1, Number.NaN, "10s", 1e308, 2 ** 31],
      halfOpenProbes: [0, 1.5],
      shouldHandle: [1],
      telemetry: ["log"],
      snapshot: [5, "closed"],
      key: [5],
      fleet: [{}],
    },
  },
  {
    owner: "circuitBreaker.halfOpenAfterMs",
    make: (o) => circuitBreaker({ halfOpenAfterMs: { initialMs: 100, ...o } }),
    options: { initialMs: [-1, 2 ** 31], maxMs: [-1, 50, 1e308], multiplier: [0.5] },
  },
  {
    owner: "failureRate",
    make: (o) => failureRate(o),
    options: {
      threshold: [0, 1.5, Number.NaN],
      minimumThroughput: [0, 2.5],
      windowSize: [0],
      windowMs: [0, Infinity],
      buckets: [0, 2.5],
    },
  },
  {
    owner: "bulkhead",
    make: (o) => bulkhead({ limit: 1, ...o } as never),
    options: { limit: [0, 1.5], queue: [-1], telemetry: ["log"] },
  },
  {
    owner: "rateLimiter",
    make: (o) => rateLimiter({ rate: 10, ...o } as never),
    env: true,
    options: { rate: [0, -1], intervalMs: [0], burst: [0], wait: ["yes"], maxWaitMs: [-1], telemetry: ["log"] },
  },
  {
    owner: "retryBudget",
    make: (o) => retryBudget(o),
    env: true,
    options: {
      ratio: [-1, Number.NaN],
      minRetriesPerSecond: [-1],
      windowMs: [0, 2 ** 31],
      buckets: [0],
      telemetry: ["log"],
      fleet: [{}],
    },
  },
  {
    owner: "adaptiveThrottle",
    make: (o) => adaptiveThrottle(o),
    env: true,
    options: { k: [0, Number.NaN], windowMs: [0], buckets: [0], shouldHandle: [1], telemetry: ["log"] },
  },
  {
    owner: "hedge",
    make: (o) => hedge({ delayMs: 100, ...o } as never),
    env: true,
    options: { delayMs: [-1, Number.NaN], maxHedges: [-1, 1.5], telemetry: ["log"] },
  },
  {
    owner: "fallback",
    make: (o) => fallback("fallback value", o),
    options: { shouldHandle: [1], telemetry: ["log", [console.warn, "log"]] },
  },
  {
    owner: "createFetch",
    make: (o) => createFetch(o),
    env: true,
    options: {
      fetch: ["https://example.com"],
      attempts: [0, 1.5],
      maxElapsedMs: [-1],
      backoff: [5],
      attemptTimeoutMs: [0, -1],
      totalTimeoutMs: [0, -1],
      retryStatuses: [503, "503", shows([99], "99"), shows([200, 600], "600")],
      retryNonIdempotent: ["yes"],
      shouldRetry: [true],
      maxRetryAfterMs: [-1, 2 ** 31],
      maxBufferedBodyBytes: [-1, 1.5],
      replayStreams: [true],
      breaker: [true, "off", retry()],
      maxOrigins: [0],
      budget: [{ ratio: 0.2 }],
      bulkhead: [5, retry()],
      fallback: [new Response("offline")],
      telemetry: ["log"],
      redactUrl: [true],
    },
  },
  {
    owner: "createFetch.breaker",
    make: (o) => createFetch({ breaker: o }),
    options: {
      strategy: [consecutiveFailures(5)],
      halfOpenAfterMs: [-1, 1e308],
      halfOpenProbes: [0],
      shouldHandle: [1],
      telemetry: ["log"],
      fleet: [{}, { circuit: () => 42 }],
    },
  },
  {
    owner: "createFetch.backoff",
    make: (o) => createFetch({ backoff: o }),
    options: { initialMs: [-1], maxMs: [-1], multiplier: [0.5], jitter: ["partial"] },
  },
  {
    owner: "bulkhead",
    make: (o) => createFetch({ bulkhead: () => bulkhead({ limit: 1, ...o } as never) }),
    options: { limit: [0], queue: [-1] },
  },
  {
    owner: "coordinator",
    make: (o) => coordinator({ store: memoryStore(), ...o } as never),
    env: true,
    options: {
      store: [{}],
      syncIntervalMs: [0],
      maxBatch: [0],
      timeoutMs: [0],
      probeLeaseMs: [0],
      maxKeys: [0],
      telemetry: ["log"],
    },
  },
  { owner: "memoryStore", make: (o) => memoryStore(o), env: true, options: { maxKeys: [0, 1.5] } },
  {
    owner: "chaos",
    make: (o) => chaos(o),
    env: true,
    options: { errorRate: [1.5, -0.1], error: ["boom"], latencyMs: [-1, shows([5, 1], "[5, 1]")], latencyRate: [2] },
  },
  {
    owner: "chaosFetch",
    make: (o) => chaosFetch(async () => new Response("ok"), o),
    env: true,
    options: {
      errorRate: [1.5],
      error: ["boom"],
      latencyMs: [-1],
      latencyRate: [2],
      statusRate: [2],
      status: [99, 600],
      retryAfter: [-1, true],
      resetRate: [2],
    },
  },
  { owner: "durableObjectStore", make: (o) => durableObjectStore(namespace, o), options: { objectName: ["staunch"] } },
  {
    owner: "staunchTelemetry",
    make: (o) => staunchTelemetry(o),
    options: { meter: [{}], getSpan: ["span"], attributes: [5] },
  },
  {
    owner: "staleIfError",
    make: (o) => staleIfError({ cache, ...o } as never),
    env: true,
    options: {
      cache: [{}],
      maxStaleMs: [-1],
      cacheKey: ["key"],
      shouldHandle: [500],
      waitUntil: [true],
      telemetry: ["log"],
    },
  },
];

/** As staunch's messages show a value. */
function shown(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "function") return "a function";
  return (typeof value === "object" && value !== null) || typeof value === "symbol"
    ? Object.prototype.toString.call(value)
    : String(value);
}

const ENV_MEMBERS = ["now", "sleep", "random", "schedule"];

interface Row {
  readonly label: string;
  readonly build: () => unknown;
  readonly owner: string;
  readonly option: string;
  /** How the message shows the bad value. */
  readonly expected: string;
}

function rowsOf(factory: Factory): Row[] {
  const rows: Row[] = [];
  const { owner, make } = factory;
  const options: Record<string, readonly unknown[]> = { ...factory.options };
  if (factory.env) options.env = [5, "real"];
  for (const [option, extra] of Object.entries(options)) {
    for (const bad of [null, Symbol("bad"), ...extra]) {
      const value = bad instanceof Shows ? bad.value : bad;
      const expected = bad instanceof Shows ? bad.shown : shown(bad);
      rows.push({ label: `${option}: ${expected}`, build: () => make({ [option]: value }), owner, option, expected });
    }
  }
  if (factory.env) {
    for (const member of ENV_MEMBERS) {
      for (const value of [null, 5]) {
        rows.push({
          label: `env.${member}: ${shown(value)}`,
          build: () => make({ env: { [member]: value } }),
          owner,
          option: `env.${member}`,
          expected: shown(value),
        });
      }
    }
  }
  return rows;
}

describe("every option of every factory refuses bad values at construction", () => {
  for (const factory of factories) {
    describe(factory.owner, () => {
      for (const row of rowsOf(factory)) {
        it(`${row.label}: a TypeError or RangeError naming ${factory.owner}, the option and the value`, () => {
          let thrown: unknown;
          try {
            row.build();
          } catch (error) {
            thrown = error;
          }
          expect(thrown).toBeDefined(); // else the value was accepted silently
          expect(thrown instanceof TypeError || thrown instanceof RangeError).toBe(true);
          const message = (thrown as Error).message;
          expect(message).toContain(row.owner);
          expect(message).toContain(row.option.split(".").at(-1) as string);
          // A function or object value is named by its kind; the rest as written.
          expect(message).toContain(row.expected);
        });
      }

      it("an unknown key: a TypeError naming the factory and the key", () => {
        expect(() => factory.make({ notAnOption: 1 })).toThrow(TypeError);
        expect(() => factory.make({ notAnOption: 1 })).toThrow(`${factory.owner}: unknown option "notAnOption"`);
      });

      if (factory.env) {
        it("a misspelt env member: a TypeError naming the factory and the key", () => {
          expect(() => factory.make({ env: { sleeep: fn } })).toThrow(`${factory.owner}: unknown option "env.sleeep"`);
        });
      }
    });
  }
});

describe("positional arguments are checked alike", () => {
  const cases: Array<[label: string, build: () => unknown, message: string]> = [
    [
      "consecutiveFailures(0)",
      () => consecutiveFailures(0),
      'consecutiveFailures: option "threshold" must be an integer ≥ 1, got 0',
    ],
    [
      "consecutiveFailures(null)",
      () => consecutiveFailures(null as never),
      'consecutiveFailures: option "threshold" must be a number, got null',
    ],
    ["timeout(null)", () => timeout(null as never), 'timeout: option "ms" must be a number, got null'],
    ["countWindow(0)", () => countWindow(0), 'countWindow: option "size" must be an integer ≥ 1, got 0'],
    ["timeWindow(0, 10)", () => timeWindow(0, 10), 'timeWindow: option "windowMs" must be a finite number ≥ 1, got 0'],
    ["timeWindow(1000, 0)", () => timeWindow(1_000, 0), 'timeWindow: option "buckets" must be an integer ≥ 1, got 0'],
    [
      "bulkhead() without a limit",
      () => bulkhead(undefined as never),
      'bulkhead: option "limit" must be a number, got undefined',
    ],
    [
      "durableObjectStore(null)",
      () => durableObjectStore(null as never),
      'durableObjectStore: argument "namespace" must be a Durable Object namespace binding (with idFromName and get), got null',
    ],
  ];
  for (const [label, build, message] of cases) {
    it(`${label}: a TypeError or RangeError that says so`, () => {
      expect(build).toThrow(message);
    });
  }
});

describe("an option a release retired is refused, its replacement among the known options", () => {
  const retired: Array<[owner: string, build: (options: Options) => unknown, name: string, replacement: string]> = [
    ["retry", (o) => retry(o), "shouldRetry", "shouldHandle"],
    ["retry", (o) => retry(o), "shouldRetryResult", "shouldHandle"],
    ["circuitBreaker", (o) => circuitBreaker(o), "isFailure", "shouldHandle"],
    ["circuitBreaker", (o) => circuitBreaker(o), "isFailureResult", "shouldHandle"],
    ["circuitBreaker", (o) => circuitBreaker(o), "shared", "fleet"],
    ["createFetch.breaker", (o) => createFetch({ breaker: o }), "isFailure", "shouldHandle"],
    ["createFetch.breaker", (o) => createFetch({ breaker: o }), "shared", "fleet"],
    ["retryBudget", (o) => retryBudget(o), "shared", "fleet"],
    ["fallback", (o) => fallback(0, o), "shouldFallback", "shouldHandle"],
    ["fallback", (o) => fallback(0, o), "shouldFallbackResult", "shouldHandle"],
    ["adaptiveThrottle", (o) => adaptiveThrottle(o), "isAccepted", "shouldHandle"],
    ["adaptiveThrottle", (o) => adaptiveThrottle(o), "isAcceptedResult", "shouldHandle"],
    ["staleIfError", (o) => staleIfError({ cache, ...o } as never), "isFailureStatus", "shouldHandle"],
  ];
  for (const [owner, build, name, replacement] of retired) {
    it(`${owner}: ${name}, now ${replacement}`, () => {
      let thrown: unknown;
      try {
        build({ [name]: fn });
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(TypeError);
      expect((thrown as Error).message).toContain(`${owner}: unknown option "${name}" (known: `);
      expect((thrown as Error).message).toMatch(new RegExp(`\\(known: .*\\b${replacement}\\b`));
    });
  }
});
