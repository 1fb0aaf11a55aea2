/**
 * Shared breaker and budget state, on an in-process store and a fake clock: each "isolate" is its own
 * coordinator with its own breaker or budget, and they share one store, as Worker isolates share one Durable
 * Object. The same decisions run in the Durable Object (test/worker/fleet.test.ts).
 */

import { describe, expect, it } from "vitest";
import { consecutiveFailures, failureRate, strategyFromSpec } from "../../src/breaker-strategies.ts";
import { type CircuitBreaker, type CircuitStateChange, circuitBreaker } from "../../src/circuit-breaker.ts";
import { createFetch } from "../../src/create-fetch.ts";
import { CircuitOpenError } from "../../src/errors.ts";
import { perOriginBreaker } from "../../src/fetch-breaker.ts";
import type { FleetDegradedEvent, FleetRecoveredEvent } from "../../src/fleet/channel.ts";
import { type Coordinator, type CoordinatorOptions, coordinator, fleetKey } from "../../src/fleet/coordinator.ts";
import { FleetCircuit } from "../../src/fleet/decisions.ts";
import { parseSyncMessage, parseSyncReply, type SyncMessage } from "../../src/fleet/protocol.ts";
import { type FleetStore, memoryStore } from "../../src/fleet/stores.ts";
import type * as Staunch from "../../src/index.ts";
import { retryBudget } from "../../src/retry-budget.ts";
import { on } from "../../src/telemetry/events.ts";
import { FakeClock } from "../support/fake-clock.ts";

const boom = () => Promise.reject(new Error("dependency down"));
const ok = () => Promise.resolve("ok");

/** A store that counts exchanges and can be taken down (throws) or made to hang. */
function switchableStore(clock: FakeClock) {
  const inner = memoryStore({ env: clock });
  const store = {
    mode: "up" as "up" | "down" | "hang",
    exchanges: 0,
    messages: [] as SyncMessage[],
    exchange(message: SyncMessage, signal: AbortSignal) {
      store.exchanges++;
      store.messages.push(message);
      if (store.mode === "down") return Promise.reject(new TypeError("Network connection lost."));
      if (store.mode === "hang") return new Promise<never>(() => {});
      return inner.exchange(message, signal);
    },
  };
  return store;
}

interface Isolate {
  readonly shared: Coordinator;
  readonly breaker: CircuitBreaker;
  readonly changes: CircuitStateChange[];
}

function isolates(
  count: number,
  clock: FakeClock,
  store: FleetStore,
  breaker: { threshold?: number; probes?: number; halfOpenAfterMs?: number } = {},
  options: Partial<CoordinatorOptions> = {},
): Isolate[] {
  return Array.from({ length: count }, () => {
    const shared = coordinator({ store, env: clock, ...options });
    const changes: CircuitStateChange[] = [];
    return {
      shared,
      changes,
      breaker: circuitBreaker({
        strategy: consecutiveFailures(breaker.threshold ?? 5),
        halfOpenAfterMs: breaker.halfOpenAfterMs ?? 10_000,
        halfOpenProbes: breaker.probes ?? 1,
        fleet: shared.circuit("https://api.example"),
        env: clock,
        telemetry: on("circuit-state-change", (change) => changes.push(change)),
      }),
    };
  });
}

/** One call through `isolate`, then its exchanges have landed. */
async function call(isolate: Isolate, operation: () => Promise<unknown>): Promise<unknown> {
  const result = await isolate.breaker.execute(operation).catch((error: unknown) => error);
  await isolate.shared.settled();
  return result;
}

