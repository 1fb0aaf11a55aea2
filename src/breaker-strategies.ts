/**
 * When a closed circuit should open: pluggable strategies behind one small interface. Each keeps a fixed
 * amount of memory, whatever the traffic, and reads time only from the timestamps it is handed.
 */

import { SlidingWindowCounter } from "./sliding-window.ts";
import { requireFiniteAtLeast, requireIntegerAtLeast, requireKnownKeys, requireOptionsObject } from "./validate.ts";

/** Decides, from the outcomes seen while closed, when a circuit breaker opens. */
export interface BreakerStrategy {
  /** Records one outcome while closed; returns `true` when the circuit should open now. */
  record(success: boolean, nowMs: number): boolean;
  /** Forgets every outcome (the circuit closed again). */
  reset(): void;
  /** Plain JSON data to carry the strategy's counts across processes. */
  snapshot(): unknown;
  /** Takes back what {@link BreakerStrategy.snapshot} produced; ignores data of another shape. */
  restore(snapshot: unknown): void;
  /**
   * How to build the same strategy elsewhere, as plain JSON: set by the built-in strategies so that shared
   * state (a Durable Object) can run it over the outcomes of a whole fleet. A custom strategy may leave it out;
   * its circuit is then shared only when one member opens it.
   */
  readonly spec?: BreakerStrategySpec;
}

/** A built-in strategy as plain JSON; {@link strategyFromSpec} builds it again. */
export type BreakerStrategySpec =
  | { readonly kind: "consecutiveFailures"; readonly threshold: number }
  | { readonly kind: "failureRate"; readonly options: FailureRateOptions };

/**
 * Opens after `threshold` failures in a row; a success starts the count again.
 *
 * @example
 * ```ts
 * const breaker = circuitBreaker({ strategy: consecutiveFailures(5) });
 * ```
 */
export function consecutiveFailures(threshold = 5): BreakerStrategy {
  const limit = requireIntegerAtLeast("consecutiveFailures", "threshold", threshold, 1);
  let failures = 0;
  return {
    record(success) {
      failures = success ? 0 : failures + 1;
      return failures >= limit;
    },
    spec: { kind: "consecutiveFailures", threshold: limit },
    reset() {
      failures = 0;
    },
    snapshot: () => ({ failures }),
    restore(snapshot) {
      const n = (snapshot as { failures?: unknown } | null)?.failures;
      if (typeof n === "number" && Number.isInteger(n) && n >= 0) failures = n;
    },
  };
}

/**
 * The default strategy of `circuitBreaker` and `createFetch`: open when at least half of the outcomes of the
 * last 5 s failed, once there were at least 10 of them.
 *
 * Why: a breaker exists to stop piling onto a dependency that is *down*, and must not turn one that is merely
 * *flaky* into an outage. createFetch counts each call once, after its retries, so a dependency failing 30 %
 * of attempts fails about 3 % of calls; one that is down fails all of them. A ratio of one half sits far from
 * both. Ten outcomes at least: a handful of calls (ky's retries of one request, four requests of a page that
 * went offline) never open it. A short window: with traffic that was healthy until now, a ratio over a window
 * of W ms reaches one half about W/2 ms into an outage — 2.5 s here (measured by `npm run simulate`) — and a
 * past incident is forgotten as soon. Memory is fixed: 10 buckets of 500 ms.
 *
 * @example
 * ```ts
 * circuitBreaker({ strategy: defaultBreakerStrategy() }); // the same as circuitBreaker()
 * ```
 */
export function defaultBreakerStrategy(): BreakerStrategy {
  // Built directly, not through failureRate: constants need no checks, and a bundle that only uses the
  // default then carries neither failureRate's checks nor the count window.
  return new TimeRateStrategy(0.5, 10, 5_000, 10);
}

/** Options of {@link failureRate}. */
export interface FailureRateOptions {
  /** The failure ratio, in (0, 1], at or above which the circuit opens. Default 0.5. */
  readonly threshold?: number;
  /** No opening before this many calls are in the window, so two failures out of three calls do not trip it. Default 10. */
  readonly minimumThroughput?: number;
  /** A window of the last `windowSize` calls. Default 100 (used unless `windowMs` is given). */
  readonly windowSize?: number;
  /** A window of the last `windowMs` milliseconds, kept in `buckets` slices. */
  readonly windowMs?: number;
  /** How many slices a time window is kept in; old slices are dropped whole. Default 10. */
  readonly buckets?: number;
}

