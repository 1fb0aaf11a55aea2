/**
 * The circuit breaker: after enough failures, calls fail fast for a while instead of piling onto a
 * dependency that is down; then a limited number of probe calls test whether it is back.
 *
 * State is derived from timestamps on the injected clock, never from timers: a breaker nobody calls holds
 * no timer, and "open" turns into "half-open" simply because enough time has passed when somebody looks.
 */

import { type BreakerStrategy, defaultBreakerStrategy } from "./breaker-strategies.ts";
import { type Environment, MAX_TIMER_DELAY_MS, resolveEnvironment } from "./environment.ts";
import { CircuitOpenError, isExecutionRejectedError } from "./errors.ts";
import type { CircuitLink, FleetCircuitLink } from "./fleet/links.ts";
import type { Outcome } from "./outcome.ts";
import type { Operation, Policy, PolicyContext } from "./policy.ts";
import { type Emit, emitTo, listenersOf } from "./telemetry/emit.ts";
import type { TelemetryListener, TelemetryOption } from "./telemetry/events.ts";
import { errorName, isPermanentFetchError } from "./transient.ts";
import {
  optionalFunction,
  optionError,
  requireDurationMs,
  requireFiniteAtLeast,
  requireIntegerAtLeast,
  requireKnownKeys,
  requireOptionsObject,
} from "./validate.ts";

/** `"isolated"`: held open by hand with `isolate()` until released. */
export type CircuitState = "closed" | "open" | "half-open" | "isolated";

/** A breaker's transition, the `circuit-state-change` event. */
export interface CircuitStateChange {
  readonly type: "circuit-state-change";
  readonly from: CircuitState;
  readonly to: CircuitState;
  /** The breaker's key, when it has one (an origin, in createFetch). */
  readonly key: string | undefined;
  /** The time the circuit stays open before a probe, when `to` is `"open"`, in whole ms. */
  readonly openForMs: number | undefined;
  /** The origin, when createFetch reports the transition of the breaker that guards it; else `undefined`. */
  readonly origin?: string | undefined;
}

/** How long an open circuit waits before probing: fixed, or growing each time a probe fails. */
export interface HalfOpenBackoff {
  /** The first wait, in ms. */
  readonly initialMs: number;
  /** The longest wait, in ms. Default 10 × initialMs. */
  readonly maxMs?: number;
  /** Growth per failed probe. Default 2. */
  readonly multiplier?: number;
}

/** Options of {@link circuitBreaker}. */
export interface CircuitBreakerOptions {
  /**
   * When to open. Default {@link defaultBreakerStrategy}: half of the outcomes of the last 5 s failed, once
   * there were at least 10 — open on a dependency that is down, not on one that is flaky.
   */
  readonly strategy?: BreakerStrategy;
  /**
   * How long the circuit stays open before probing, in ms (at most 2^31−1, about 24.8 days: hold a circuit open
   * for longer with `isolate()`), or a growing backoff. Default 10,000.
   */
  readonly halfOpenAfterMs?: number | HalfOpenBackoff;
  /** Probe calls let through at once while half-open. Default 1. */
  readonly halfOpenProbes?: number;
  /**
   * Which outcomes count against the dependency (`true`: a failure). An error it turns down is not counted at all
   * (neither success nor failure); a returned value it turns down is a success. Default: a `Response` with a 5xx
   * status (4xx means the dependency is up and answering), and every error but those {@link isDependencyFailure}
   * turns down: an `AbortError`, a local refusal (any `ExecutionRejectedError`), a fetch failure that is the same
   * on every call to one path.
   *
   * @example
   * ```ts
   * // A database client that returns `{ error }` objects instead of throwing.
   * circuitBreaker({
   *   shouldHandle: (outcome) =>
   *     outcome.ok ? (outcome.result as { error?: unknown }).error !== undefined : isDependencyFailure(outcome.error),
   * });
   * ```
   */
  readonly shouldHandle?: (outcome: Outcome, context: PolicyContext) => boolean;
  /** Listeners of its transitions (`circuit-state-change`); more can be added later with `subscribe`. */
  readonly telemetry?: TelemetryOption;
  /** Restores a state saved with `toJSON()`. */
  readonly snapshot?: CircuitSnapshot;
  /** Names the breaker in errors and events. */
  readonly key?: string;
  /**
   * Shares the circuit with the fleet of isolates, through a coordinator's link (`coordinator(…).circuit(key)`):
   * the fleet's outcomes open it, and its half-open probes are limited fleet-wide. Default: this breaker's
   * memory only.
   */
  readonly fleet?: FleetCircuitLink;
  readonly env?: Partial<Environment>;
}

