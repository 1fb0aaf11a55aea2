/**
 * Where the fleet's state lives: a store takes an isolate's report for one key and answers with the fleet's
 * state, in one round trip. Here, the in-process store; the Durable Object store is `staunch/durable`'s.
 */

import { type Environment, resolveEnvironment } from "../environment.ts";
import { requireIntegerAtLeast, requireKnownKeys, requireOptionsObject } from "../validate.ts";
import { FleetStates } from "./decisions.ts";
import type { SyncMessage, SyncReply } from "./protocol.ts";

/**
 * Where the fleet's state lives: one round trip that takes an isolate's report for one key and answers with
 * the fleet's state. `durableObjectStore` (from `staunch/durable`) keeps it in a Durable Object;
 * {@link memoryStore} in this process. The messages' types are exported by `staunch/durable`, for a store
 * of your own.
 *
 * @example
 * ```ts
 * const store: FleetStore = memoryStore();
 * const fleet = coordinator({ store });
 * ```
 */
export interface FleetStore {
  /** Rejects when the store cannot be reached; `signal` aborts when the coordinator stops waiting. */
  exchange(message: SyncMessage, signal: AbortSignal): Promise<SyncReply>;
}

/** Options of {@link memoryStore}. */
export interface MemoryStoreOptions {
  /** The clock the fleet's decisions run on. */
  readonly env?: Partial<Environment>;
  /** The most keys whose fleet state is kept; the least recently used beyond it is dropped. Default 10,000. */
  readonly maxKeys?: number;
}

const MEMORY_STORE_KEYS = /* @__PURE__ */ Object.keys({ env: true, maxKeys: true } satisfies Record<
  keyof MemoryStoreOptions,
  true
>);

/**
 * A store in this process's memory: the fleet is whatever shares it (several clients, or tests that simulate
 * isolates). It runs the same decisions as the Durable Object, on `env`'s clock.
 *
 * @example
 * ```ts
 * const store = memoryStore();
 * const a = coordinator({ store });
 * const b = coordinator({ store }); // a and b see each other's outcomes
 * ```
 */
export function memoryStore(options?: MemoryStoreOptions): FleetStore {
  const owner = "memoryStore";
  const o = requireOptionsObject(owner, options) as MemoryStoreOptions;
  requireKnownKeys(owner, o, MEMORY_STORE_KEYS);
  const env = resolveEnvironment(o.env, owner);
  const fleet = new FleetStates(requireIntegerAtLeast(owner, "maxKeys", o.maxKeys ?? 10_000, 1));
  return {
    // A copy through JSON, as a real store would see it: nothing is shared by reference between "isolates".
    exchange: (message) =>
      Promise.resolve().then(() => fleet.handle(JSON.parse(JSON.stringify(message)) as SyncMessage, env.now())),
  };
}
