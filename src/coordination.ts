/**
 * Breaker and budget state shared across isolates (Cloudflare Workers isolates, processes, tabs): a
 * coordinator reports each isolate's outcomes to a store in small batches and brings back the fleet's state,
 * which it keeps as a short-lived local view. No call waits for the store, except a half-open probe asking
 * for its fleet-wide permit; and when the store cannot be reached in time, every decision falls back to the
 * isolate's own state, with an event that says so.
 *
 * Without a coordinator, circuit breakers and retry budgets keep their state in memory exactly as before.
 */

import type { BreakerStrategy } from "./breaker-strategies.ts";
import type { CircuitBreaker, CircuitState } from "./circuit-breaker.ts";
import { type Environment, resolveEnvironment } from "./environment.ts";
import {
  type BudgetReport,
  type CircuitReport,
  FleetStates,
  type SharedBudgetView,
  type SharedCircuitSettings,
  SYNC_PROTOCOL_VERSION,
  type SyncMessage,
  type SyncReply,
} from "./fleet-state.ts";
import type { Logger } from "./http/types.ts";
import { KeyedRegistry } from "./keyed-registry.ts";
import { errorName } from "./transient.ts";
import {
  optionalFunction,
  optionalSink,
  optionError,
  requireFiniteAtLeast,
  requireIntegerAtLeast,
  requireKnownKeys,
  requireOptionsObject,
} from "./validate.ts";

export type {
  BudgetReport,
  CircuitReport,
  SharedBudgetView,
  SharedCircuitSettings,
  SharedCircuitView,
  SyncMessage,
  SyncReply,
} from "./fleet-state.ts";

/**
 * Where the fleet's state lives: one round trip that takes an isolate's report for one key and answers with
 * the fleet's state. `durableObjectStore` (from `staunch/durable`) keeps it in a Durable Object;
 * {@link memoryStore} in this process.
 */
export interface CoordinationStore {
  /** Rejects when the store cannot be reached; `signal` aborts when the coordinator stops waiting. */
  exchange(message: SyncMessage, signal: AbortSignal): Promise<SyncReply>;
}

/** A breaker's link to the fleet; made by {@link Coordinator.circuit}, given as `circuitBreaker({ shared })`. */
export interface SharedCircuit {
  /**
   * Called once by the breaker it is given to, with the settings the fleet runs too. The fleet's state is
   * handed to the breaker through its `restore` (open, until when) and `reset` (closed).
   */
  connect(breaker: CircuitBreaker, settings: ConnectedCircuitSettings): void;
  /** A call ended: its outcome (`undefined`: it said nothing about the dependency), and whether it was a probe. */
  record(outcome: boolean | undefined, probe: boolean): void;
  /** The breaker's own strategy opened it. */
  opened(): void;
  /**
   * Half-open: asks the fleet whether this isolate may send a probe. `true`: go; `false`: the fleet said no
   * (its state has been adopted by then); `undefined`: no answer in time, decide locally. Never rejects.
   */
  acquireProbe(): Promise<boolean | undefined>;
}

/** A breaker's settings, as far as its fleet needs them; `env.now` is the breaker's clock. */
export interface ConnectedCircuitSettings {
  readonly strategy: BreakerStrategy;
  readonly probes: number;
  readonly initialOpenMs: number;
  readonly maxOpenMs: number;
  readonly multiplier: number;
  readonly env: Pick<Environment, "now">;
}

/** A breaker connected to a channel, with its own clock. */
interface CircuitMember {
  readonly breaker: CircuitBreaker;
  readonly now: () => number;
}

/** A retry budget's link to the fleet; made by {@link Coordinator.budget}, given as `retryBudget({ shared })`. */
export interface SharedBudget {
  /** Called once by the budget it is given to. */
  connect(window: { readonly windowMs: number; readonly buckets: number }): void;
  /** Counts a call (`false`) or a retry (`true`). */
  count(retry: boolean): void;
  /** The fleet's counts, this isolate's unreported ones included; `undefined` while there is no fresh view. */
  totals(): SharedBudgetView | undefined;
}