/** A breaker's state as plain JSON, to carry it across restarts or isolates. */
export interface CircuitSnapshot {
  readonly state: "closed" | "open" | "isolated";
  /** When the circuit last opened (epoch ms), if it is open. */
  readonly openedAtMs: number | undefined;
  /** How long it stays open from `openedAtMs`. */
  readonly openForMs: number;
  /** Probes that failed in a row since it first opened (grows the backoff). */
  readonly failedProbes: number;
  readonly strategy: unknown;
}

const OPTION_KEYS = /* @__PURE__ */ Object.keys({
  strategy: true,
  halfOpenAfterMs: true,
  halfOpenProbes: true,
  shouldHandle: true,
  telemetry: true,
  snapshot: true,
  key: true,
  fleet: true,
  env: true,
} satisfies Record<keyof CircuitBreakerOptions, true>);

const HALF_OPEN_BACKOFF_KEYS = /* @__PURE__ */ Object.keys({
  initialMs: true,
  maxMs: true,
  multiplier: true,
} satisfies Record<keyof HalfOpenBackoff, true>);

/**
 * Whether an error counts against the dependency, as the breaker's default `shouldHandle` judges errors: every
 * error but a cancel, a local policy's refusal to send the call (a full bulkhead, a rate limit, another open
 * circuit: any `ExecutionRejectedError`), and a failure that is the same on every call to one path (a redirect
 * loop, a reply that is not HTTP). None says the dependency is down, and counting refusals would let local
 * saturation open the circuit.
 *
 * @example
 * ```ts
 * // The default, written out: a 5xx response, or an error that is the dependency's.
 * circuitBreaker({
 *   shouldHandle: (o) =>
 *     o.ok ? o.result instanceof Response && o.result.status >= 500 : isDependencyFailure(o.error),
 * });
 * ```
 */
export const isDependencyFailure = (error: unknown): boolean =>
  errorName(error) !== "AbortError" && !isExecutionRejectedError(error) && !isPermanentFetchError(error);

const defaultIsFailureResult = (result: unknown): boolean =>
  typeof Response !== "undefined" && result instanceof Response && result.status >= 500;

interface Settings {
  readonly strategy: BreakerStrategy;
  readonly initialOpenMs: number;
  readonly maxOpenMs: number;
  readonly multiplier: number;
  readonly probes: number;
  readonly isFailure: (error: unknown, context: PolicyContext) => boolean;
  readonly isFailureResult: (result: unknown, context: PolicyContext) => boolean;
  readonly listeners: readonly TelemetryListener[];
  readonly key: string | undefined;
  readonly fleet: CircuitLink | undefined;
  readonly env: Environment;
}

