/**
 * The state a fleet of isolates shares per key (an upstream origin, say): one circuit and one retry budget's
 * counts. These are the pure decisions a Durable Object (or the in-process `memoryStore`) makes when an
 * isolate reports; no I/O and no timers, the caller hands in the time. The messages are plain JSON, checked
 * strictly on the way in because they cross a process boundary.
 */

import { type BreakerStrategy, type BreakerStrategySpec, strategyFromSpec } from "./breaker-strategies.ts";
import { MAX_TIMER_DELAY_MS } from "./environment.ts";
import { KeyedRegistry } from "./keyed-registry.ts";
import { SlidingWindowCounter } from "./sliding-window.ts";

/**
 * The version of the messages below; a store refuses others, and the isolate then decides locally.
 *
 * @example
 * ```ts
 * if (message.version !== SYNC_PROTOCOL_VERSION) return new Response("upgrade", { status: 409 });
 * ```
 */
export const SYNC_PROTOCOL_VERSION = 1;

/** What a circuit shares with its fleet so that the fleet runs the same rules. */
export interface SharedCircuitSettings {
  /** The breaker's strategy as JSON, `null` for a custom strategy (the fleet then opens only when told). */
  readonly spec: BreakerStrategySpec | null;
  /** Probe calls let through at once, fleet-wide, while half-open. */
  readonly probes: number;
  readonly initialOpenMs: number;
  readonly maxOpenMs: number;
  readonly multiplier: number;
}

/** One isolate's report about a circuit. */
export interface CircuitReport {
  readonly settings: SharedCircuitSettings;
  /** Outcomes seen while closed, in order, run-length encoded: `n > 0` successes, `n < 0` failures. */
  readonly outcomes: readonly number[];
  /** The isolate's own strategy opened its circuit while it knew this fleet epoch. */
  readonly opened?: number;
  /** A probe ended: its result (`null`: cancelled), the epoch it was sent in, and whether it held a permit. */
  readonly probe?: { readonly epoch: number; readonly success: boolean | null; readonly release: boolean };
  /** Asks for a probe permit, held at most `leaseMs` (its probe's result returns it sooner). */
  readonly probeRequest?: { readonly leaseMs: number };
  /** While every probe permit is out, how long the isolate waits before asking for one again. */
  readonly recheckMs: number;
}

/** One isolate's report about a retry budget: calls and retries since its last report. */
export interface BudgetReport {
  readonly windowMs: number;
  readonly buckets: number;
  readonly requests: number;
  readonly retries: number;
}

/** What an isolate sends for one key. */
export interface SyncMessage {
  readonly version: number;
  readonly key: string;
  /** Forget the fleet's counts for `key` and close its circuit (a dashboard reset, a test). */
  readonly reset?: boolean;
  readonly circuit?: CircuitReport;
  readonly budget?: BudgetReport;
}

/** The fleet's circuit, as the store saw it when it answered. */
export interface SharedCircuitView {
  /** Counts the fleet's transitions; an isolate's report names the epoch it acted in. */
  readonly epoch: number;
  readonly open: boolean;
  /** Until a probe may be asked for (0 while half-open with a permit free, and while closed). */
  readonly remainingMs: number;
  readonly openForMs: number;
  readonly failedProbes: number;
  /** The answer to a `probeRequest`. */
  readonly probe?: "granted" | "denied";
}

/** The fleet's budget counts over the budget's window. */
export interface SharedBudgetView {
  readonly requests: number;
  readonly retries: number;
}

