/**
 * The fleet's decisions for one key (an upstream origin, say): one circuit, opened by the outcomes every
 * isolate reports and probed by few, and one retry budget's counts. What a Durable Object (or the in-process
 * `memoryStore`) runs on each report. Pure: no I/O and no timers, the caller hands in the time.
 */

import { type BreakerStrategy, strategyFromSpec } from "../breaker-strategies.ts";
import { KeyedRegistry } from "../keyed-registry.ts";
import { SlidingWindowCounter } from "../sliding-window.ts";
import {
  type BudgetReport,
  type CircuitReport,
  type FleetBudgetView,
  type FleetCircuitSettings,
  type FleetCircuitView,
  isCount,
  isDuration,
  type SyncMessage,
  type SyncReply,
} from "./protocol.ts";

/** A circuit's durable part, kept across Durable Object restarts. */
export interface FleetCircuitSnapshot {
  readonly epoch: number;
  readonly openedAtMs: number | null;
  readonly openForMs: number;
  readonly failedProbes: number;
}

/**
 * The fleet's circuit for one key: opened by the fleet's outcomes or by any member, probed by few.
 *
 * @example
 * ```ts
 * import { FleetCircuit } from "staunch/durable";
 * const circuit = new FleetCircuit(); // inside the Durable Object: the fleet's circuit for one key
 * ```
 */
export class FleetCircuit {
  #epoch = 0;
  #openedAtMs: number | undefined;
  #openForMs = 0;
  #failedProbes = 0;
  /** When each probe permit handed out expires, so a member that vanished mid-probe does not hold it forever. */
  #leases: number[] = [];
  #settings: FleetCircuitSettings | undefined;
  #specJson = "null";
  #strategy: BreakerStrategy | undefined;

  /** Counts the circuit's transitions; a report names the epoch it was made in. */
  get epoch(): number {
    return this.#epoch;
  }

  /** Applies one isolate's report at `nowMs` and returns the circuit as it now is (with a probe answer, if asked). */
  apply(report: CircuitReport, nowMs: number): FleetCircuitView {
    this.#configure(report.settings);
    if (this.#openedAtMs === undefined && this.#strategy !== undefined) this.#count(report.outcomes, nowMs);
    // A member opened on what it saw; ignored when the fleet has moved on since (closed after a probe, say).
    if (report.opened !== undefined && this.#openedAtMs === undefined && report.opened >= this.#epoch) {
      this.#open(nowMs);
    }
    const probe = report.probe;
    if (probe !== undefined) {
      if (probe.release) this.#leases.shift();
      if (probe.success === false && (this.#openedAtMs !== undefined || probe.epoch >= this.#epoch)) {
        this.#probeFailed(nowMs, probe.epoch);
      } else if (probe.success === true && probe.epoch === this.#epoch && this.#openedAtMs !== undefined) {
        this.reset();
      }
    }
    const request = report.probeRequest;
    return this.#view(nowMs, request && this.#grant(nowMs, request.leaseMs), report.recheckMs);
  }

  /** Closes the circuit and forgets the outcomes; the epoch still moves on, so older reports stay older. */
  reset(): void {
    this.#epoch++;
    this.#openedAtMs = undefined;
    this.#openForMs = this.#settings?.initialOpenMs ?? 0;
    this.#failedProbes = 0;
    this.#leases = [];
    this.#strategy?.reset();
  }

  /** The durable part: what a Durable Object stores when the circuit changes. */
  toJSON(): FleetCircuitSnapshot {
    return {
      epoch: this.#epoch,
      openedAtMs: this.#openedAtMs ?? null,
      openForMs: this.#openForMs,
      failedProbes: this.#failedProbes,
    };
  }

  /** Takes back a snapshot; ignores one of another shape. */
  restore(snapshot: unknown): void {
    const s = snapshot as Partial<FleetCircuitSnapshot> | null;
    if (!isCount(s?.epoch) || !isCount(s.failedProbes) || !isDuration(s.openForMs)) return;
    this.#epoch = s.epoch;
    this.#openedAtMs = typeof s.openedAtMs === "number" && Number.isFinite(s.openedAtMs) ? s.openedAtMs : undefined;
    this.#openForMs = s.openForMs;
    this.#failedProbes = s.failedProbes;
  }

  /** Takes the latest settings; a different strategy (a deploy changed it) starts its counts afresh. */
  #configure(settings: FleetCircuitSettings): void {
    this.#settings = settings;
    const specJson = JSON.stringify(settings.spec);
    if (specJson !== this.#specJson) {
      this.#specJson = specJson;
      this.#strategy = strategyFromSpec(settings.spec);
    }
    if (this.#openForMs === 0 || this.#openForMs < settings.initialOpenMs) this.#openForMs = settings.initialOpenMs;
    this.#openForMs = Math.min(this.#openForMs, settings.maxOpenMs);
  }

  #count(outcomes: readonly number[], nowMs: number): void {
    const strategy = this.#strategy as BreakerStrategy;
    for (const run of outcomes) {
      for (let i = Math.abs(run); i > 0; i--) {
        if (strategy.record(run > 0, nowMs)) {
          // The rest of the batch arrived with the circuit open: late, like a closed breaker's late outcomes.
          this.#open(nowMs);
          return;
        }
      }
    }
  }

  #open(nowMs: number): void {
    this.#epoch++;
    this.#openedAtMs = nowMs;
    this.#leases = [];
  }