/** Handed to `onDegraded`: the store did not answer, and `key` is decided locally until it does. */
export interface CoordinationDegradedEvent {
  readonly key: string;
  /** `"sync"`: a batch report; `"probe"`: a probe permit; `"reset"`. */
  readonly operation: "sync" | "probe" | "reset";
  readonly error: unknown;
}

/** Handed to `onRecovered`: the store answers again. */
export interface CoordinationRecoveredEvent {
  readonly key: string;
  readonly degradedForMs: number;
}

/** One key's link to the fleet, for dashboards and health checks. */
export interface CoordinationStatus {
  readonly key: string;
  /** The store did not answer the last exchange: this isolate decides alone. */
  readonly degraded: boolean;
  /** How old the fleet's state is here (`undefined`: never received). */
  readonly viewAgeMs: number | undefined;
  /** The fleet's circuit as last seen. */
  readonly circuit: Extract<CircuitState, "closed" | "open"> | undefined;
}

/** Options of {@link coordinator}. */
export interface CoordinatorOptions {
  readonly store: CoordinationStore;
  /**
   * The longest an isolate with traffic goes without an exchange, in ms: its view of the fleet is at most this
   * plus `timeoutMs` old. Default 1,000.
   */
  readonly syncIntervalMs?: number;
  /** Outcomes and calls that, once pending, start an exchange before the interval is up. Default 100. */
  readonly maxBatch?: number;
  /**
   * How long an exchange may take before the isolate stops waiting and decides alone, in ms. Only a
   * half-open probe asking for its permit ever waits for it. Default 500: a Durable Object lives in one place,
   * and an isolate on the other side of the world can be a few hundred ms away from it.
   */
  readonly timeoutMs?: number;
  /** The longest a probe permit is held when its result never comes back (the isolate died), in ms. Default 30,000. */
  readonly probeLeaseMs?: number;
  /** Keys whose link is kept (least recently used dropped). Default 1,000. */
  readonly maxKeys?: number;
  /** Called when the store stops answering for a key (once, until it answers again). */
  readonly onDegraded?: (event: CoordinationDegradedEvent) => void;
  /** Called when the store answers again for a key that was degraded. */
  readonly onRecovered?: (event: CoordinationRecoveredEvent) => void;
  /** Warns when a key becomes degraded and when it recovers. */
  readonly logger?: Pick<Logger, "warn">;
  readonly env?: Partial<Environment>;
}

/** The links of one isolate to its fleet, one per key. */
export interface Coordinator {
  /** The link of the breaker for `key` (give it as `circuitBreaker({ shared })`, or give the coordinator to createFetch). */
  circuit(key: string): SharedCircuit;
  /** The link of a retry budget for `key`; a budget and a breaker on one key share each exchange. */
  budget(key: string): SharedBudget;
  /**
   * Resolves once no exchange is in flight; never rejects. In a Worker, hand it to `ctx.waitUntil` so that a
   * report started by a request is not cut off when the response is sent.
   */
  settled(): Promise<void>;
  /** Closes the fleet's circuit for `key` and forgets its counts (a dashboard reset, a test). Never rejects. */
  reset(key: string): Promise<void>;
  /** Each key's link: degraded or not, how old its view of the fleet is, the fleet's circuit as last seen. */
  status(): CoordinationStatus[];
}

const OPTION_KEYS = Object.keys({
  store: true,
  syncIntervalMs: true,
  maxBatch: true,
  timeoutMs: true,
  probeLeaseMs: true,
  maxKeys: true,
  onDegraded: true,
  onRecovered: true,
  logger: true,
  env: true,
} satisfies Record<keyof CoordinatorOptions, true>);