describe("shared circuit", () => {
  it("opens in every isolate when the failures they saw together reach the strategy's threshold", async () => {
    const clock = new FakeClock();
    const [a, b, c] = isolates(3, clock, memoryStore({ env: clock })) as [Isolate, Isolate, Isolate];
    await call(c, ok); // c is serving traffic too
    // Thin traffic: a and b fail three times each, a second apart, so each outcome is reported at once.
    for (let i = 0; i < 3; i++) {
      clock.nowMs += 1_000;
      await call(a, boom);
      await call(b, boom);
    }
    // Neither saw 5 failures in a row; the fleet saw 6.
    expect(a.breaker.state).toBe("open");
    expect(b.breaker.state).toBe("open");
    // c learns it from the answer to its next exchange, due once its view is a sync interval old.
    clock.nowMs += 1_000;
    let calls = 0;
    await call(c, async () => calls++);
    expect(c.breaker.state).toBe("open");
    expect(c.changes.map((change) => change.to)).toEqual(["open"]);
    expect(await call(c, async () => calls++)).toBeInstanceOf(CircuitOpenError);
    expect(calls).toBe(1); // the stale call before c's view was refreshed, not the one after
  });

  it("opens the fleet at once when one isolate's own strategy opens its breaker", async () => {
    const clock = new FakeClock();
    const store = switchableStore(clock);
    const [a, b] = isolates(2, clock, store) as [Isolate, Isolate];
    await call(b, ok);
    for (let i = 0; i < 5; i++) await call(a, boom); // a's outcomes are batched, its opening is not
    expect(a.breaker.state).toBe("open");
    expect(store.messages.at(-1)?.circuit?.opened).toBe(0);
    clock.nowMs += 1_000;
    await call(b, ok);
    expect(b.breaker.state).toBe("open");
    expect(b.breaker.retryAfterMs).toBe(9_000); // the fleet's open period, not one of b's own
  });

  it("lets exactly the configured number of probes through the whole fleet", async () => {
    for (const probes of [1, 2]) {
      const clock = new FakeClock();
      const fleet = isolates(3, clock, memoryStore({ env: clock }), { probes });
      for (const isolate of fleet) await call(isolate, ok);
      for (let i = 0; i < 5; i++) await call(fleet[0] as Isolate, boom);
      clock.nowMs += 1_000;
      for (const isolate of fleet.slice(1)) await call(isolate, ok); // they hear of the open circuit
      expect(fleet.map((isolate) => isolate.breaker.state)).toEqual(["open", "open", "open"]);

      clock.nowMs += 10_000; // half-open everywhere at once
      let probesSent = 0;
      let release: () => void = () => {};
      const gate = new Promise<void>((resolve) => (release = resolve));
      const attempts = fleet.flatMap((isolate) =>
        [1, 2].map(() =>
          isolate.breaker.execute(async () => {
            probesSent++;
            await gate;
            return "back";
          }),
        ),
      );
      const settled = Promise.allSettled(attempts);
      await new Promise((resolve) => setTimeout(resolve, 0));
      release();
      const outcomes = await settled;
      expect(probesSent).toBe(probes);
      expect(outcomes.filter((o) => o.status === "fulfilled")).toHaveLength(probes);
      expect(outcomes.filter((o) => o.status === "rejected").map((o) => (o.reason as Error).name)).toEqual(
        Array(6 - probes).fill("CircuitOpenError"),
      );
    }
  });

  it("closes every isolate after a probe succeeds elsewhere, within one recheck interval", async () => {
    const clock = new FakeClock();
    const [a, b] = isolates(2, clock, memoryStore({ env: clock })) as [Isolate, Isolate];
    await call(b, ok);
    for (let i = 0; i < 5; i++) await call(a, boom);
    clock.nowMs += 1_000;
    await call(b, ok);
    clock.nowMs += 9_000;
    const probe = a.breaker.execute(async () => {
      await new Promise((resolve) => setTimeout(resolve, 0));
      return "back";
    });
    // b asks while a's probe is out: refused, and told to ask again after the sync interval.
    const refused = await b.breaker.execute(ok).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(CircuitOpenError);
    expect((refused as CircuitOpenError).retryAfterMs).toBe(1_000);
    expect(await probe).toBe("back");
    await a.shared.settled();
    expect(a.breaker.state).toBe("closed");
    clock.nowMs += 1_000;
    expect(await call(b, ok)).toBe("ok");
    expect(b.breaker.state).toBe("closed");
  });

  it("reopens the fleet for longer after a failed probe, with the breaker's backoff", async () => {
    const clock = new FakeClock();
    const store = memoryStore({ env: clock });
    const fleet = Array.from({ length: 2 }, (): Isolate => {
      const shared = coordinator({ store, env: clock });
      return {
        shared,
        changes: [],
        breaker: circuitBreaker({
          strategy: consecutiveFailures(5),
          halfOpenAfterMs: { initialMs: 1_000, maxMs: 8_000 },
          fleet: shared.circuit("k"),
          env: clock,
        }),
      };
    });
    const [a, b] = fleet as [Isolate, Isolate];
    await call(b, ok);
    for (let i = 0; i < 5; i++) await call(a, boom);
    clock.nowMs += 1_000;
    await call(a, boom); // the probe fails
    expect(a.breaker.retryAfterMs).toBe(2_000);
    await call(b, ok); // b's view was a second old: this call went through, and its exchange brings the news
    expect(b.breaker.state).toBe("open");
    expect(b.breaker.retryAfterMs).toBe(2_000);
    expect(b.breaker.toJSON()).toMatchObject({ failedProbes: 1, openForMs: 2_000 });
  });

  it("gives a probe permit back when its isolate never reports, after the lease", async () => {
    const circuit = new FleetCircuit();
    const settings = { spec: null, probes: 1, initialOpenMs: 1_000, maxOpenMs: 1_000, multiplier: 1 };
    const report = { settings, outcomes: [], recheckMs: 500 };
    circuit.apply({ ...report, opened: 0 }, 0);
    expect(circuit.apply({ ...report, probeRequest: { leaseMs: 5_000 } }, 1_000).probe).toBe("granted");
    const refused = circuit.apply({ ...report, probeRequest: { leaseMs: 5_000 } }, 2_000);
    expect(refused).toMatchObject({ probe: "denied", open: true, remainingMs: 500 });
    expect(circuit.apply({ ...report, probeRequest: { leaseMs: 5_000 } }, 6_000).probe).toBe("granted");
  });

  it("does not let an answer to an earlier report undo this isolate's own later transition", async () => {
    const clock = new FakeClock();
    const inner = memoryStore({ env: clock });
    let hold: (() => void) | undefined;
    const store: FleetStore = {
      async exchange(message, signal) {
        const reply = await inner.exchange(message, signal);
        if (hold === undefined && !message.circuit?.opened) await new Promise<void>((resolve) => (hold = resolve));
        return reply;
      },
    };
    const [a] = isolates(1, clock, store) as [Isolate];
    const first = a.breaker.execute(boom).catch(() => {}); // starts an exchange that answers "closed" late
    await first;
    for (let i = 0; i < 4; i++) await a.breaker.execute(boom).catch(() => {});
    expect(a.breaker.state).toBe("open");
    hold?.(); // the stale "closed" answer lands now
    await a.shared.settled();
    expect(a.breaker.state).toBe("open");
    expect(a.changes.map((change) => change.to)).toEqual(["open"]); // never closed in between
  });

  it("runs a failure-rate strategy over the fleet's outcomes, in order", async () => {
    const clock = new FakeClock();
    const store = memoryStore({ env: clock });
    const make = () => {
      const shared = coordinator({ store, env: clock, maxBatch: 1 });
      const breaker = circuitBreaker({
        strategy: failureRate({ threshold: 0.5, minimumThroughput: 8, windowSize: 8 }),
        fleet: shared.circuit("k"),
        env: clock,
      });
      return { shared, breaker, changes: [] } satisfies Isolate;
    };
    const a = make();
    const b = make();
    for (let i = 0; i < 4; i++) await call(a, ok);
    for (let i = 0; i < 3; i++) await call(b, boom);
    expect(a.breaker.state).toBe("closed");
    await call(b, boom); // 4 failures out of 8 fleet-wide: 50 %
    expect(b.breaker.state).toBe("open");
  });

  it("shares only openings for a custom strategy, which another process cannot run", async () => {
    const clock = new FakeClock();
    const store = switchableStore(clock);
    const shared = coordinator({ store, env: clock });
    const custom = { record: () => false, reset() {}, snapshot: () => null, restore() {} };
    const breaker = circuitBreaker({ strategy: custom, fleet: shared.circuit("k"), env: clock });
    await breaker.execute(ok);
    await shared.settled();
    expect(store.messages[0]?.circuit?.settings.spec).toBeNull();
  });
});