function settingsFrom(options: CircuitBreakerOptions | undefined, owner: string): Settings {
  const o = requireOptionsObject(owner, options) as CircuitBreakerOptions;
  requireKnownKeys(owner, o, OPTION_KEYS);
  const strategy = o.strategy ?? defaultBreakerStrategy();
  if (
    typeof strategy?.record !== "function" ||
    typeof strategy.reset !== "function" ||
    typeof strategy.snapshot !== "function" ||
    typeof strategy.restore !== "function"
  ) {
    throw optionError(TypeError, owner, "strategy", "a breaker strategy (consecutiveFailures, failureRate…)", strategy);
  }
  const halfOpen = o.halfOpenAfterMs ?? 10_000;
  let initialOpenMs: number;
  let maxOpenMs: number;
  let multiplier = 1;
  if (typeof halfOpen === "number") {
    initialOpenMs = maxOpenMs = requireDurationMs(owner, "halfOpenAfterMs", halfOpen);
  } else {
    const b = requireOptionsObject(`${owner}.halfOpenAfterMs`, halfOpen) as unknown as HalfOpenBackoff;
    requireKnownKeys(`${owner}.halfOpenAfterMs`, b, HALF_OPEN_BACKOFF_KEYS);
    initialOpenMs = requireDurationMs(`${owner}.halfOpenAfterMs`, "initialMs", b.initialMs);
    // The default is capped, not refused: a 10-day first wait must not fail for its own default.
    maxOpenMs = requireDurationMs(
      `${owner}.halfOpenAfterMs`,
      "maxMs",
      b.maxMs ?? Math.min(initialOpenMs * 10, MAX_TIMER_DELAY_MS),
    );
    if (maxOpenMs < initialOpenMs) {
      throw new RangeError(
        `${owner}.halfOpenAfterMs: option "maxMs" (${maxOpenMs}) must be ≥ "initialMs" (${initialOpenMs})`,
      );
    }
    multiplier = requireFiniteAtLeast(`${owner}.halfOpenAfterMs`, "multiplier", b.multiplier ?? 2, 1);
  }
  if (o.key !== undefined && typeof o.key !== "string") throw optionError(TypeError, owner, "key", "a string", o.key);
  if (o.snapshot !== undefined && (typeof o.snapshot !== "object" || o.snapshot === null)) {
    throw optionError(TypeError, owner, "snapshot", "an object from toJSON()", o.snapshot);
  }
  const fleet = o.fleet as unknown as Partial<CircuitLink> | undefined;
  if (fleet !== undefined && typeof fleet?.connect !== "function") {
    throw optionError(TypeError, owner, "fleet", "a fleet link from coordinator(…).circuit(key)", fleet);
  }
  // The user's predicate sees outcomes; the hot path (a success, no predicate) builds none.
  const handles = optionalFunction<NonNullable<CircuitBreakerOptions["shouldHandle"]>>(
    owner,
    "shouldHandle",
    o.shouldHandle,
  );
  return {
    strategy,
    initialOpenMs,
    maxOpenMs,
    multiplier,
    probes: requireIntegerAtLeast(owner, "halfOpenProbes", o.halfOpenProbes ?? 1, 1),
    isFailure: handles ? (error, context) => handles({ ok: false, error }, context) : isDependencyFailure,
    isFailureResult: handles ? (result, context) => handles({ ok: true, result }, context) : defaultIsFailureResult,
    listeners: listenersOf(owner, o.telemetry),
    key: o.key,
    fleet: fleet as CircuitLink | undefined,
    env: resolveEnvironment(o.env, owner),
  };
}

/**
 * What a call that threw counts as, when its runner knows better than its error: another outcome (judged by
 * `shouldHandle`), or `null` for nothing.
 */
export type CountedAs = Outcome | null;

/**
 * Runs an operation under a breaker, as `run` does, but tells the operation whether it is a half-open probe and
 * lets `countedAs` say what its error counts as. createFetch's breaker layer uses it: a call that failed in the
 * caller's own hook says nothing of the origin, and a deadline that fired between attempts stands for what the
 * last attempt ended with. Internal: not exported from the package.
 */
export let runCounting: <T, S>(
  breaker: CircuitBreaker,
  operation: (context: PolicyContext, probe: boolean) => T | PromiseLike<T>,
  context: PolicyContext,
  countedAs: (error: unknown, scope: S) => CountedAs,
  scope: S,
) => Promise<T>;

/**
 * A circuit breaker policy, with its state in view and under manual control.
 *
 * A class because a breaker is state; its methods live on the prototype so that the 10,000 breakers of a
 * client that talks to 10,000 origins share them.
 *
 * @example
 * ```ts
 * const breaker: CircuitBreaker = circuitBreaker({ halfOpenAfterMs: 5_000 });
 * if (breaker.state === "open") console.warn(`probing again in ${breaker.retryAfterMs} ms`);
 * ```
 */