const FAILURE_RATE_KEYS = /* @__PURE__ */ Object.keys({
  threshold: true,
  minimumThroughput: true,
  windowSize: true,
  windowMs: true,
  buckets: true,
} satisfies Record<keyof FailureRateOptions, true>);

/**
 * Opens when at least `threshold` of the calls in a sliding window failed, once the window holds
 * `minimumThroughput` calls. The window counts the last N calls, or the last `windowMs` in fixed buckets;
 * memory is fixed either way.
 *
 * @example
 * ```ts
 * // Open when half the calls of the last 30 s failed, once there were at least 20.
 * circuitBreaker({ strategy: failureRate({ threshold: 0.5, minimumThroughput: 20, windowMs: 30_000 }) });
 * ```
 */
export function failureRate(options?: FailureRateOptions): BreakerStrategy {
  const owner = "failureRate";
  const o = requireOptionsObject(owner, options);
  requireKnownKeys(owner, o, FAILURE_RATE_KEYS);
  const threshold = requireFiniteAtLeast(owner, "threshold", o.threshold ?? 0.5, Number.MIN_VALUE);
  if (threshold > 1) throw new RangeError(`${owner}: option "threshold" must be a ratio in (0, 1], got ${threshold}`);
  const minimumThroughput = requireIntegerAtLeast(owner, "minimumThroughput", o.minimumThroughput ?? 10, 1);
  if (o.windowMs !== undefined && o.windowSize !== undefined) {
    throw new TypeError(`${owner}: give either option "windowSize" (calls) or "windowMs" (time), not both`);
  }
  // Checked even when no time window uses it: a bad value is a mistake either way.
  const buckets = requireIntegerAtLeast(owner, "buckets", o.buckets ?? 10, 1);
  if (o.windowMs !== undefined) {
    const windowMs = requireFiniteAtLeast(owner, "windowMs", o.windowMs, 1);
    return new TimeRateStrategy(threshold, minimumThroughput, windowMs, buckets);
  }
  const windowSize = requireIntegerAtLeast(owner, "windowSize", o.windowSize ?? 100, 1);
  const window = countWindow(windowSize);
  return {
    spec: { kind: "failureRate", options: { threshold, minimumThroughput, windowSize } },
    record(success, nowMs) {
      window.add(success, nowMs);
      const { total, failures } = window.totals(nowMs);
      return total >= minimumThroughput && failures / total >= threshold;
    },
    reset: () => window.clear(),
    snapshot: () => window.snapshot(),
    restore: (snapshot) => window.restore(snapshot),
  };
}

/**
 * A failure rate over a time window, as a class: it is the default strategy, one per origin, and its methods
 * on the prototype keep 10,000 origins from costing 10,000 sets of closures.
 */
class TimeRateStrategy implements BreakerStrategy {
  readonly #threshold: number;
  readonly #minimumThroughput: number;
  readonly #windowMs: number;
  readonly #buckets: number;
  #counter: SlidingWindowCounter;

  constructor(threshold: number, minimumThroughput: number, windowMs: number, buckets: number) {
    this.#threshold = threshold;
    this.#minimumThroughput = minimumThroughput;
    this.#windowMs = windowMs;
    this.#buckets = buckets;
    this.#counter = new SlidingWindowCounter(windowMs, buckets);
  }

  get spec(): BreakerStrategySpec {
    const options = {
      threshold: this.#threshold,
      minimumThroughput: this.#minimumThroughput,
      windowMs: this.#windowMs,
      buckets: this.#buckets,
    };
    return { kind: "failureRate", options };
  }

  record(success: boolean, nowMs: number): boolean {
    this.#counter.record(nowMs, !success);
    const { count, marked } = this.#counter.totals(nowMs);
    return count >= this.#minimumThroughput && marked / count >= this.#threshold;
  }

  reset(): void {
    this.#counter = new SlidingWindowCounter(this.#windowMs, this.#buckets);
  }

