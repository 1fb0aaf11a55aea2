/**
 * One key's channel to the fleet in one isolate: it batches what the isolate's breakers and budget have to
 * say, exchanges it with the store (bounded by a deadline, never failing a call), keeps the fleet's state as a
 * short-lived local view, and hands that view to the breakers. When the store does not answer, the key is
 * degraded and decided locally until it answers again.
 */

import type { CircuitBreaker, CircuitState } from "../circuit-breaker.ts";
import type { Environment } from "../environment.ts";
import type { Emit } from "../telemetry/emit.ts";
import type { ConnectedCircuitSettings } from "./links.ts";
import {
  type BudgetReport,
  type CircuitReport,
  type FleetBudgetView,
  type FleetCircuitSettings,
  SYNC_PROTOCOL_VERSION,
  type SyncMessage,
  type SyncReply,
} from "./protocol.ts";
import type { FleetStore } from "./stores.ts";

/** The `fleet-degraded` event: the store did not answer, and `key` is decided locally until it does. */
export interface FleetDegradedEvent {
  readonly type: "fleet-degraded";
  readonly key: string;
  /** `"sync"`: a batch report; `"probe"`: a probe permit; `"reset"`. */
  readonly operation: "sync" | "probe" | "reset";
  readonly error: unknown;
}

/** The `fleet-recovered` event: the store answers again. */
export interface FleetRecoveredEvent {
  readonly type: "fleet-recovered";
  readonly key: string;
  readonly degradedForMs: number;
}

/** One key's link to the fleet, for dashboards and health checks. */
export interface FleetLinkStatus {
  readonly key: string;
  /** The store did not answer the last exchange: this isolate decides alone. */
  readonly degraded: boolean;
  /** How old the fleet's state is here (`undefined`: never received). */
  readonly viewAgeMs: number | undefined;
  /** The fleet's circuit as last seen. */
  readonly circuit: Extract<CircuitState, "closed" | "open"> | undefined;
}

/** A coordinator's settings, as every channel of it uses them. */
export interface ChannelSettings {
  readonly store: FleetStore;
  readonly syncIntervalMs: number;
  readonly maxBatch: number;
  readonly timeoutMs: number;
  readonly probeLeaseMs: number;
  readonly emit: Emit | undefined;
  readonly env: Environment;
  readonly inFlight: Set<Promise<unknown>>;
}

/** A breaker connected to a channel, with its own clock. */
interface CircuitMember {
  readonly breaker: CircuitBreaker;
  readonly now: () => number;
}

type Writable<T> = { -readonly [K in keyof T]: T[K] };

/** Runs of outcomes kept while the store does not answer; the fleet's windows are short, so older ones matter little. */
const MAX_PENDING_RUNS = 10_000;
/** Breakers that share one key in one isolate (clients sharing a coordinator): a few at most. */
const MAX_CIRCUITS_PER_KEY = 8;

/** What one key's isolate has to say and knows of the fleet. */
export class Channel {
  readonly key: string;
  readonly #s: ChannelSettings;
  readonly #circuits = new Set<CircuitMember>();
  #circuitSettings: FleetCircuitSettings | undefined;
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
  #budgetView: (FleetBudgetView & { readonly atMs: number }) | undefined;
  #circuitView: { readonly open: boolean; readonly atMs: number } | undefined;
  #degradedSinceMs: number | undefined;

  constructor(key: string, settings: ChannelSettings) {
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

  totals(): FleetBudgetView | undefined {
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

  status(nowMs: number): FleetLinkStatus {
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
    operation: FleetDegradedEvent["operation"],
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
   * Runs what may call the user's hooks (events, a breaker's listeners) after an exchange, where no caller
   * is waiting: a hook that throws must not leave the channel stuck mid-exchange.
   */
  #hooks(run: () => void): void {
    try {
      run();
    } catch (error) {
      console.error(`staunch: a hook threw while handling the shared state for ${this.key}`, error);
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

  #degraded(operation: FleetDegradedEvent["operation"], error: unknown): void {
    if (this.#degradedSinceMs !== undefined) return;
    this.#degradedSinceMs = this.#s.env.now();
    this.#s.emit?.({ type: "fleet-degraded", key: this.key, operation, error });
  }

  #recovered(): void {
    const since = this.#degradedSinceMs;
    if (since === undefined) return;
    this.#degradedSinceMs = undefined;
    const degradedForMs = Math.round(this.#s.env.now() - since);
    this.#s.emit?.({ type: "fleet-recovered", key: this.key, degradedForMs });
  }
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