/** What the store answers. */
export interface SyncReply {
  readonly circuit?: SharedCircuitView;
  readonly budget?: SharedBudgetView;
}

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
  #settings: SharedCircuitSettings | undefined;
  #specJson = "null";
  #strategy: BreakerStrategy | undefined;

  /** Counts the circuit's transitions; a report names the epoch it was made in. */
  get epoch(): number {
    return this.#epoch;
  }

  /** Applies one isolate's report at `nowMs` and returns the circuit as it now is (with a probe answer, if asked). */
  apply(report: CircuitReport, nowMs: number): SharedCircuitView {
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
  #configure(settings: SharedCircuitSettings): void {
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
    const settings = this.#settings as SharedCircuitSettings;
    this.#failedProbes++;
    this.#openForMs = Math.min(settings.maxOpenMs, this.#openForMs * settings.multiplier);
    this.#open(nowMs);
  }

  #grant(nowMs: number, leaseMs: number): "granted" | "denied" | undefined {
    if (this.#openedAtMs === undefined) return undefined; // closed: the view says so, and the call goes ahead
    if (nowMs < this.#openedAtMs + this.#openForMs) return "denied";
    this.#leases = this.#leases.filter((expiresAt) => expiresAt > nowMs);
    if (this.#leases.length >= (this.#settings as SharedCircuitSettings).probes) return "denied";
    this.#leases.push(nowMs + leaseMs);
    return "granted";
  }

  #view(nowMs: number, probe: "granted" | "denied" | undefined, recheckMs: number): SharedCircuitView {
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
 * const budget = new FleetBudget(); // inside the Durable Object: the fleet's retry counts for one key
 * ```
 */
export class FleetBudget {
  #counter: SlidingWindowCounter | undefined;
  #windowMs = 0;
  #buckets = 0;

  /** Adds one isolate's counts at `nowMs` and returns the fleet's over the window. */
  apply(report: BudgetReport, nowMs: number): SharedBudgetView {
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
 * const fleet = new FleetStates();
 * const reply = fleet.handle(message, Date.now()); // message from parseSyncMessage
 * ```
 */
export class FleetStates {
  readonly #entries: KeyedRegistry<FleetEntry>;

  constructor(maxKeys = 10_000) {
    this.#entries = new KeyedRegistry(maxKeys, () => ({ circuit: new FleetCircuit(), budget: undefined }));
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
    let budget: SharedBudgetView | undefined;
    if (message.budget !== undefined) {
      entry.budget ??= new FleetBudget();
      budget = entry.budget.apply(message.budget, nowMs);
    }
    return { ...(circuit && { circuit }), ...(budget && { budget }) };
  }
}

// Bounds on what one message may carry: generous for real use, small enough that junk cannot cost much.
const MAX_KEY_LENGTH = 2_048;
const MAX_OUTCOMES = 100_000;
const MAX_COUNT = 1e9;
const MAX_DURATION_MS = MAX_TIMER_DELAY_MS;

const isCount = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 0 && (v as number) <= MAX_COUNT;
const isDuration = (v: unknown): v is number =>
  typeof v === "number" && Number.isFinite(v) && v >= 0 && v <= MAX_DURATION_MS;
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null;

function parseSettings(v: unknown): SharedCircuitSettings | undefined {
  if (!isObject(v)) return undefined;
  const { spec, probes, initialOpenMs, maxOpenMs, multiplier } = v;
  if (!isCount(probes) || probes < 1 || !isDuration(initialOpenMs) || !isDuration(maxOpenMs)) return undefined;
  if (maxOpenMs < initialOpenMs || typeof multiplier !== "number" || !(multiplier >= 1 && multiplier <= 1_000)) {
    return undefined;
  }
  if (spec !== null && strategyFromSpec(spec) === undefined) return undefined;
  return { spec: spec as BreakerStrategySpec | null, probes, initialOpenMs, maxOpenMs, multiplier };
}

function parseCircuit(v: unknown): CircuitReport | undefined {
  if (!isObject(v)) return undefined;
  const settings = parseSettings(v.settings);
  const outcomes = v.outcomes;
  if (settings === undefined || !Array.isArray(outcomes) || outcomes.length > MAX_OUTCOMES) return undefined;
  if (!isDuration(v.recheckMs)) return undefined;
  let total = 0;
  for (const run of outcomes) {
    if (!Number.isInteger(run) || run === 0) return undefined;
    total += Math.abs(run as number);
  }
  if (total > MAX_OUTCOMES) return undefined;
  const report: { -readonly [K in keyof CircuitReport]: CircuitReport[K] } = {
    settings,
    outcomes,
    recheckMs: v.recheckMs,
  };
  if (v.opened !== undefined) {
    if (!isCount(v.opened)) return undefined;
    report.opened = v.opened;
  }
  if (v.probe !== undefined) {
    const p = v.probe;
    if (!isObject(p) || !isCount(p.epoch) || typeof p.release !== "boolean") return undefined;
    if (p.success !== null && typeof p.success !== "boolean") return undefined;
    report.probe = { epoch: p.epoch, success: p.success, release: p.release };
  }
  if (v.probeRequest !== undefined) {
    const r = v.probeRequest;
    if (!isObject(r) || !isDuration(r.leaseMs)) return undefined;
    report.probeRequest = { leaseMs: r.leaseMs };
  }
  return report;
}

function parseBudget(v: unknown): BudgetReport | undefined {
  if (!isObject(v)) return undefined;
  const { windowMs, buckets, requests, retries } = v;
  if (!isDuration(windowMs) || windowMs < 1 || !isCount(buckets) || buckets < 1 || buckets > 10_000) return undefined;
  if (!isCount(requests) || !isCount(retries)) return undefined;
  return { windowMs, buckets, requests, retries };
}

/**
 * Checks a message that crossed a process boundary; `undefined` for anything else.
 *
 * @example
 * ```ts
 * const message = parseSyncMessage(await request.json()); // throws on anything malformed
 * ```
 */
export function parseSyncMessage(value: unknown): SyncMessage | undefined {
  if (!isObject(value) || value.version !== SYNC_PROTOCOL_VERSION) return undefined;
  const { key, reset } = value;
  if (typeof key !== "string" || key.length === 0 || key.length > MAX_KEY_LENGTH) return undefined;
  if (reset !== undefined && typeof reset !== "boolean") return undefined;
  const message: { -readonly [K in keyof SyncMessage]: SyncMessage[K] } = { version: SYNC_PROTOCOL_VERSION, key };
  if (reset) message.reset = true;
  if (value.circuit !== undefined) {
    message.circuit = parseCircuit(value.circuit);
    if (message.circuit === undefined) return undefined;
  }
  if (value.budget !== undefined) {
    message.budget = parseBudget(value.budget);
    if (message.budget === undefined) return undefined;
  }
  return message;
}

/**
 * Checks a store's answer; `undefined` for anything else (a binding to the wrong class, say).
 *
 * @example
 * ```ts
 * const reply = parseSyncReply(await response.json());
 * ```
 */
export function parseSyncReply(value: unknown): SyncReply | undefined {
  if (!isObject(value)) return undefined;
  const reply: { -readonly [K in keyof SyncReply]: SyncReply[K] } = {};
  const c = value.circuit;
  if (c !== undefined) {
    if (!isObject(c) || !isCount(c.epoch) || typeof c.open !== "boolean" || !isDuration(c.remainingMs))
      return undefined;
    if (!isDuration(c.openForMs) || !isCount(c.failedProbes)) return undefined;
    if (c.probe !== undefined && c.probe !== "granted" && c.probe !== "denied") return undefined;
    const view = {
      epoch: c.epoch,
      open: c.open,
      remainingMs: c.remainingMs,
      openForMs: c.openForMs,
      failedProbes: c.failedProbes,
    };
    reply.circuit = c.probe === undefined ? view : { ...view, probe: c.probe };
  }
  const b = value.budget;
  if (b !== undefined) {
    if (!isObject(b) || !isCount(b.requests) || !isCount(b.retries)) return undefined;
    reply.budget = { requests: b.requests, retries: b.retries };
  }
  return reply;
}