interface Settings {
  readonly store: CoordinationStore;
  readonly syncIntervalMs: number;
  readonly maxBatch: number;
  readonly timeoutMs: number;
  readonly probeLeaseMs: number;
  readonly onDegraded: ((event: CoordinationDegradedEvent) => void) | undefined;
  readonly onRecovered: ((event: CoordinationRecoveredEvent) => void) | undefined;
  readonly logger: Pick<Logger, "warn"> | undefined;
  readonly env: Environment;
  readonly inFlight: Set<Promise<unknown>>;
}

type Writable<T> = { -readonly [K in keyof T]: T[K] };

/** Runs of outcomes kept while the store does not answer; the fleet's windows are short, so older ones matter little. */
const MAX_PENDING_RUNS = 10_000;
/** Breakers that share one key in one isolate (clients sharing a coordinator): a few at most. */
const MAX_CIRCUITS_PER_KEY = 8;

/** What one key's isolate has to say and knows of the fleet. */
class Channel {
  readonly key: string;
  readonly #s: Settings;
  readonly #circuits = new Set<CircuitMember>();
  #circuitSettings: SharedCircuitSettings | undefined;
  #budgetWindow: { readonly windowMs: number; readonly buckets: number } | undefined;

  // Pending: not yet sent.
  #runs: number[] = [];
  #outcomes = 0;
  #requests = 0;
  #retries = 0;
  #opened: number | undefined;
  #probe: CircuitReport["probe"];
  /** Something other isolates should hear about now rather than at the next interval. */
  #urgent = false;

  // Sent, not yet answered: counted here so that the budget neither forgets nor double-counts them.
  #sentRequests = 0;
  #sentRetries = 0;
  #syncing = false;
  #lastExchangeMs = Number.NEGATIVE_INFINITY;

  /** The fleet epoch last adopted. */
  #epoch = 0;
  /** Counts this isolate's own transitions; an answer to an exchange sent before the latest one is not adopted. */
  #transitions = 0;
  #heldPermits = 0;
  #budgetView: (SharedBudgetView & { readonly atMs: number }) | undefined;
  #circuitView: { readonly open: boolean; readonly atMs: number } | undefined;
  #degradedSinceMs: number | undefined;

  constructor(key: string, settings: Settings) {
    this.key = key;
    this.#s = settings;
  }