  #probeFailed(nowMs: number, probeEpoch: number): void {
    if (this.#openedAtMs === undefined) {
      this.#open(nowMs); // a member probed on its own (the store was unreachable) and found the dependency down
      return;
    }
    if (probeEpoch !== this.#epoch) return; // an older probe: the fleet already acted on a newer one
    const settings = this.#settings as FleetCircuitSettings;
    this.#failedProbes++;
    this.#openForMs = Math.min(settings.maxOpenMs, this.#openForMs * settings.multiplier);
    this.#open(nowMs);
  }

  #grant(nowMs: number, leaseMs: number): "granted" | "denied" | undefined {
    if (this.#openedAtMs === undefined) return undefined; // closed: the view says so, and the call goes ahead
    if (nowMs < this.#openedAtMs + this.#openForMs) return "denied";
    this.#leases = this.#leases.filter((expiresAt) => expiresAt > nowMs);
    if (this.#leases.length >= (this.#settings as FleetCircuitSettings).probes) return "denied";
    this.#leases.push(nowMs + leaseMs);
    return "granted";
  }

  #view(nowMs: number, probe: "granted" | "denied" | undefined, recheckMs: number): FleetCircuitView {
    const openedAtMs = this.#openedAtMs;
    let remainingMs = 0;
    if (openedAtMs !== undefined) {
      remainingMs = Math.max(0, openedAtMs + this.#openForMs - nowMs);
      const probesBusy = this.#leases.filter((expiresAt) => expiresAt > nowMs);
      // Half-open with every permit out: a member asks again after `recheckMs` (or when a lease runs out),
      // rather than on each of its calls.
      if (remainingMs === 0 && probe !== "granted" && probesBusy.length >= (this.#settings?.probes ?? 1)) {
        remainingMs = Math.min(recheckMs, Math.min(...probesBusy) - nowMs);
      }
    }
    const view = {
      epoch: this.#epoch,
      open: openedAtMs !== undefined,
      remainingMs,
      openForMs: this.#openForMs,
      failedProbes: this.#failedProbes,
    };
    return probe === undefined ? view : { ...view, probe };
  }
}

/**
 * A retry budget's counts over the whole fleet.
 *
 * @example
 * ```ts
 * import { FleetBudget } from "staunch/durable";
 * const budget = new FleetBudget(); // inside the Durable Object: the fleet's retry counts for one key
 * ```
 */
export class FleetBudget {
  #counter: SlidingWindowCounter | undefined;
  #windowMs = 0;
  #buckets = 0;

  /** Adds one isolate's counts at `nowMs` and returns the fleet's over the window. */
  apply(report: BudgetReport, nowMs: number): FleetBudgetView {
    if (this.#counter === undefined || report.windowMs !== this.#windowMs || report.buckets !== this.#buckets) {
      this.#counter = new SlidingWindowCounter(report.windowMs, report.buckets);
      this.#windowMs = report.windowMs;
      this.#buckets = report.buckets;
    }
    if (report.requests > 0) this.#counter.record(nowMs, false, report.requests);
    if (report.retries > 0) this.#counter.record(nowMs, true, report.retries);
    const { count, marked } = this.#counter.totals(nowMs);
    return { requests: count - marked, retries: marked };
  }
}

interface FleetEntry {
  readonly circuit: FleetCircuit;
  budget: FleetBudget | undefined;
}

/**
 * Every key's shared state, in a bounded registry (least recently used keys dropped).
 *
 * @example
 * ```ts
 * import { FleetStates, parseSyncMessage } from "staunch/durable";
 * const fleet = new FleetStates();
 * const message = parseSyncMessage(await request.json());
 * const reply = message && fleet.handle(message, Date.now()); // undefined for a malformed message
 * ```
 */
export class FleetStates {
  readonly #entries: KeyedRegistry<FleetEntry>;

  constructor(maxKeys = 10_000) {
    this.#entries = new KeyedRegistry<FleetEntry>(maxKeys, () => ({ circuit: new FleetCircuit(), budget: undefined }));
  }

  /** Whether `key` has state in memory (a Durable Object loads it from storage otherwise). */
  has(key: string): boolean {
    return this.#entries.peek(key) !== undefined;
  }

  /** The circuit of `key`, created closed if missing. */
  circuit(key: string): FleetCircuit {
    return this.#entries.get(key).circuit;
  }

  /** Applies one isolate's report and returns the fleet's state as it now is. */
  handle(message: SyncMessage, nowMs: number): SyncReply {
    const entry = this.#entries.get(message.key);
    if (message.reset) {
      entry.circuit.reset();
      entry.budget = undefined;
    }
    const circuit = message.circuit && entry.circuit.apply(message.circuit, nowMs);
    let budget: FleetBudgetView | undefined;
    if (message.budget !== undefined) {
      entry.budget ??= new FleetBudget();
      budget = entry.budget.apply(message.budget, nowMs);
    }
    return { ...(circuit && { circuit }), ...(budget && { budget }) };
  }
}
