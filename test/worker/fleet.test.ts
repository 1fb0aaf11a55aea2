/**
 * Breaker and budget state shared across isolates through the real `StaunchSharedState` Durable Object, bound
 * in wrangler.toml. Each simulated isolate is its own createFetch client with its own coordinator; they share
 * one Durable Object through `env.STAUNCH_STATE`, as a Worker's isolates do. `Date` is faked (in this isolate,
 * which the Durable Object shares), so that the isolates' clocks and the object's move together.
 */

import {
  createExecutionContext,
  env,
  evictDurableObject,
  runInDurableObject,
  waitOnExecutionContext,
} from "cloudflare:test";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import {
  type DurableNamespaceLike,
  durableObjectStore,
  parseSyncReply,
  type StaunchSharedState,
} from "../../src/durable.ts";
import {
  type Coordinator,
  type CoordinatorOptions,
  consecutiveFailures,
  coordinator,
  createFetch,
  type FleetDegradedEvent,
  on,
  type ResilientFetch,
  type RetryBudgetOptions,
  retryBudget,
} from "../../src/index.ts";
import worker, { type Env } from "../../worker/index.ts";
import type { DashboardState } from "../../worker/timeline.ts";

const namespace = (env as Env).STAUNCH_STATE as DurableObjectNamespace;

/** The upstream every simulated isolate calls: one dependency, up or down for all of them at once. */
interface Upstream {
  status: number | "down";
  calls: number;
  /** While set, each call waits for it (a probe in flight). */
  gate: Promise<void> | undefined;
}

interface SimulatedIsolate {
  readonly shared: Coordinator;
  readonly client: ResilientFetch;
  readonly degraded: FleetDegradedEvent[];
  /** Upstream calls this isolate made. */
  calls: number;
  /** One proxied request: its status, or the error's name; then this isolate's exchanges have landed. */
  get(): Promise<number | string>;
}

let origins = 0;
/** An origin no other test used: its breaker and budget live in their own Durable Object. */
const freshOrigin = () => `https://upstream-${origins++}-${Math.random().toString(36).slice(2)}.test`;

function simulateIsolate(
  origin: string,
  upstream: Upstream,
  options: {
    readonly attempts?: number;
    readonly probes?: number;
    /** Consecutive failures that open a breaker. Default 5. */
    readonly threshold?: number;
    readonly budget?: RetryBudgetOptions;
    readonly coordinator?: Partial<CoordinatorOptions>;
    readonly namespace?: DurableNamespaceLike;
  } = {},
): SimulatedIsolate {
  const degraded: FleetDegradedEvent[] = [];
  const shared = coordinator({
    store: durableObjectStore(options.namespace ?? namespace),
    telemetry: on("fleet-degraded", (event) => degraded.push(event)),
    ...options.coordinator,
  });
  const isolate: SimulatedIsolate = {
    shared,
    degraded,
    calls: 0,
    client: createFetch({
      fetch: async () => {
        isolate.calls++;
        upstream.calls++;
        await upstream.gate;
        if (upstream.status === "down") throw new TypeError("Network connection lost.");
        return new Response("upstream", { status: upstream.status });
      },
      attempts: options.attempts ?? 1,
      breaker: {
        strategy: () => consecutiveFailures(options.threshold ?? 5),
        halfOpenAfterMs: 10_000,
        halfOpenProbes: options.probes ?? 1,
        fleet: shared,
      },
      budget: options.budget && retryBudget({ ...options.budget, fleet: shared.budget(origin) }),
      env: { sleep: async () => {} }, // no real backoff waits; the clock is Date's
    }),
    async get() {
      try {
        const response = await isolate.client(`${origin}/item`);
        await response.text();
        return response.status;
      } catch (error) {
        return (error as Error).name;
      } finally {
        await shared.settled();
      }
    },
  };
  return isolate;
}

const advance = (ms: number) => vi.setSystemTime(Date.now() + ms);