  connectCircuit(breaker: CircuitBreaker, settings: ConnectedCircuitSettings): void {
    // A client that drops an origin's breaker (its own LRU) and makes another connects again: the oldest goes,
    // so a long-lived key does not keep every breaker it ever had.
    if (this.#circuits.size >= MAX_CIRCUITS_PER_KEY) {
      this.#circuits.delete(this.#circuits.values().next().value as CircuitMember);
    }
    this.#circuits.add({ breaker, now: () => settings.env.now() });
    this.#circuitSettings = {
      spec: settings.strategy.spec ?? null,
      probes: settings.probes,
      initialOpenMs: settings.initialOpenMs,
      maxOpenMs: settings.maxOpenMs,
      multiplier: settings.multiplier,
    };
  }

  connectBudget(window: { readonly windowMs: number; readonly buckets: number }): void {
    this.#budgetWindow = { windowMs: window.windowMs, buckets: window.buckets };
  }

  /** Also called with no outcome for a call refused by an open circuit: that traffic keeps the view fresh. */
  record(outcome: boolean | undefined, probe: boolean): void {
    if (probe) {
      const release = this.#heldPermits > 0;
      if (release) this.#heldPermits--;
      if (release || outcome !== undefined) {
        this.#probe = { epoch: this.#epoch, success: outcome ?? null, release };
        this.#urgent = true;
      }
      if (outcome !== undefined) {
        this.#transitions++;
        this.#opened = undefined; // superseded: the probe's result says where the circuit now is
      }
    } else if (outcome !== undefined) {
      this.#outcomes++;
      const last = this.#runs.length - 1;
      const run = this.#runs[last];
      if (run !== undefined && run > 0 === outcome) this.#runs[last] = run + (outcome ? 1 : -1);
      else if (last < MAX_PENDING_RUNS) this.#runs.push(outcome ? 1 : -1); // beyond: dropped while the store is down
    }
    this.#poke();
  }

  opened(): void {
    this.#opened = this.#epoch;
    this.#transitions++;
    this.#urgent = true;
    this.#poke();
  }

  count(retry: boolean): void {
    if (retry) {
      this.#retries++;
      this.#urgent = true; // a retry spends the fleet's allowance: others should see it within a round trip
    } else {
      this.#requests++;
    }
    this.#poke();
  }

  totals(): SharedBudgetView | undefined {
    const view = this.#budgetView;
    if (view === undefined || this.#degradedSinceMs !== undefined) return undefined;
    if (this.#s.env.now() - view.atMs > this.#s.syncIntervalMs + this.#s.timeoutMs) return undefined;
    return {
      requests: view.requests + this.#requests + this.#sentRequests,
      retries: view.retries + this.#retries + this.#sentRetries,
    };
  }

  async acquireProbe(): Promise<boolean | undefined> {
    if (this.#circuitSettings === undefined || this.#backingOff(this.#s.env.now())) return undefined;
    const reply = await this.#exchange("probe", { leaseMs: this.#s.probeLeaseMs });
    if (reply?.circuit === undefined) return undefined;
    if (reply.circuit.probe !== "granted") return false;
    this.#heldPermits++;
    return true;
  }

  async reset(): Promise<void> {
    this.#runs = [];
    this.#outcomes = this.#requests = this.#retries = 0;
    this.#opened = this.#probe = undefined;
    this.#budgetView = undefined;
    this.#transitions++;
    await this.#exchange("reset", undefined, true);
  }

  status(nowMs: number): CoordinationStatus {
    const view = this.#circuitView ?? this.#budgetView;
    return {
      key: this.key,
      degraded: this.#degradedSinceMs !== undefined,
      viewAgeMs: view === undefined ? undefined : nowMs - view.atMs,
      circuit: this.#circuitView === undefined ? undefined : this.#circuitView.open ? "open" : "closed",
    };
  }

  /** While the store is down, it is asked again once an interval, not on every event. */
  #backingOff(nowMs: number): boolean {
    return this.#degradedSinceMs !== undefined && nowMs - this.#lastExchangeMs < this.#s.syncIntervalMs;
  }

  /** Starts a batch exchange when something urgent is pending, the batch is full, or the view is due. */
  #poke(): void {
    if (this.#syncing) return; // what is pending goes with the next one, started when this one ends
    const now = this.#s.env.now();
    if (this.#backingOff(now)) return;
    // Calls, not events: a breaker's outcome and a budget's count are mostly the same call.
    const pending = Math.max(this.#outcomes, this.#requests + this.#retries);
    if (!this.#urgent && pending < this.#s.maxBatch && now - this.#lastExchangeMs < this.#s.syncIntervalMs) return;
    this.#syncing = true;
    // One microtask later, so that the events of the same turn (an outcome and the transition it caused) go
    // together, and the report is built after the breaker has applied its own transition.
    this.#track(
      Promise.resolve()
        .then(() => this.#exchange("sync"))
        .then(() => {
          this.#syncing = false;
          this.#poke(); // what came in meanwhile, if it is urgent or a full batch
        }),
    );
  }

  #track(promise: Promise<unknown>): void {
    const inFlight = this.#s.inFlight;
    inFlight.add(promise);
    promise.finally(() => inFlight.delete(promise));
  }

  #take(probeRequest: CircuitReport["probeRequest"], reset: boolean): SyncMessage {
    const message: Writable<SyncMessage> = { version: SYNC_PROTOCOL_VERSION, key: this.key };
    if (reset) message.reset = true;
    if (this.#circuitSettings !== undefined) {
      const circuit: Writable<CircuitReport> = {
        settings: this.#circuitSettings,
        outcomes: this.#runs,
        recheckMs: this.#s.syncIntervalMs,
      };
      if (this.#opened !== undefined) circuit.opened = this.#opened;
      if (this.#probe !== undefined) circuit.probe = this.#probe;
      if (probeRequest !== undefined) circuit.probeRequest = probeRequest;
      message.circuit = circuit;
    }
    if (this.#budgetWindow !== undefined) {
      const budget: BudgetReport = { ...this.#budgetWindow, requests: this.#requests, retries: this.#retries };
      message.budget = budget;
    }
    this.#sentRequests += this.#requests;
    this.#sentRetries += this.#retries;
    this.#runs = [];
    this.#outcomes = this.#requests = this.#retries = 0;
    this.#opened = this.#probe = undefined;
    this.#urgent = false;
    return message;
  }

  /** One round trip, bounded by `timeoutMs`; `undefined` when the store did not answer. Never rejects. */
  async #exchange(
    operation: CoordinationDegradedEvent["operation"],
    probeRequest?: CircuitReport["probeRequest"],
    reset = false,
  ): Promise<SyncReply | undefined> {
    const s = this.#s;
    this.#lastExchangeMs = s.env.now();
    const message = this.#take(probeRequest, reset);
    const sentRequests = message.budget?.requests ?? 0;
    const sentRetries = message.budget?.retries ?? 0;
    const transitions = this.#transitions;
    let reply: SyncReply;
    try {
      reply = await withDeadline((signal) => s.store.exchange(message, signal), s.timeoutMs, s.env);
    } catch (error) {
      // The local open is what other isolates most need to hear: it goes again with the next exchange.
      if (message.circuit?.opened !== undefined && this.#transitions === transitions) {
        this.#opened = message.circuit.opened;
      }
      this.#hooks(() => this.#degraded(operation, error));
      return undefined;
    } finally {
      // Now either in the fleet's counts (and the view) or lost with the failed exchange.
      this.#sentRequests -= sentRequests;
      this.#sentRetries -= sentRetries;
    }
    this.#hooks(() => {
      this.#recovered();
      this.#adopt(reply, transitions);
    });
    return reply;
  }

  /**
   * Runs what may call the user's hooks (events, a breaker's onStateChange) after an exchange, where no caller
   * is waiting: a hook that throws must not leave the channel stuck mid-exchange.
   */
  #hooks(run: () => void): void {
    try {
      run();
    } catch (error) {
      this.#s.logger?.warn(`staunch: a hook threw while handling the shared state for ${this.key}`, { error });
    }
  }

  #adopt(reply: SyncReply, transitions: number): void {
    const now = this.#s.env.now();
    if (reply.budget !== undefined) this.#budgetView = { ...reply.budget, atMs: now };
    const view = reply.circuit;
    // An answer to a report sent before this isolate's latest transition describes a state it has left.
    if (view === undefined || transitions !== this.#transitions) return;
    this.#epoch = view.epoch;
    this.#circuitView = { open: view.open, atMs: now };
    for (const { breaker, now: breakerNow } of this.#circuits) {
      if (!view.open) {
        if (breaker.state !== "closed") breaker.reset(); // a probe succeeded elsewhere in the fleet
        continue;
      }
      // Open (or half-open) because the fleet says so, until the time it says, with its backoff.
      breaker.restore({
        state: "open",
        openedAtMs: breakerNow() + view.remainingMs - view.openForMs,
        openForMs: view.openForMs,
        failedProbes: view.failedProbes,
        strategy: undefined, // not the fleet's to set: the breaker keeps counting its own outcomes
      });
    }
  }

  #degraded(operation: CoordinationDegradedEvent["operation"], error: unknown): void {
    if (this.#degradedSinceMs !== undefined) return;
    this.#degradedSinceMs = this.#s.env.now();
    this.#s.onDegraded?.({ key: this.key, operation, error });
    this.#s.logger?.warn(
      `staunch: shared state for ${this.key} unavailable (${errorName(error) ?? "error"}); deciding locally`,
      { key: this.key, operation, error },
    );
  }

  #recovered(): void {
    const since = this.#degradedSinceMs;
    if (since === undefined) return;
    this.#degradedSinceMs = undefined;
    const degradedForMs = Math.round(this.#s.env.now() - since);
    this.#s.onRecovered?.({ key: this.key, degradedForMs });
    this.#s.logger?.warn(`staunch: shared state for ${this.key} reachable again after ${degradedForMs} ms`, {
      key: this.key,
      degradedForMs,
    });
  }
}

