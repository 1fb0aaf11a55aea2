/**
 * The breaker layer of createFetch: one circuit breaker per origin, counting calls (not attempts), made blind
 * to the failures of a device that is offline. A value the user passes (`breaker: perOriginBreaker(…)`) to
 * `createLeanFetch`, so that a client without a breaker does not bundle one; `createFetch` includes it by
 * default.
 */

import type { BreakerStrategy } from "./breaker-strategies.ts";
import {
  CircuitBreaker,
  type CircuitBreakerOptions,
  type CircuitStateChange,
  type CountedAs,
  runCounting,
  watchBreaker,
} from "./circuit-breaker.ts";
import type { Environment } from "./environment.ts";
import type { Coordinator } from "./fleet/coordinator.ts";
import type { CircuitLink } from "./fleet/links.ts";
import type { Outcome } from "./outcome.ts";
import type { PolicyContext } from "./policy.ts";
import { bothEmit, type Emit, emitterOf } from "./telemetry/emit.ts";
import { optionError, requireKnownKeys, requireOptionsObject } from "./validate.ts";

/** Circuit breaker options for createFetch: as `circuitBreaker`'s, with a strategy factory (one per origin). */
export interface FetchBreakerOptions
  extends Omit<CircuitBreakerOptions, "strategy" | "key" | "env" | "snapshot" | "fleet" | "shouldHandle"> {
  /** Makes each origin's strategy (one per origin). Default `() => defaultBreakerStrategy()`. */
  readonly strategy?: () => BreakerStrategy;
  /**
   * Which outcomes of a call count against its origin, as `circuitBreaker`'s `shouldHandle` (the same default).
   * While the device is offline (`navigator.onLine` is `false`), no error counts, whatever this says.
   */
  readonly shouldHandle?: (outcome: Outcome<Response>, context: PolicyContext) => boolean;
  /**
   * Shares each origin's circuit with other isolates: a `coordinator(…)`, asked for one link per origin.
   * Default: each breaker's own memory.
   */
  readonly fleet?: Pick<Coordinator, "circuit">;
}

/** What `perOriginBreaker` accepts: breaker options, a breaker per origin, or one breaker for every origin. */
export type FetchBreakerOption = FetchBreakerOptions | ((origin: string) => CircuitBreaker) | CircuitBreaker;

/** What a createFetch call records for its breaker, which counts the call by it. */
export interface CountedCall {
  /** Set by the breaker: whether the call is the half-open probe, then sent once, so that the probe is short. */
  probe?: boolean;
  /**
   * Set when the caller's own code threw (`beforeRetry`, `shouldRetry`, a backoff function): that error ends the
   * call, and says nothing of the origin.
   */
  hookFailed: boolean;
  /** What the last attempt that ended on its own (not cut short by a deadline or an abort) ended with. */
  lastAttempt?: CountedAs | undefined;
  /** When the attempt in flight, or the last one if a deadline or an abort cut it short, started. */
  attemptSinceMs?: number | undefined;
}

/** One origin's breaker, as a createFetch client runs its calls through it. */
export interface OriginBreaker {
  readonly breaker: CircuitBreaker;
  /**
   * Runs one call (its retries included) under the breaker, unless the device is offline. createFetch's own
   * step, not an API.
   *
   * @internal
   */
  run<C extends CountedCall>(
    step: (call: C, context: PolicyContext) => Promise<Response>,
    context: PolicyContext,
    call: C,
  ): Promise<Response>;
}

/**
 * The breaker layer: a value handed to `createLeanFetch({ breaker })` (or `createFetch`). Opaque: a client
 * binds it to its own clock and telemetry.
 */
export interface FetchBreaker {
  /**
   * Binds the layer to one client: its clock, where its breakers' transitions are reported, and how long an
   * attempt must have been out for a deadline that cuts it short to count against the origin.
   */
  forClient(
    env: Environment,
    report: ((change: CircuitStateChange) => void) | undefined,
    fairAttemptMs: number,
  ): (origin: string) => OriginBreaker;
}

const BREAKER_KEYS = /* @__PURE__ */ Object.keys({
  strategy: true,
  halfOpenAfterMs: true,
  halfOpenProbes: true,
  shouldHandle: true,
  telemetry: true,
  fleet: true,
} satisfies Record<keyof FetchBreakerOptions, true>);