/** Waits (for real) until `condition` holds, up to 2 s. */
async function until(condition: () => boolean): Promise<void> {
  const deadline = performance.now() + 2_000;
  while (!condition() && performance.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
}

describe("shared state in a Durable Object", () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ["Date"], now: 1_800_000_000_000 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("opens every isolate's breaker after failures the others observed", async () => {
    const origin = freshOrigin();
    const upstream: Upstream = { status: 200, calls: 0, gate: undefined };
    const [a, b, c] = [1, 2, 3].map(() => simulateIsolate(origin, upstream)) as [
      SimulatedIsolate,
      SimulatedIsolate,
      SimulatedIsolate,
    ];
    expect(await c.get()).toBe(200);
    upstream.status = "down";
    for (let round = 0; round < 3; round++) {
      advance(1_000);
      expect(await a.get()).toBe("TypeError");
      expect(await b.get()).toBe("TypeError");
    }
    // a and b each saw 3 failures in a row (their own breakers open at 5); the fleet saw 6.
    expect(a.client.origins()[0]?.circuit).toBe("open");
    expect(b.client.origins()[0]?.circuit).toBe("open");
    // c saw none: its next exchange (its view is a sync interval old) brings the open circuit.
    advance(1_000);
    expect(await c.get()).toBe("TypeError");
    expect(c.client.origins()[0]?.circuit).toBe("open");
    const callsBefore = c.calls;
    expect(await c.get()).toBe("CircuitOpenError");
    expect(c.calls).toBe(callsBefore);
  });

  for (const probes of [1, 2]) {
    it(`lets ${probes} half-open probe${probes > 1 ? "s" : ""} reach the upstream from 3 isolates, not one per isolate`, async () => {
      const origin = freshOrigin();
      const upstream: Upstream = { status: 200, calls: 0, gate: undefined };
      const fleet = [1, 2, 3].map(() => simulateIsolate(origin, upstream, { probes }));
      const [a, b, c] = fleet as [SimulatedIsolate, SimulatedIsolate, SimulatedIsolate];
      for (const isolate of fleet) expect(await isolate.get()).toBe(200);
      upstream.status = "down";
      for (let i = 0; i < 5; i++) await a.get(); // a's own breaker opens, and with it the fleet's
      advance(1_000);
      await b.get(); // b and c were a second behind: one call each, then they know
      await c.get();
      expect(fleet.map((isolate) => isolate.client.origins()[0]?.circuit)).toEqual(["open", "open", "open"]);

      upstream.status = 200;
      advance(10_000); // half-open in every isolate at once
      let release = (): void => {};
      upstream.gate = new Promise((resolve) => (release = resolve));
      const probeCallsBefore = upstream.calls;
      const answers: Array<number | string> = [];
      const calls = fleet.flatMap((isolate) => [1, 2].map(() => isolate.get().then((answer) => answers.push(answer))));
      await until(() => answers.length === 6 - probes);
      expect(upstream.calls - probeCallsBefore).toBe(probes);
      release();
      await Promise.all(calls);
      expect(answers.filter((answer) => answer === 200)).toHaveLength(probes);
      expect(answers.filter((answer) => answer === "CircuitOpenError")).toHaveLength(6 - probes);
      expect(upstream.calls - probeCallsBefore).toBe(probes);

      // The probes succeeded: every isolate is closed again within one recheck interval.
      upstream.gate = undefined;
      advance(1_000);
      for (const isolate of fleet) expect(await isolate.get()).toBe(200);
      expect(fleet.map((isolate) => isolate.client.origins()[0]?.circuit)).toEqual(["closed", "closed", "closed"]);
    });
  }

  it("budgets retries on the whole fleet's requests", async () => {
    const origin = freshOrigin();
    const upstream: Upstream = { status: 200, calls: 0, gate: undefined };
    const budget = { ratio: 0.2, minRetriesPerSecond: 0, windowMs: 10_000 };
    const options = { attempts: 3, budget, threshold: 1_000 }; // the breakers stay out of it
    const [a, b] = [1, 2].map(() => simulateIsolate(origin, upstream, options)) as [SimulatedIsolate, SimulatedIsolate];
    const alone = simulateIsolate(freshOrigin(), upstream, options); // the same, with no fleet
    for (let i = 0; i < 49; i++) expect(await a.get()).toBe(200);
    advance(1_000);
    expect(await a.get()).toBe(200); // the interval is up: a reports what it had batched
    expect(await b.get()).toBe(200);
    expect(await alone.get()).toBe(200);

    upstream.status = 503;
    const retriesOf = async (isolate: SimulatedIsolate): Promise<number> => {
      const before = isolate.calls;
      for (let i = 0; i < 6; i++) expect(await isolate.get()).toBe(503);
      return isolate.calls - before - 6;
    };
    // 0.2 × (51 + 6) requests fleet-wide: 11 retries. Alone, 0.2 × 7 of its own: 1.
    expect(await retriesOf(b)).toBe(11);
    expect(await retriesOf(alone)).toBe(1);
  });

  it("keeps a circuit that opened across a restart of the Durable Object", async () => {
    const origin = freshOrigin();
    const upstream: Upstream = { status: "down", calls: 0, gate: undefined };
    const a = simulateIsolate(origin, upstream);
    for (let i = 0; i < 5; i++) await a.get();
    const stub = namespace.get(namespace.idFromName(`staunch:${origin}`));
    const saved = await runInDurableObject(stub, (_instance: StaunchSharedState, state) =>
      state.storage.get(`circuit:${origin}`),
    );
    expect(saved).toMatchObject({ epoch: 1, openForMs: 10_000, failedProbes: 0 });
    await evictDurableObject(stub);
    const b = simulateIsolate(origin, upstream); // a new isolate, asking a new instance of the object
    upstream.status = 200;
    expect(await b.get()).toBe(200); // b knew nothing yet
    expect(b.client.origins()[0]).toMatchObject({ circuit: "open" });
    expect(b.client.origins()[0]?.circuitRetryAfterMs).toBe(10_000);
  });

  it("refuses what is not a sync message", async () => {
    const stub = namespace.get(namespace.idFromName("staunch:junk"));
    const junk = await stub.fetch("https://staunch.shared-state/sync", { method: "POST", body: "{" });
    expect(junk.status).toBe(400);
    await junk.text();
    const wrongVersion = await stub.fetch("https://x/sync", { method: "POST", body: '{"version":99,"key":"k"}' });
    expect(wrongVersion.status).toBe(400);
    await wrongVersion.text();
    const get = await stub.fetch("https://x/sync");
    expect(get.status).toBe(405);
    await get.text();
    expect(parseSyncReply({ budget: { requests: "many" } })).toBeUndefined();
  });
});