describe("shared retry budget", () => {
  function budgets(count: number, clock: FakeClock, store: FleetStore, options = {}) {
    return Array.from({ length: count }, () => {
      const shared = coordinator({ store, env: clock, maxBatch: 10 });
      return {
        shared,
        budget: retryBudget({
          ratio: 0.2,
          minRetriesPerSecond: 0,
          windowMs: 10_000,
          ...options,
          env: clock,
          fleet: shared.budget("k"),
        }),
      };
    });
  }

  it("allows ratio × the whole fleet's calls, wherever they were made", async () => {
    const clock = new FakeClock();
    const [a, b] = budgets(2, clock, memoryStore({ env: clock })) as [
      ReturnType<typeof budgets>[0],
      ReturnType<typeof budgets>[0],
    ];
    for (let i = 0; i < 50; i++) a.budget.recordRequest();
    await a.shared.settled();
    b.budget.recordRequest();
    await b.shared.settled();
    let granted = 0;
    while (b.budget.tryAcquireRetry()) {
      granted++;
      await b.shared.settled();
    }
    expect(granted).toBe(10); // 0.2 × 51 calls, of which b made 1
    expect(b.budget.state()).toEqual({ requests: 51, retries: 10, available: 0 });
    // a decides on the view its last exchange brought, from before b's retries: one more retry, and the
    // exchange that retry starts brings b's back.
    expect(a.budget.tryAcquireRetry()).toBe(true);
    await a.shared.settled();
    expect(a.budget.state()).toEqual({ requests: 51, retries: 11, available: 0 });
    expect(a.budget.tryAcquireRetry()).toBe(false);
  });

  it("keeps the minimum retries per second a floor for the fleet, not for each isolate", async () => {
    const clock = new FakeClock();
    const fleet = budgets(3, clock, memoryStore({ env: clock }), { ratio: 0, minRetriesPerSecond: 3, windowMs: 1_000 });
    for (const { budget, shared } of fleet) {
      budget.recordRequest();
      await shared.settled();
    }
    let granted = 0;
    for (let round = 0; round < 3; round++) {
      for (const { budget, shared } of fleet) {
        if (budget.tryAcquireRetry()) granted++;
        await shared.settled();
      }
    }
    // Isolated budgets would grant 3 each, 9 in all. Each isolate decides on the counts its previous exchange
    // brought, so two retries got through before those counts caught up.
    expect(granted).toBe(5);
  });

  it("decides on this isolate's counts until the fleet's arrive, and when they are too old", async () => {
    const clock = new FakeClock();
    const fleet = budgets(2, clock, memoryStore({ env: clock }), { ratio: 0, minRetriesPerSecond: 1 });
    const [a, b] = fleet as [(typeof fleet)[0], (typeof fleet)[0]];
    expect(a.budget.state().available).toBe(10); // no view yet: its own floor, 1 a second over 10 s
    for (let i = 0; i < 4; i++) {
      b.budget.tryAcquireRetry();
      await b.shared.settled();
    }
    a.budget.recordRequest();
    await a.shared.settled();
    expect(a.budget.state()).toMatchObject({ retries: 4, available: 6 }); // the fleet's view
    clock.nowMs += 1_499;
    expect(a.budget.state()).toMatchObject({ retries: 4 }); // up to syncIntervalMs + timeoutMs old: still used
    clock.nowMs += 2; // older: its own counts again
    expect(a.budget.state()).toMatchObject({ retries: 0, available: 10 });
  });
});

