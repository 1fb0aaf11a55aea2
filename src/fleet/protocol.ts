/**
 * The fleet's wire format: what an isolate's coordinator sends its store for one key, and what the store
 * answers. Plain JSON, versioned, and checked strictly on the way in, because it crosses a process boundary.
 * Types and checks only: the decisions taken on these messages are in `decisions.ts`.
 */

import { type BreakerStrategySpec, strategyFromSpec } from "../breaker-strategies.ts";
import { MAX_TIMER_DELAY_MS } from "../environment.ts";

/**
 * The version of the messages below; a store refuses others, and the isolate then decides locally.
 *
 * @example
 * ```ts
 * import { SYNC_PROTOCOL_VERSION } from "staunch/durable";
 * async function sync(request: Request): Promise<Response> {
 *   const message = (await request.json()) as { version?: unknown };
 *   if (message.version !== SYNC_PROTOCOL_VERSION) return new Response("upgrade", { status: 409 });
 *   return new Response(null, { status: 204 });
 * }
 * ```
 */
export const SYNC_PROTOCOL_VERSION = 1;

/** What a circuit shares with its fleet so that the fleet runs the same rules. */
export interface FleetCircuitSettings {
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
  readonly settings: FleetCircuitSettings;
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
export interface FleetCircuitView {
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
export interface FleetBudgetView {
  readonly requests: number;
  readonly retries: number;
}

/** What the store answers. */
export interface SyncReply {
  readonly circuit?: FleetCircuitView;
  readonly budget?: FleetBudgetView;
}

// Bounds on what one message may carry (and a stored snapshot, read back after a restart): generous for real use, small enough that junk cannot cost much.
const MAX_KEY_LENGTH = 2_048;
const MAX_OUTCOMES = 100_000;
const MAX_COUNT = 1e9;
const MAX_DURATION_MS = MAX_TIMER_DELAY_MS;

/** A whole count, bounded; also used on a stored circuit read back after a restart. */
export const isCount = (v: unknown): v is number =>
  Number.isInteger(v) && (v as number) >= 0 && (v as number) <= MAX_COUNT;
/** A duration in ms, bounded by the longest timer. */
export const isDuration = (v: unknown): v is number =>
  typeof v === "number" && Number.isFinite(v) && v >= 0 && v <= MAX_DURATION_MS;
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null;

function parseSettings(v: unknown): FleetCircuitSettings | undefined {
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
 * import { parseSyncMessage } from "staunch/durable";
 * const message = parseSyncMessage(await request.json()); // undefined for anything malformed
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
 * import { parseSyncReply } from "staunch/durable";
 * const response = await fetch(request); // the store's answer to a sync message
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