/**
 * The key a name stands for in the fleet's state. An http(s) URL is written as createFetch writes an origin:
 * lower-case scheme and host, no default port, no credentials, no trailing slash; so
 * `budget("https://API.example.com/")` shares the key (and each exchange) of the breaker createFetch keeps
 * for `https://api.example.com`. Any other name is kept as given.
 *
 * @example
 * ```ts
 * fleetKey("HTTPS://api.example.com:443/"); // "https://api.example.com"
 * fleetKey("https://api.example.com/v1/users/"); // "https://api.example.com/v1/users"
 * fleetKey("payments-db"); // "payments-db"
 * ```
 */
export function fleetKey(key: string): string {
  if (!/^https?:\/\//i.test(key)) return key;
  let url: URL;
  try {
    url = new URL(key);
  } catch {
    return key;
  }
  return `${url.origin}${url.pathname.replace(/\/+$/, "")}${url.search}`;
}

/** Runs `work` with a signal that aborts after `timeoutMs`, rejecting with a `TimeoutError` at that moment. */
async function withDeadline<T>(
  work: (signal: AbortSignal) => Promise<T>,
  timeoutMs: number,
  env: Environment,
): Promise<T> {
  const controller = new AbortController();
  let cancel = (): void => {};
  const deadline = new Promise<never>((_, reject) => {
    cancel = env.schedule(() => {
      const reason = new DOMException(`the shared state store did not answer within ${timeoutMs} ms`, "TimeoutError");
      controller.abort(reason);
      reject(reason);
    }, timeoutMs);
  });
  try {
    return await Promise.race([Promise.resolve().then(() => work(controller.signal)), deadline]);
  } finally {
    cancel();
  }
}

/**
 * Creates an isolate's link to the fleet's shared breaker and budget state in `store`. Create it once per
 * isolate (at module scope, or on the first request in a Worker) and share it between clients.
 *
 * Each key's outcomes and calls are reported in batches: at most every `syncIntervalMs` while there is
 * traffic, sooner when `maxBatch` are pending, and at once for what changes other isolates' decisions (this
 * isolate opened the circuit, a probe ended, a retry was spent). Each answer brings the fleet's state back,
 * so the view an isolate decides on is at most `syncIntervalMs + timeoutMs` old. No call waits for an
 * exchange, except a half-open probe asking for its permit (at most `timeoutMs`).
 *
 * @example
 * ```ts
 * import { coordinator, createFetch, retryBudget } from "staunch";
 * import { durableObjectStore } from "staunch/durable";
 *
 * const shared = coordinator({ store: durableObjectStore(env.STAUNCH_STATE), logger: console });
 * const api = createFetch({
 *   breaker: { shared },
 *   budget: retryBudget({ shared: shared.budget("https://api.example.com") }),
 * });
 * ctx.waitUntil(shared.settled()); // at the end of each request
 * ```
 */
export function coordinator(options: CoordinatorOptions): Coordinator {
  const owner = "coordinator";
  const o = requireOptionsObject(owner, options) as unknown as CoordinatorOptions;
  requireKnownKeys(owner, o, OPTION_KEYS);
  if (typeof (o.store as Partial<CoordinationStore> | undefined)?.exchange !== "function") {
    throw optionError(TypeError, owner, "store", "a store with an exchange method (durableObjectStore…)", o.store);
  }
  optionalSink(owner, "logger", o.logger, ["warn"]);
  const settings: Settings = {
    store: o.store,
    syncIntervalMs: requireFiniteAtLeast(owner, "syncIntervalMs", o.syncIntervalMs ?? 1_000, 1),
    maxBatch: requireIntegerAtLeast(owner, "maxBatch", o.maxBatch ?? 100, 1),
    timeoutMs: requireFiniteAtLeast(owner, "timeoutMs", o.timeoutMs ?? 500, 1),
    probeLeaseMs: requireFiniteAtLeast(owner, "probeLeaseMs", o.probeLeaseMs ?? 30_000, 1),
    onDegraded: optionalFunction(owner, "onDegraded", o.onDegraded),
    onRecovered: optionalFunction(owner, "onRecovered", o.onRecovered),
    logger: o.logger,
    env: resolveEnvironment(o.env, owner),
    inFlight: new Set(),
  };
  const channels = new KeyedRegistry<Channel>(
    requireIntegerAtLeast(owner, "maxKeys", o.maxKeys ?? 1_000, 1),
    (key) => new Channel(key, settings),
  );
  const channelFor = (key: string): Channel => {
    if (typeof key !== "string" || key === "") throw new TypeError(`${owner}: a key must be a non-empty string`);
    return channels.get(fleetKey(key));
  };

  return {
    circuit(key) {
      // A breaker holds its channel: if the registry drops the key, the breaker's link still works, alone.
      const channel = channelFor(key);
      return {
        connect: (breaker, settings) => channel.connectCircuit(breaker, settings),
        record: (outcome, probe) => channel.record(outcome, probe),
        opened: () => channel.opened(),
        acquireProbe: () => channel.acquireProbe(),
      };
    },
    budget(key) {
      const channel = channelFor(key);
      return {
        connect: (window) => channel.connectBudget(window),
        count: (retry) => channel.count(retry),
        totals: () => channel.totals(),
      };
    },
    async settled() {
      while (settings.inFlight.size > 0) await Promise.all(settings.inFlight);
    },
    reset(key) {
      const promise = channelFor(key).reset();
      settings.inFlight.add(promise);
      return promise.finally(() => settings.inFlight.delete(promise));
    },
    status() {
      const now = settings.env.now();
      return Array.from(channels.entries(), ([, channel]) => channel.status(now));
    },
  };
}

/** Options of {@link memoryStore}. */
export interface MemoryStoreOptions {
  /** The clock the fleet's decisions run on. */
  readonly env?: Partial<Environment>;
  /** The most keys whose fleet state is kept; the least recently used beyond it is dropped. Default 10,000. */
  readonly maxKeys?: number;
}

const MEMORY_STORE_KEYS = Object.keys({ env: true, maxKeys: true } satisfies Record<keyof MemoryStoreOptions, true>);

/**
 * A store in this process's memory: the fleet is whatever shares it (several clients, or tests that simulate
 * isolates). It runs the same decisions as the Durable Object, on `env`'s clock.
 *
 * @example
 * ```ts
 * const store = memoryStore();
 * const a = coordinator({ store });
 * const b = coordinator({ store }); // a and b see each other's outcomes
 * ```
 */
export function memoryStore(options?: MemoryStoreOptions): CoordinationStore {
  const owner = "memoryStore";
  const o = requireOptionsObject(owner, options) as MemoryStoreOptions;
  requireKnownKeys(owner, o, MEMORY_STORE_KEYS);
  const env = resolveEnvironment(o.env, owner);
  const fleet = new FleetStates(requireIntegerAtLeast(owner, "maxKeys", o.maxKeys ?? 10_000, 1));
  return {
    // A copy through JSON, as a real store would see it: nothing is shared by reference between "isolates".
    exchange: (message) =>
      Promise.resolve().then(() => fleet.handle(JSON.parse(JSON.stringify(message)) as SyncMessage, env.now())),
  };
}