describe("when the store cannot be reached", () => {
  it("decides locally, says so once, and never fails a call because of it", async () => {
    const clock = new FakeClock();
    const store = switchableStore(clock);
    store.mode = "down";
    const degraded: FleetDegradedEvent[] = [];
    const recovered: FleetRecoveredEvent[] = [];
    const [a] = isolates(
      1,
      clock,
      store,
      {},
      {
        telemetry: [on("fleet-degraded", (e) => degraded.push(e)), on("fleet-recovered", (e) => recovered.push(e))],
      },
    ) as [Isolate];
    for (let i = 0; i < 3; i++) expect(await call(a, ok)).toBe("ok");
    expect(degraded).toHaveLength(1);
    expect(degraded[0]).toMatchObject({ key: "https://api.example", operation: "sync" });
    expect(degraded[0]?.error).toMatchObject({ message: "Network connection lost." });
    expect(store.exchanges).toBe(1); // asked again only once an interval while down
    for (let i = 0; i < 5; i++) await call(a, boom);
    expect(a.breaker.state).toBe("open"); // the local breaker still protects
    clock.nowMs += 10_000;
    expect(await call(a, ok)).toBe("ok"); // half-open: the store fails at once, so a probes on its own
    expect(a.breaker.state).toBe("closed");
    store.mode = "up";
    clock.nowMs += 1_000; // asked again once an interval
    await call(a, ok);
    expect(recovered).toEqual([{ type: "fleet-recovered", key: "https://api.example", degradedForMs: 11_000 }]);
    expect(a.shared.status()[0]).toMatchObject({ degraded: false, circuit: "closed" });
  });

  it("waits at most timeoutMs for a probe permit from a store that hangs, then probes locally", async () => {
    const clock = new FakeClock();
    const store = switchableStore(clock);
    const degraded: FleetDegradedEvent[] = [];
    const [a] = isolates(
      1,
      clock,
      store,
      {},
      { timeoutMs: 200, telemetry: on("fleet-degraded", (e) => degraded.push(e)) },
    ) as [Isolate];
    for (let i = 0; i < 5; i++) await call(a, boom);
    clock.nowMs += 10_000;
    store.mode = "hang";
    const startedMs = clock.nowMs;
    expect(await clock.run(a.breaker.execute(ok))).toBe("ok");
    expect(clock.nowMs - startedMs).toBe(200);
    expect(degraded.map((event) => event.operation)).toEqual(["probe"]);
    expect(degraded[0]?.error).toMatchObject({ name: "TimeoutError" });
    expect(clock.pendingTimers).toBe(0);
  });

  it("tells the fleet about a local opening once the store answers again", async () => {
    const clock = new FakeClock();
    const store = switchableStore(clock);
    const [a, b] = isolates(2, clock, store) as [Isolate, Isolate];
    await call(b, ok);
    await call(a, ok);
    store.mode = "down";
    for (let i = 0; i < 5; i++) await call(a, boom);
    store.mode = "up";
    clock.nowMs += 1_000;
    expect(await call(a, boom)).toBeInstanceOf(CircuitOpenError); // failed fast; its exchange carries the opening
    clock.nowMs += 1;
    await call(b, ok);
    expect(b.breaker.state).toBe("open");
  });
});