export class CircuitBreaker implements Policy {
  readonly #s: Settings;
  /** Epoch ms when the circuit last opened; undefined while closed. */
  #openedAtMs: number | undefined;
  #openForMs: number;
  #failedProbes = 0;
  #probesInFlight = 0;
  #isolations = 0;
  /** The state last reported to listeners, to report derived transitions (open → half-open) once. */
  #reported: CircuitState = "closed";
  /** Its listeners (the options' and those `subscribe` added) as one emit; `undefined` while nobody listens. */
  #emit: Emit | undefined;
  #listeners: readonly TelemetryListener[];

  /** @param owner names the factory in option errors (createFetch builds breakers from its own options). */
  constructor(options?: CircuitBreakerOptions, owner = "circuitBreaker") {
    this.#s = settingsFrom(options, owner);
    this.#listeners = this.#s.listeners;
    this.#emit = emitTo(this.#listeners);
    this.#openForMs = this.#s.initialOpenMs;
    if (options?.snapshot !== undefined) this.restore(options.snapshot);
    this.#s.fleet?.connect(this, this.#s);
  }

  /**
   * Adds a listener of this breaker's transitions (`circuit-state-change`), beside those of its `telemetry`
   * option: for code that receives a breaker it did not build. Returns the function that removes it.
   *
   * @example
   * ```ts
   * const breaker = circuitBreaker({ key: "payments" });
   * const unsubscribe = breaker.subscribe(logTo(console));
   * // … later, when the dashboard closes:
   * unsubscribe();
   * ```
   */
  subscribe(listener: TelemetryListener): () => void {
    if (typeof listener !== "function") {
      throw optionError(TypeError, "circuitBreaker.subscribe", "listener", "a function (event) => void", listener);
    }
    // Its own entry, so that a listener subscribed twice hears twice and each unsubscribe removes one.
    const entry: TelemetryListener = (event) => listener(event);
    this.#listen([...this.#listeners, entry]);
    return () => this.#listen(this.#listeners.filter((added) => added !== entry));
  }

