/**
 * An isolate's coordinator: the links its circuit breakers and retry budgets hold to the fleet's state, one
 * channel per key, over one store. Without a coordinator, breakers and budgets keep their state in memory.
 */

import { type Environment, resolveEnvironment } from "../environment.ts";
import { KeyedRegistry } from "../keyed-registry.ts";
import { emitterOf } from "../telemetry/emit.ts";
import type { TelemetryOption } from "../telemetry/events.ts";
import {
  optionError,
  requireFiniteAtLeast,
  requireIntegerAtLeast,
  requireKnownKeys,
  requireOptionsObject,
} from "../validate.ts";
import { Channel, type ChannelSettings, type FleetLinkStatus } from "./channel.ts";
import type { BudgetLink, CircuitLink, FleetBudgetLink, FleetCircuitLink } from "./links.ts";
import type { FleetStore } from "./stores.ts";

/** Options of {@link coordinator}. */
export interface CoordinatorOptions {
  readonly store: FleetStore;
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
  /**
   * Listeners of `fleet-degraded`, when the store stops answering for a key (once, until it answers again),
   * and `fleet-recovered`, when it answers again. E.g. `logTo(console)`.
   */
  readonly telemetry?: TelemetryOption;
  readonly env?: Partial<Environment>;
}

/**
 * The links of one isolate to its fleet, one per key.
 *
 * @example
 * ```ts
 * const fleet: Coordinator = coordinator({ store: memoryStore() });
 * const breaker = circuitBreaker({ fleet: fleet.circuit("payments-db") });
 * console.log(fleet.status()); // [{ key: "payments-db", degraded: false, … }]
 * ```
 */
export interface Coordinator {
  /** The link of the breaker for `key` (give it as `circuitBreaker({ fleet })`, or give the coordinator to createFetch). */
  circuit(key: string): FleetCircuitLink;
  /** The link of a retry budget for `key` (`retryBudget({ fleet })`); a budget and a breaker on one key share each exchange. */
  budget(key: string): FleetBudgetLink;
  /**
   * Resolves once no exchange is in flight; never rejects. In a Worker, hand it to `ctx.waitUntil` so that a
   * report started by a request is not cut off when the response is sent.
   */
  settled(): Promise<void>;
  /** Closes the fleet's circuit for `key` and forgets its counts (a dashboard reset, a test). Never rejects. */
  reset(key: string): Promise<void>;
  /** Each key's link: degraded or not, how old its view of the fleet is, the fleet's circuit as last seen. */
  status(): FleetLinkStatus[];
}

const OPTION_KEYS = /* @__PURE__ */ Object.keys({
  store: true,
  syncIntervalMs: true,
  maxBatch: true,
  timeoutMs: true,
  probeLeaseMs: true,
  maxKeys: true,
  telemetry: true,
  env: true,
} satisfies Record<keyof CoordinatorOptions, true>);

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

/**
 * Creates an isolate's coordinator: its links to the fleet's breaker and budget state in `store`. Create it once per
 * isolate (at module scope, or on the first request in a Worker) and share it between clients.
 *
 * Each key's outcomes and calls are reported in batches: at most every `syncIntervalMs` while there is
 * traffic, sooner when `maxBatch` are pending, and at once for what changes other isolates' decisions (this
 * isolate opened the circuit, a probe ended, a retry was spent). Each answer brings the fleet's state back,
 * so the view an isolate decides on is at most `syncIntervalMs + timeoutMs` old. No call waits for an
 * exchange, except a half-open probe asking for its permit (at most `timeoutMs`).
 *
 * @example
 * ```ts worker
 * import { coordinator, createFetch, logTo, retryBudget } from "staunch";
 * import { durableObjectStore } from "staunch/durable";
 *
 * const fleet = coordinator({ store: durableObjectStore(env.STAUNCH_STATE), telemetry: logTo(console) });
 * const api = createFetch({
 *   breaker: { fleet },
 *   budget: retryBudget({ fleet: fleet.budget("https://api.example.com") }),
 * });
 * ctx.waitUntil(fleet.settled()); // at the end of each request
 * ```
 */
export function coordinator(options: CoordinatorOptions): Coordinator {
  const owner = "coordinator";
  const o = requireOptionsObject(owner, options) as unknown as CoordinatorOptions;
  requireKnownKeys(owner, o, OPTION_KEYS);
  if (typeof (o.store as Partial<FleetStore> | undefined)?.exchange !== "function") {
    throw optionError(TypeError, owner, "store", "a store with an exchange method (durableObjectStore…)", o.store);
  }
  const settings: ChannelSettings = {
    store: o.store,
    syncIntervalMs: requireFiniteAtLeast(owner, "syncIntervalMs", o.syncIntervalMs ?? 1_000, 1),
    maxBatch: requireIntegerAtLeast(owner, "maxBatch", o.maxBatch ?? 100, 1),
    timeoutMs: requireFiniteAtLeast(owner, "timeoutMs", o.timeoutMs ?? 500, 1),
    probeLeaseMs: requireFiniteAtLeast(owner, "probeLeaseMs", o.probeLeaseMs ?? 30_000, 1),
    emit: emitterOf(owner, o.telemetry),
    env: resolveEnvironment(o.env, owner),
    inFlight: new Set(),
  };
  const channels = new KeyedRegistry<Channel>(
    requireIntegerAtLeast(owner, "maxKeys", o.maxKeys ?? 1_000, 1),
    (key) => new Channel(key, settings),
  );
  const channelFor = (key: string): Channel => channels.get(fleetKey(checked(key)));
  const checked = (key: string): string => {
    if (typeof key !== "string" || key === "") throw new TypeError(`${owner}: a key must be a non-empty string`);
    return key;
  };
  /**
   * A link's channel, opened when a breaker or budget connects, not when the link is made: a link asked for and
   * never used (createFetch checks its `fleet` option with one) leaves no key in the status or the store. Then
   * held: if the registry drops the key, the link still works, alone.
   */
  const lazyChannel = (key: string): (() => Channel) => {
    checked(key);
    let channel: Channel | undefined;
    return () => (channel ??= channelFor(key));
  };

  return {
    circuit(key) {
      const channel = lazyChannel(key);
      const link: CircuitLink = {
        connect: (breaker, settings) => channel().connectCircuit(breaker, settings),
        record: (outcome, probe) => channel().record(outcome, probe),
        opened: () => channel().opened(),
        acquireProbe: () => channel().acquireProbe(),
      };
      return link as unknown as FleetCircuitLink;
    },
    budget(key) {
      const channel = lazyChannel(key);
      const link: BudgetLink = {
        connect: (window) => channel().connectBudget(window),
        count: (retry) => channel().count(retry),
        totals: () => channel().totals(),
      };
      return link as unknown as FleetBudgetLink;
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