describe("hooks", () => {
  it("keeps sharing when a hook throws during a background exchange", async () => {
    const clock = new FakeClock();
    const store = switchableStore(clock);
    store.mode = "down";
    const shared = coordinator({
      store,
      env: clock,
      telemetry: () => {
        throw new Error("a broken listener");
      },
    });
    const breaker = circuitBreaker({ fleet: shared.circuit("k"), env: clock });
    await breaker.execute(ok);
    await shared.settled();
    expect(shared.status()[0]).toMatchObject({ degraded: true });
    store.mode = "up";
    clock.nowMs += 1_000;
    await breaker.execute(ok);
    await shared.settled();
    expect(shared.status()[0]).toMatchObject({ degraded: false });
  });
});

describe("batching", () => {
  it("reports steady traffic once a batch is full or the interval is up, never per call", async () => {
    const clock = new FakeClock({ startMs: 0 });
    const store = switchableStore(clock);
    const shared = coordinator({ store, env: clock, maxBatch: 100, syncIntervalMs: 1_000 });
    const client = createFetch({
      fetch: async () => new Response("ok"),
      breaker: { fleet: shared },
      budget: retryBudget({ fleet: shared.budget("https://api.example") }),
      env: clock,
    });
    // 10 calls a second for 10 s, then 500 a second for 2 s.
    for (let i = 0; i < 100; i++) {
      clock.nowMs = i * 100;
      await (await client("https://api.example/a")).text();
      await shared.settled();
    }
    expect(store.exchanges).toBe(10);
    store.exchanges = 0;
    for (let i = 0; i < 1_000; i++) {
      clock.nowMs = 10_000 + i * 2;
      await (await client("https://api.example/a")).text();
      await shared.settled();
    }
    expect(store.exchanges).toBeLessThanOrEqual(11); // every 100 outcomes (a breaker and a budget share each one)
    expect(store.messages.every((m) => m.circuit !== undefined && m.budget !== undefined)).toBe(true);
    expect(clock.pendingTimers).toBe(0); // no timer outlives an exchange
  });

  it("resets the fleet's circuit and counts for a key", async () => {
    const clock = new FakeClock();
    const [a, b] = isolates(2, clock, memoryStore({ env: clock })) as [Isolate, Isolate];
    for (let i = 0; i < 5; i++) await call(a, boom);
    await b.shared.reset("https://api.example");
    expect(b.shared.status()[0]).toMatchObject({ circuit: "closed" });
    clock.nowMs += 1_000;
    await call(a, ok);
    expect(a.breaker.state).toBe("closed");
  });
});