/**
 * `true` where the runtime knows it has no network at all (a browser's `navigator.onLine`); never elsewhere.
 * Failures then are the device's, not the origin's: they must not open its circuit, nor hide the network
 * error a page shows as "you are offline" behind a `CircuitOpenError`.
 */
const isOffline = (): boolean => (globalThis as { navigator?: { onLine?: unknown } }).navigator?.onLine === false;

/**
 * `online` events seen since the first breaker layer was bound. An origin whose breaker has seen fewer lets its
 * open circuit probe at once: the failures that opened it may have been the network's. A count read at each
 * call, not a listener per client, so that a client dropped is collected.
 */
let onlineEvents = 0;
let listeningForOnline = false;

function listenForOnline(): void {
  if (listeningForOnline) return;
  listeningForOnline = true;
  const g = globalThis as {
    navigator?: { onLine?: unknown };
    addEventListener?: (type: string, listener: () => void) => void;
  };
  if (typeof g.navigator?.onLine === "boolean" && typeof g.addEventListener === "function") {
    g.addEventListener("online", () => {
      onlineEvents++;
    });
  }
}

/** Whether a value is a breaker layer (made by {@link perOriginBreaker}). */
export const isFetchBreaker = (value: unknown): value is FetchBreaker =>
  typeof (value as Partial<FetchBreaker> | null)?.forClient === "function";

/**
 * The breaker layer for `createLeanFetch`: a circuit breaker per origin (`scheme://host:port`) that counts
 * calls, not attempts — a call counts once, with the outcome it ends with after its retries. Accepts what
 * createFetch's `breaker` option does: options (or nothing: `circuitBreaker`'s defaults, open when half the
 * calls of the last 5 s failed, once there were 10), a function `(origin) => circuitBreaker(…)`, or one
 * `CircuitBreaker` for every origin. Checks its options now.
 *
 * @example
 * ```ts
 * const fetch = createLeanFetch({ breaker: perOriginBreaker({ halfOpenAfterMs: 30_000 }) });
 * ```
 */
export function perOriginBreaker(option?: FetchBreakerOption, owner = "perOriginBreaker"): FetchBreaker {
  if (option instanceof CircuitBreaker) return layer(() => option, false);
  if (typeof option === "function") {
    const requirement = "a function that returns a circuitBreaker(…) for each origin";
    const breakerOf = (origin: string): CircuitBreaker => {
      const breaker: unknown = option(origin);
      if (!(breaker instanceof CircuitBreaker)) throw optionError(TypeError, owner, "breaker", requirement, breaker);
      return breaker;
    };
    // Called once now, as the bulkhead option is, so that a slip (`breaker: circuitBreaker`, the factory itself,
    // which refuses an origin as its options) fails here, named, and not on every call.
    try {
      breakerOf("https://options.check");
    } catch (error) {
      throw error instanceof TypeError && error.message.startsWith(owner)
        ? error
        : optionError(TypeError, owner, "breaker", requirement, option);
    }
    return layer(breakerOf, true);
  }
  if (typeof (option as { run?: unknown } | null | undefined)?.run === "function") {
    throw optionError(
      TypeError,
      owner,
      "breaker",
      "breaker options, a circuitBreaker(…), a function (origin) => circuitBreaker(…), or false",
      option,
    );
  }
  const scope = owner === "perOriginBreaker" ? owner : `${owner}.breaker`;
  const o = requireOptionsObject(scope, option) as FetchBreakerOptions;
  requireKnownKeys(scope, o, BREAKER_KEYS);
  if (o.strategy !== undefined && typeof o.strategy !== "function") {
    throw optionError(
      TypeError,
      scope,
      "strategy",
      "a function that makes a strategy per origin, e.g. () => failureRate({ windowMs: 60_000 })",
      o.strategy,
    );
  }
  const { strategy, telemetry, fleet, ...rest } = o;
  // Asked for one link now, as the bulkhead and breaker functions are called once, so that a slip fails here and
  // not at the first call. A coordinator's link opens nothing until a breaker connects to it.
  if (fleet !== undefined) {
    const circuit = (fleet as Partial<typeof fleet> | null)?.circuit;
    const link = typeof circuit === "function" ? circuit.call(fleet, "https://options.check") : undefined;
    if (typeof (link as Partial<CircuitLink> | undefined)?.connect !== "function") {
      throw optionError(TypeError, scope, "fleet", "a coordinator(…), whose circuit(origin) gives a fleet link", fleet);
    }
  }
  const listeners = emitterOf(scope, telemetry);
  const make = (origin: string, env?: Environment, report?: (change: CircuitStateChange) => void): CircuitBreaker =>
    new CircuitBreaker(
      {
        ...(rest as Omit<CircuitBreakerOptions, "strategy">),
        strategy: strategy?.(),
        key: origin,
        fleet: env === undefined ? undefined : fleet?.circuit(origin),
        env,
        // The breaker's own listeners hear its transitions under its key; the client's, under the origin.
        telemetry: bothEmit(listeners, report as Emit | undefined),
      },
      scope,
    );
  make("https://options.check"); // throws now, at construction, on bad options
  return {
    forClient: (env, report, fairAttemptMs) => {
      listenForOnline();
      return originBreaker((origin) => make(origin, env, report), env, fairAttemptMs);
    },
  };
}

