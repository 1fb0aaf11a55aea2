/**
 * What a circuit breaker or a retry budget holds of the fleet: a link for one key, made by a coordinator.
 * To the user a link is opaque (given as `circuitBreaker({ fleet })` or `retryBudget({ fleet })`, never
 * called): its members and the settings it carries are the fleet layer's business, and may change with it.
 */

import type { BreakerStrategy } from "../breaker-strategies.ts";
import type { CircuitBreaker } from "../circuit-breaker.ts";
import type { Environment } from "../environment.ts";
import type { FleetBudgetView } from "./protocol.ts";

/** Brands that keep a link opaque: a type has them only by coming from a coordinator. */
declare const circuitLinkBrand: unique symbol;
declare const budgetLinkBrand: unique symbol;

/**
 * A breaker's link to the fleet for one key: made by `coordinator(…).circuit(key)`, given as
 * `circuitBreaker({ fleet })`. Opaque: there is nothing on it to call.
 *
 * @example
 * ```ts
 * const link: FleetCircuitLink = fleet.circuit("payments-db");
 * const breaker = circuitBreaker({ fleet: link });
 * ```
 */
export interface FleetCircuitLink {
  readonly [circuitLinkBrand]: true;
}

/**
 * A retry budget's link to the fleet for one key: made by `coordinator(…).budget(key)`, given as
 * `retryBudget({ fleet })`. Opaque: there is nothing on it to call.
 *
 * @example
 * ```ts
 * const link: FleetBudgetLink = fleet.budget("https://api.example.com");
 * const budget = retryBudget({ fleet: link });
 * ```
 */
export interface FleetBudgetLink {
  readonly [budgetLinkBrand]: true;
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

/** What a {@link FleetCircuitLink} is to the breaker that holds it. */
export interface CircuitLink {
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

/** What a {@link FleetBudgetLink} is to the budget that holds it. */
export interface BudgetLink {
  /** Called once by the budget it is given to. */
  connect(window: { readonly windowMs: number; readonly buckets: number }): void;
  /** Counts a call (`false`) or a retry (`true`). */
  count(retry: boolean): void;
  /** The fleet's counts, this isolate's unreported ones included; `undefined` while there is no fresh view. */
  totals(): FleetBudgetView | undefined;
}