describe("keys", () => {
  it("takes an origin written with a trailing slash, capitals or its default port for createFetch's key", async () => {
    const clock = new FakeClock();
    const store = switchableStore(clock);
    const shared = coordinator({ store, env: clock });
    const client = createFetch({
      fetch: async () => new Response("ok"),
      breaker: { fleet: shared },
      budget: retryBudget({ fleet: shared.budget("HTTPS://API.example:443/"), env: clock }),
      env: clock,
    });
    await (await client("https://api.example/a")).text();
    await shared.settled();
    expect(shared.status().map((s) => s.key)).toEqual(["https://api.example"]);
    expect(store.messages.every((m) => m.circuit !== undefined && m.budget !== undefined)).toBe(true);
  });

  it("keeps a path, and any name that is not an http(s) URL, as given", () => {
    expect(fleetKey("https://api.example/v1/users/")).toBe("https://api.example/v1/users");
    expect(fleetKey("payments-db")).toBe("payments-db");
    expect(fleetKey("Payments-DB/")).toBe("Payments-DB/");
  });
});

describe("options and messages", () => {
  it("hands breakers and budgets opaque links, and keeps the wire format off the main entry", () => {
    const fleet = coordinator({ store: memoryStore() });
    const link = fleet.circuit("payments-db");
    // @ts-expect-error a link is given to a breaker, not called: its members are the fleet layer's own
    expect(typeof link.acquireProbe).toBe("function");
    // @ts-expect-error the same for a budget's link
    expect(typeof fleet.budget("payments-db").totals).toBe("function");
    // @ts-expect-error the wire types come from staunch/durable, for a store of one's own
    const message: Staunch.SyncMessage | undefined = undefined;
    expect(message).toBeUndefined();
    expect(circuitBreaker({ fleet: link }).state).toBe("closed");
  });

  it("refuses bad options by name", () => {
    const store = memoryStore();
    expect(() => coordinator({ store: {} as FleetStore })).toThrow('coordinator: option "store"');
    expect(() => coordinator({ store, syncIntervalMs: 0 })).toThrow('option "syncIntervalMs"');
    expect(() => coordinator({ store, typo: 1 } as CoordinatorOptions)).toThrow('unknown option "typo"');
    expect(() => coordinator({ store }).circuit("")).toThrow("non-empty string");
    expect(() => circuitBreaker({ fleet: {} as never })).toThrow('circuitBreaker: option "fleet"');
    expect(() => retryBudget({ fleet: {} as never })).toThrow('retryBudget: option "fleet"');
    expect(() => createFetch({ breaker: { fleet: {} as never } })).toThrow('createFetch.breaker: option "fleet"');
  });

  it("refuses, when createFetch is built, a fleet whose circuit(origin) gives no link", () => {
    const fleet = { circuit: () => 42 } as never;
    expect(() => createFetch({ breaker: { fleet } })).toThrow(
      new TypeError(
        'createFetch.breaker: option "fleet" must be a coordinator(…), whose circuit(origin) gives a fleet link, got [object Object]',
      ),
    );
    expect(() => perOriginBreaker({ fleet })).toThrow(TypeError);
  });

  it("takes a coordinator as createFetch's fleet without opening a key for the check", () => {
    const fleet = coordinator({ store: memoryStore() });
    createFetch({ breaker: { fleet } });
    expect(fleet.status()).toEqual([]);
  });

  it("names fleet when given the option by its former name, shared", () => {
    const fleet = coordinator({ store: memoryStore() });
    const legacy = { shared: fleet.circuit("k") } as never;
    expect(() => circuitBreaker(legacy)).toThrow(/circuitBreaker: unknown option "shared" \(known: .*\bfleet\b/);
    expect(() => retryBudget({ shared: fleet.budget("k") } as never)).toThrow(/unknown option "shared".*\bfleet\b/);
    expect(() => createFetch({ breaker: { shared: fleet } as never })).toThrow(/unknown option "shared".*\bfleet\b/);
  });

  it("rebuilds the built-in strategies from their specs, and refuses junk", () => {
    const strategy = strategyFromSpec(consecutiveFailures(2).spec);
    expect(strategy?.record(false, 0)).toBe(false);
    expect(strategy?.record(false, 0)).toBe(true);
    expect(strategyFromSpec(failureRate({ windowMs: 5_000 }).spec)?.spec).toEqual({
      kind: "failureRate",
      options: { threshold: 0.5, minimumThroughput: 10, windowMs: 5_000, buckets: 10 },
    });
    for (const junk of [null, 1, { kind: "consecutiveFailures", threshold: -1 }, { kind: "eval" }]) {
      expect(strategyFromSpec(junk)).toBeUndefined();
    }
  });

  it("accepts only well-formed messages and answers", () => {
    const settings = { spec: null, probes: 1, initialOpenMs: 10, maxOpenMs: 10, multiplier: 1 };
    const good = { version: 1, key: "k", circuit: { settings, outcomes: [3, -1], recheckMs: 1 } };
    expect(parseSyncMessage(good)).toEqual(good);
    expect(parseSyncMessage({ ...good, version: 2 })).toBeUndefined();
    expect(parseSyncMessage({ ...good, key: "" })).toBeUndefined();
    expect(parseSyncMessage({ ...good, circuit: { ...good.circuit, outcomes: [0] } })).toBeUndefined();
    expect(parseSyncMessage({ ...good, circuit: { ...good.circuit, outcomes: [1e6] } })).toBeUndefined();
    expect(
      parseSyncMessage({ ...good, budget: { windowMs: 1, buckets: 1, requests: -1, retries: 0 } }),
    ).toBeUndefined();
    expect(parseSyncReply({ budget: { requests: 1, retries: 0 } })).toEqual({ budget: { requests: 1, retries: 0 } });
    expect(parseSyncReply({ circuit: { open: "yes" } })).toBeUndefined();
    expect(parseSyncReply("<html>")).toBeUndefined();
  });
});