  #listen(listeners: readonly TelemetryListener[]): void {
    this.#listeners = listeners;
    this.#emit = emitTo(listeners);
  }

  /** The current state, derived from the clock. */
  get state(): CircuitState {
    if (this.#isolations > 0) return "isolated";
    if (this.#openedAtMs === undefined) return "closed";
    return this.#s.env.now() >= this.#openedAtMs + this.#openForMs ? "half-open" : "open";
  }

  /** Milliseconds until the next probe is allowed (0 when closed or half-open; Infinity while isolated). */
  get retryAfterMs(): number {
    if (this.#isolations > 0) return Infinity;
    if (this.#openedAtMs === undefined) return 0;
    return Math.max(0, this.#openedAtMs + this.#openForMs - this.#s.env.now());
  }

  execute<T>(operation: Operation<T>, signal?: AbortSignal): Promise<T> {
    return this.run(operation, { signal, attempt: 1 });
  }

  wrap<A extends unknown[], T>(fn: (...args: A) => T | PromiseLike<T>): (...args: A) => Promise<T> {
    return (...args) => this.run(() => fn(...args), { signal: undefined, attempt: 1 });
  }

  run<T>(operation: Operation<T>, context: PolicyContext): Promise<T> {
    return this.#run(operation, context, undefined, undefined);
  }

  static {
    runCounting = (breaker, operation, context, countedAs, scope) => breaker.#run(operation, context, countedAs, scope);
  }

  // `scope` is handed to `countedAs`, so that a client's runner passes its call without a closure per call.
  async #run<T, S>(
    operation: (context: PolicyContext, probe: boolean) => T | PromiseLike<T>,
    context: PolicyContext,
    countedAs: ((error: unknown, scope: S) => CountedAs) | undefined,
    scope: S,
  ): Promise<T> {
    const state = this.#observe();
    const fleet = this.#s.fleet;
    if (state === "open" || state === "isolated") {
      fleet?.record(undefined, false); // calls failed fast still keep this isolate's view of the fleet fresh
      throw new CircuitOpenError(this.retryAfterMs, this.#s.key);
    }
    let probe = state === "half-open";
    if (probe) {
      if (this.#probesInFlight >= this.#s.probes) throw new CircuitOpenError(this.#probeWaitMs(), this.#s.key);
      this.#probesInFlight++;
      // The fleet sends its configured probes, not that many per isolate. No answer: this isolate decides.
      if (fleet !== undefined && (await fleet.acquireProbe()) === false) {
        this.#probesInFlight--;
        // Refused, with the fleet's state adopted: still open (or another isolate probes), or closed by now.
        if (this.#observe() !== "closed") throw new CircuitOpenError(this.#probeWaitMs(), this.#s.key);
        probe = false;
      }
    }
    let outcome: boolean | undefined; // true: success, false: failure, undefined: neither (cancelled)
    try {
      const result = await operation(context, probe);
      outcome = !this.#s.isFailureResult(result, context);
      return result;
    } catch (error) {
      const counted: CountedAs = context.signal?.aborted
        ? null
        : countedAs === undefined
          ? { ok: false, error }
          : countedAs(error, scope);
      outcome =
        counted === null
          ? undefined
          : counted.ok
            ? !this.#s.isFailureResult(counted.result, context)
            : this.#s.isFailure(counted.error, context)
              ? false
              : undefined;
      throw error;
    } finally {
      if (probe) this.#probesInFlight--;
      fleet?.record(outcome, probe);
      if (outcome !== undefined) this.#record(outcome, probe);
    }
  }

  /**
   * What a call refused while a probe runs is told to wait: the probe settles the circuit one way or the other
   * well within an open period, and 0 would have a caller that honours it call again at once, and again.
   */
  #probeWaitMs(): number {
    return this.retryAfterMs || this.#openForMs;
  }

  /**
   * Holds the circuit open until the returned function is called (calls fail fast with `CircuitOpenError`).
   * Isolations nest: the circuit stays isolated until every one is released.
   */
  isolate(): () => void {
    this.#isolations++;
    this.#observe();
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#isolations--;
      this.#observe();
    };
  }

  /**
   * Ends the open wait: an open circuit turns half-open at once, so the next call probes. For when something
   * says the dependency may be back before `halfOpenAfterMs` has passed (createFetch calls it when the browser
   * comes back online). Does nothing while closed, half-open or isolated.
   */
  halfOpenNow(): void {
    if (this.#openedAtMs === undefined || this.#isolations > 0) return;
    this.#openedAtMs = Math.min(this.#openedAtMs, this.#s.env.now() - this.#openForMs);
    this.#observe();
  }

  /** Closes the circuit and forgets every outcome (isolations stay until released). */
  reset(): void {
    this.#openedAtMs = undefined;
    this.#openForMs = this.#s.initialOpenMs;
    this.#failedProbes = 0;
    this.#s.strategy.reset();
    this.#observe();
  }

  /** The state as plain JSON; pass it back as the `snapshot` option or to `restore`. */
  toJSON(): CircuitSnapshot {
    return {
      state: this.#isolations > 0 ? "isolated" : this.#openedAtMs === undefined ? "closed" : "open",
      openedAtMs: this.#openedAtMs,
      openForMs: this.#openForMs,
      failedProbes: this.#failedProbes,
      strategy: this.#s.strategy.snapshot(),
    };
  }

  /** Takes back a snapshot from `toJSON()`. An isolated snapshot restores as open, not as a manual hold. */
  restore(snapshot: CircuitSnapshot): void {
    if (typeof snapshot !== "object" || snapshot === null) {
      throw new TypeError(`circuitBreaker: a snapshot must be an object from toJSON(), got ${String(snapshot)}`);
    }
    const open = snapshot.state !== "closed" && typeof snapshot.openedAtMs === "number";
    // Never later than now: a circuit opened in the future (a bad clock, a forged snapshot) would stay open for ever.
    this.#openedAtMs = open ? Math.min(snapshot.openedAtMs as number, this.#s.env.now()) || 0 : undefined;
    if (typeof snapshot.openForMs === "number" && snapshot.openForMs >= 0) {
      this.#openForMs = Math.min(snapshot.openForMs, this.#s.maxOpenMs);
    }
    this.#failedProbes = Number.isInteger(snapshot.failedProbes) ? snapshot.failedProbes : 0;
    this.#s.strategy.restore(snapshot.strategy);
    this.#observe();
  }

  #record(success: boolean, probe: boolean): void {
    const now = this.#s.env.now();
    if (this.#openedAtMs === undefined) {
      if (this.#s.strategy.record(success, now)) {
        this.#open(now);
        this.#s.fleet?.opened();
      }
      return;
    }
    // Late outcomes of calls that started before the circuit opened say nothing about the dependency now.
    if (!probe) return;
    if (success) {
      this.reset();
      return;
    }
    this.#failedProbes++;
    this.#openForMs = Math.min(this.#s.maxOpenMs, this.#openForMs * this.#s.multiplier);
    this.#open(now);
  }

  #open(now: number): void {
    this.#openedAtMs = now;
    this.#observe();
  }

  /** Reports a transition, derived ones included, once; returns the current state. */
  #observe(): CircuitState {
    const state = this.state;
    const from = this.#reported;
    if (state !== from) {
      this.#reported = state;
      // Whole ms, as the logger prints them: a backoff's multiplier can make the period fractional.
      const openForMs = state === "open" ? Math.round(this.#openForMs) : undefined;
      const change: CircuitStateChange = { type: "circuit-state-change", from, to: state, key: this.#s.key, openForMs };
      this.#emit?.(change);
      notifyWatchers(this, change);
    }
    return state;
  }
}

/**
 * Listeners added after construction, by createFetch for a breaker the user built: none for most breakers. Held
 * weakly, each by the client that added it: a breaker shared by clients made per request (and dropped) must not
 * keep them all, nor call them all on every transition.
 */
const watchers = new WeakMap<CircuitBreaker, Watchers>();

interface Watchers {
  readonly refs: Set<WeakRef<(change: CircuitStateChange) => void>>;
  /** The number of listeners after the last sweep of collected ones: the next sweep comes when it doubles. */
  swept: number;
}

function notifyWatchers(breaker: CircuitBreaker, change: CircuitStateChange): void {
  const w = watchers.get(breaker);
  if (w !== undefined) for (const ref of w.refs) notify(w, ref, change);
}

function notify(w: Watchers, ref: WeakRef<(change: CircuitStateChange) => void>, change?: CircuitStateChange): void {
  const listener = ref.deref();
  if (listener === undefined) w.refs.delete(ref);
  // Guarded as every listener is: a client's reporting must not fail the call that moved the circuit.
  else if (change !== undefined) emitTo([listener as TelemetryListener])?.(change);
}

/**
 * Adds a listener of a breaker's transitions, for a client handed a breaker it did not build (createFetch's
 * `circuit-state-change` listeners must hear it too). Held weakly: the caller keeps the listener as long as it
 * wants to hear. Internal: not exported from the package.
 */
export function watchBreaker(breaker: CircuitBreaker, listener: (change: CircuitStateChange) => void): void {
  let w = watchers.get(breaker);
  if (w === undefined) {
    w = { refs: new Set(), swept: 1 };
    watchers.set(breaker, w);
  }
  w.refs.add(new WeakRef(listener));
  // Amortised: listeners of clients long gone are dropped even if the breaker never changes state.
  if (w.refs.size >= 2 * w.swept) {
    for (const ref of w.refs) notify(w, ref);
    w.swept = Math.max(1, w.refs.size);
  }
}

/**
 * Creates a circuit breaker: closed (calls pass) → open after the strategy says so (calls fail fast with
 * `CircuitOpenError`) → half-open after `halfOpenAfterMs` (up to `halfOpenProbes` calls test the
 * dependency) → closed on a successful probe, or open again, for longer if `halfOpenAfterMs` is a backoff.
 *
 * @example
 * ```ts
 * const breaker = circuitBreaker({
 *   strategy: failureRate({ threshold: 0.5, minimumThroughput: 20, windowMs: 30_000 }),
 *   halfOpenAfterMs: { initialMs: 5_000, maxMs: 60_000 },
 *   telemetry: on("circuit-state-change", ({ from, to }) => console.warn(`circuit ${from} → ${to}`)),
 * });
 * const policy = compose(retry(), breaker, timeout(2_000));
 * ```
 */
export function circuitBreaker(options?: CircuitBreakerOptions): CircuitBreaker {
  return new CircuitBreaker(options);
}