describe("when the Durable Object cannot be reached", () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ["Date"], now: 1_800_000_000_000 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  const throwing: DurableNamespaceLike = {
    idFromName: (name) => name,
    get: () => ({
      fetch: async () => {
        throw new Error("Durable Object reset because its code was updated.");
      },
    }),
  };

  it("answers every request from local state and says so in an event", async () => {
    const upstream: Upstream = { status: 200, calls: 0, gate: undefined };
    const isolate = simulateIsolate(freshOrigin(), upstream, {
      attempts: 3,
      budget: { ratio: 0, minRetriesPerSecond: 1, windowMs: 1_000 },
      namespace: throwing,
    });
    for (let i = 0; i < 20; i++) expect(await isolate.get()).toBe(200);
    expect(isolate.degraded).toHaveLength(1);
    expect(isolate.degraded[0]).toMatchObject({ operation: "sync" });
    expect(String(isolate.degraded[0]?.error)).toMatch("code was updated");
    expect(isolate.shared.status()[0]).toMatchObject({ degraded: true });
    // The local budget and breaker still work: one retry (the local floor of 1 a second), then no more; the
    // breaker, counting calls, opens at the 5th failed call in a row and fails the next call fast.
    upstream.status = "down";
    const callsOf = async (): Promise<[number | string, number]> => {
      const before = isolate.calls;
      const answer = await isolate.get();
      return [answer, isolate.calls - before];
    };
    expect(await callsOf()).toEqual(["TypeError", 2]);
    for (let i = 0; i < 4; i++) expect(await callsOf()).toEqual(["TypeError", 1]);
    expect(await callsOf()).toEqual(["CircuitOpenError", 0]);
  });

  it("stops waiting for a binding that hangs after timeoutMs, and the probe goes ahead locally", async () => {
    const hanging: DurableNamespaceLike = {
      idFromName: (name) => name,
      get: () => ({ fetch: () => new Promise<Response>(() => {}) }),
    };
    const upstream: Upstream = { status: "down", calls: 0, gate: undefined };
    const isolate = simulateIsolate(freshOrigin(), upstream, { namespace: hanging, coordinator: { timeoutMs: 100 } });
    for (let i = 0; i < 5; i++) expect(await isolate.get()).toBe("TypeError");
    expect(isolate.client.origins()[0]?.circuit).toBe("open");
    upstream.status = 200;
    advance(10_000);
    const startedMs = performance.now();
    expect(await isolate.get()).toBe(200); // the half-open probe: its permit never came
    const tookMs = performance.now() - startedMs;
    expect(tookMs).toBeGreaterThanOrEqual(90);
    expect(tookMs).toBeLessThan(1_000);
    expect(isolate.degraded.map((event) => (event.error as Error).name)).toEqual(["TimeoutError"]);
    expect(isolate.client.origins()[0]?.circuit).toBe("closed");
  });
});