/**
 * A layer of breakers the user built: watched for the client's telemetry, skipped while offline. A breaker made
 * for one origin (`perOrigin`) reports that origin, which its own key need not name; one breaker for every origin
 * has none to report.
 */
function layer(breakerOf: (origin: string) => CircuitBreaker, perOrigin: boolean): FetchBreaker {
  return {
    forClient: (env, report, fairAttemptMs) => {
      listenForOnline();
      // The watch holds its listener weakly: this map, held by the client, keeps each alive with its breaker.
      const watched = new WeakMap<CircuitBreaker, (change: CircuitStateChange) => void>();
      return originBreaker(
        (origin) => {
          const breaker = breakerOf(origin);
          if (report !== undefined && !watched.has(breaker)) {
            const listener = perOrigin ? (change: CircuitStateChange) => report({ ...change, origin }) : report;
            watched.set(breaker, listener);
            watchBreaker(breaker, listener);
          }
          return breaker;
        },
        env,
        fairAttemptMs,
      );
    },
  };
}

function originBreaker(
  make: (origin: string) => CircuitBreaker,
  env: Environment,
  fairAttemptMs: number,
): (origin: string) => OriginBreaker {
  // The device's navigator, looked up once per client: `globalThis.navigator` is a getter in Node, which each
  // call would pay for. Its `onLine` is still read at each call, as it changes.
  const device = (globalThis as { navigator?: { onLine?: unknown } }).navigator;
  return (origin) => {
    const breaker = make(origin);
    let onlineSeen = onlineEvents;
    // One per origin, not per call: the call comes as the breaker's scope.
    const countedHere = (error: unknown, call: CountedCall): CountedAs =>
      countedAs(call, error, env.now(), fairAttemptMs);
    return {
      breaker,
      run: (step, context, call) => {
        if (device?.onLine === false) return step(call, context);
        if (onlineSeen !== onlineEvents) {
          onlineSeen = onlineEvents;
          breaker.halfOpenNow();
        }
        return runCounting(
          breaker,
          (next, probe) => {
            call.probe = probe;
            return step(call, next);
          },
          context,
          countedHere,
          call,
        );
      },
    };
  };
}

/**
 * What a failed call counts as. Its own error when a deadline cut short an attempt that had been out for
 * `fairAttemptMs` at least: the origin is slow. Otherwise what its last attempt ended with, or nothing if it
 * made none: a call that ran out of time in the bulkhead's queue, an origin pause or a backoff, or whose
 * attempt left the queue just before the deadline, says nothing of the origin (counting it lets a client's own
 * saturation open a healthy origin's circuit). Nothing either when the caller's own code threw, nor while the
 * device is offline: its failures then are the device's, not the origin's.
 */
function countedAs(call: CountedCall, error: unknown, now: number, fairAttemptMs: number): CountedAs {
  if (call.hookFailed || isOffline()) return null;
  const since = call.attemptSinceMs;
  return since !== undefined && now - since >= fairAttemptMs ? { ok: false, error } : (call.lastAttempt ?? null);
}
