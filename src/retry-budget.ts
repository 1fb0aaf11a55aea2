/**
 * A retry budget shared by many calls: retries may add at most a fixed fraction to the traffic (or a small
 * floor of retries per second, whichever is more), so that in
 * a full outage a fleet sends about (1 + ratio)× its normal load instead of `attempts`× (the idea of
 * Envoy's `retry_budget` and Finagle's `RetryBudget`).
 */

import { type Environment, resolveEnvironment } from "./environment.ts";
import type { BudgetLink, FleetBudgetLink } from "./fleet/links.ts";
import type { RetryBudget } from "./retry.ts";
import { SlidingWindowCounter } from "./sliding-window.ts";
import { emitterOf } from "./telemetry/emit.ts";
import type { TelemetryOption } from "./telemetry/events.ts";
import {
  optionError,
  requireDurationMs,
  requireFiniteAtLeast,
  requireIntegerAtLeast,
  requireKnownKeys,
  requireOptionsObject,
} from "./validate.ts";

/** Options of {@link retryBudget}. */
export interface RetryBudgetOptions {
  /** Retries allowed per call in the window. Default 0.2 (20 %). */
  readonly ratio?: number;
  /** A floor: retries allowed per second however little traffic there is, so a quiet client can still retry. Default 3. */
  readonly minRetriesPerSecond?: number;
  /**
   * How far back calls and retries are counted, in ms. Default 1,000. The allowance of a window can be spent
   * at once: a short window keeps retries close to `ratio` of the traffic second by second, while a long one
   * would let a whole window's allowance out in a burst when an outage begins (seen in `npm run simulate`).
   */
  readonly windowMs?: number;
  /** Slices the window is kept in (memory is fixed). Default 10. */
  readonly buckets?: number;
  /** Listeners of `retry-budget-exhausted`, emitted each time a retry is refused because the budget is spent. */
  readonly telemetry?: TelemetryOption;
  /**
   * Shares the counts with the fleet of isolates, through a coordinator's link (`coordinator(…).budget(key)`),
   * so that `ratio` and the `minRetriesPerSecond` floor hold fleet-wide. While the fleet's counts are not at
   * hand, this isolate's own decide. Default: this budget's memory only.
   */
  readonly fleet?: FleetBudgetLink;
  readonly env?: Partial<Environment>;
}

/** The budget's counts over its window. */
export interface RetryBudgetState {
  readonly requests: number;
  readonly retries: number;
  /** Retries that may still be made now. */
  readonly available: number;
}

/** The `retry-budget-exhausted` event: a retry was refused, with the budget's counts when it was. */
export interface RetryBudgetExhaustedEvent extends RetryBudgetState {
  readonly type: "retry-budget-exhausted";
}

/**
 * A retry budget counted over a sliding window, with its counts in view: what {@link retryBudget} makes, to
 * give to any number of `retry` policies and `createFetch` clients.
 *
 * @example
 * ```ts
 * const budget: WindowedRetryBudget = retryBudget({ ratio: 0.1 });
 * const { retries, available } = budget.state();
 * ```
 */
export interface WindowedRetryBudget extends RetryBudget {
  /** The counts over the window now (the fleet's, when the budget is shared and its counts are at hand). */
  state(): RetryBudgetState;
}

const BUDGET_KEYS = /* @__PURE__ */ Object.keys({
  ratio: true,
  minRetriesPerSecond: true,
  windowMs: true,
  buckets: true,
  telemetry: true,
  fleet: true,
  env: true,
} satisfies Record<keyof RetryBudgetOptions, true>);

/**
 * Creates a retry budget to share between `retry` policies and `createFetch` clients.
 *
 * @example
 * ```ts
 * const budget = retryBudget({ ratio: 0.2, minRetriesPerSecond: 3 });
 * const api = createFetch({ budget });
 * const db = retry({
 *   budget,
 *   telemetry: on("give-up", ({ reason }) => reason === "budget" && console.warn("retry budget spent")),
 * });
 * ```
 */
export function retryBudget(options?: RetryBudgetOptions): WindowedRetryBudget {
  const owner = "retryBudget";
  const o = requireOptionsObject(owner, options) as RetryBudgetOptions;
  requireKnownKeys(owner, o, BUDGET_KEYS);
  const ratio = requireFiniteAtLeast(owner, "ratio", o.ratio ?? 0.2);
  const minRetriesPerSecond = requireFiniteAtLeast(owner, "minRetriesPerSecond", o.minRetriesPerSecond ?? 3);
  // At most 2^31−1 ms, as the fleet's protocol carries it: a longer window would have every report refused.
  const windowMs = requireDurationMs(owner, "windowMs", o.windowMs ?? 1_000, 1);
  const buckets = requireIntegerAtLeast(owner, "buckets", o.buckets ?? 10, 1);
  const emit = emitterOf(owner, o.telemetry);
  const env = resolveEnvironment(o.env, owner);
  const fleet = o.fleet as unknown as BudgetLink | undefined;
  if (fleet !== undefined && typeof (fleet as Partial<BudgetLink> | null)?.totals !== "function") {
    throw optionError(TypeError, owner, "fleet", "a fleet link from coordinator(…).budget(key)", fleet);
  }
  fleet?.connect({ windowMs, buckets });
  // One counter: every call and every retry is an event; the retries are the marked ones.
  const events = new SlidingWindowCounter(windowMs, buckets);
  const minimum = (minRetriesPerSecond * windowMs) / 1000;

  const state = (): RetryBudgetState => {
    // The fleet's counts (this isolate's included) when a coordinator has them at hand, else this isolate's.
    const view = fleet?.totals();
    const { count, marked: retried } = view
      ? { count: view.requests + view.retries, marked: view.retries }
      : events.totals(env.now());
    const made = count - retried;
    return {
      requests: made,
      retries: retried,
      available: Math.max(0, Math.floor(Math.max(minimum, ratio * made) - retried)),
    };
  };

  return {
    recordRequest() {
      events.record(env.now(), false);
      fleet?.count(false);
    },
    tryAcquireRetry() {
      const current = state();
      if (current.available < 1) {
        emit?.({ type: "retry-budget-exhausted", ...current });
        return false;
      }
      events.record(env.now(), true);
      fleet?.count(true);
      return true;
    },
    state,
  };
}