  snapshot(): unknown {
    return { kind: "time", ...this.#counter.snapshot() };
  }

  restore(snapshot: unknown): void {
    if ((snapshot as { kind?: unknown } | null)?.kind === "time") this.#counter.restore(snapshot);
  }
}

/**
 * Builds a strategy from its {@link BreakerStrategy.spec}, or returns `undefined` for anything that is not a
 * valid spec (the spec may come from another process, so junk is refused rather than thrown on).
 *
 * @example
 * ```ts
 * const copy = strategyFromSpec(consecutiveFailures(5).spec); // another consecutiveFailures(5)
 * ```
 */
export function strategyFromSpec(spec: unknown): BreakerStrategy | undefined {
  const s = spec as { kind?: unknown; threshold?: unknown; options?: unknown } | null;
  try {
    if (s?.kind === "consecutiveFailures") return consecutiveFailures(s.threshold as number);
    if (s?.kind === "failureRate" && typeof s.options === "object" && s.options !== null) {
      return failureRate(s.options as FailureRateOptions);
    }
  } catch {
    // An invalid threshold or window: not a strategy this process can run.
  }
  return undefined;
}

/** Outcomes in a sliding window. */
export interface OutcomeWindow {
  /** Counts one outcome at `nowMs`. */
  add(success: boolean, nowMs: number): void;
  /** Outcomes and failures in the window that ends at `nowMs`. */
  totals(nowMs: number): { total: number; failures: number };
  /** Forgets every outcome. */
  clear(): void;
  /** The window as plain JSON. */
  snapshot(): unknown;
  /** Takes back what {@link OutcomeWindow.snapshot} produced; ignores data of another shape. */
  restore(snapshot: unknown): void;
  /** Slots held in memory: fixed at construction. */
  readonly slots: number;
}

/**
 * The last `size` outcomes, in a ring of bytes.
 *
 * @example
 * ```ts
 * const window = countWindow(100); // the last 100 outcomes
 * window.add(false, Date.now());
 * window.totals(Date.now()); // { total: 1, failures: 1 }
 * ```
 */
export function countWindow(size: number): OutcomeWindow {
  requireIntegerAtLeast("countWindow", "size", size, 1);
  const ring = new Uint8Array(size); // 1 = failure
  let next = 0;
  let filled = 0;
  let failures = 0;
  return {
    slots: size,
    add(success) {
      if (filled === size) failures -= ring[next] as number;
      else filled++;
      ring[next] = success ? 0 : 1;
      failures += success ? 0 : 1;
      next = (next + 1) % size;
    },
    totals: () => ({ total: filled, failures }),
    clear() {
      ring.fill(0);
      next = filled = failures = 0;
    },
    snapshot: () => ({ kind: "count", ring: Array.from(ring), next, filled, failures }),
    restore(snapshot) {
      const s = snapshot as { kind?: unknown; ring?: unknown; next?: unknown; filled?: unknown } | null;
      if (s?.kind !== "count" || !Array.isArray(s.ring) || s.ring.length !== size) return;
      ring.set(s.ring.map((v) => (v ? 1 : 0)));
      next = Number(s.next) % size || 0;
      filled = Math.min(size, Math.max(0, Number(s.filled) || 0));
      failures = ring.reduce((sum, v) => sum + v, 0);
    },
  };
}

/**
 * The last `windowMs` of outcomes, in `buckets` slices that are dropped whole as they age.
 *
 * @example
 * ```ts
 * const window = timeWindow(30_000, 10); // the last 30 s, in 3 s buckets
 * window.add(true, Date.now());
 * ```
 */
export function timeWindow(windowMs: number, buckets: number): OutcomeWindow {
  requireFiniteAtLeast("timeWindow", "windowMs", windowMs, 1);
  requireIntegerAtLeast("timeWindow", "buckets", buckets, 1);
  let counter = new SlidingWindowCounter(windowMs, buckets);
  return {
    slots: buckets,
    add: (success, nowMs) => counter.record(nowMs, !success),
    totals(nowMs) {
      const { count, marked } = counter.totals(nowMs);
      return { total: count, failures: marked };
    },
    clear() {
      counter = new SlidingWindowCounter(windowMs, buckets);
    },
    snapshot: () => ({ kind: "time", ...counter.snapshot() }),
    restore(snapshot) {
      if ((snapshot as { kind?: unknown } | null)?.kind === "time") counter.restore(snapshot);
    },
  };
}