describe("the sample Worker", () => {
  const withBinding: Env = {
    ...(env as Env),
    ATTEMPT_TIMEOUT_MS: "200",
    TOTAL_TIMEOUT_MS: "2000",
    BREAKER_MIN_THROUGHPUT: "5",
  };
  const { STAUNCH_STATE: _binding, ...withoutBinding } = withBinding;

  async function call(path: string, workerEnv: Env, init?: RequestInit): Promise<Response> {
    const ctx = createExecutionContext();
    const res = await worker.fetch(new Request(`http://127.0.0.1:8787${path}`, init), workerEnv, ctx);
    await waitOnExecutionContext(ctx);
    return res;
  }
  const state = async (workerEnv: Env): Promise<DashboardState> => (await call("/__staunch/state", workerEnv)).json();

  it("shares its breaker through the bound Durable Object, and resets it there too", async () => {
    await (await call("/__staunch/reset", withBinding, { method: "POST" })).text();
    // Five failed calls of one route (the breaker counts calls, not attempts).
    for (let i = 0; i < 5; i++) await (await call(`/api/shared/${i}?down=1`, withBinding)).text();
    const before = await state(withBinding);
    expect(before.fleet.bound).toBe(true);
    // The budget is the upstream's, the circuit the route's: each is its own key in the fleet's state.
    expect(before.fleet.keys).toEqual([
      expect.objectContaining({ key: "https://demo.origin", degraded: false }),
      expect.objectContaining({ key: "https://demo.origin/shared", degraded: false, circuit: "open" }),
    ]);
    await (await call("/__staunch/reset", withBinding, { method: "POST" })).text();
    const reply = await durableObjectStore(namespace).exchange(
      { version: 1, key: "https://demo.origin", budget: { windowMs: 1_000, buckets: 10, requests: 0, retries: 0 } },
      new AbortController().signal,
    );
    expect(reply.budget).toEqual({ requests: 0, retries: 0 }); // the fleet's counts were forgotten
    const res = await call("/api/shared/after-reset", withBinding);
    expect(res.status).toBe(200);
    await res.text();
    expect((await state(withBinding)).fleet.keys).toContainEqual(
      expect.objectContaining({ key: "https://demo.origin/shared", circuit: "closed" }),
    );
  });

  it("works without the binding, keeping its state per isolate", async () => {
    await (await call("/__staunch/reset", withoutBinding, { method: "POST" })).text();
    const res = await call("/api/unbound", withoutBinding);
    expect(res.status).toBe(200);
    await res.text();
    expect((await state(withoutBinding)).fleet).toEqual({ bound: false, keys: [] });
    await (await call("/__staunch/reset", withBinding, { method: "POST" })).text();
  });
});
