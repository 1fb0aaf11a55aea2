/**
 * The fleet's store in a Cloudflare Durable Object: {@link durableObjectStore} sends each exchange to the
 * object for its key, and {@link StaunchSharedState} (the object) runs the fleet's decisions and keeps each
 * circuit across restarts. Exported by `staunch/durable` only, so frontend bundles never include it. Web-standard
 * APIs only, and the Durable Object's runtime objects typed structurally: no `cloudflare:workers` import, so
 * the module also loads (and is tested) in Node, Deno and browsers.
 */

import { describeValue, optionalFunction, requireKnownKeys, requireOptionsObject } from "../validate.ts";
import { FleetStates } from "./decisions.ts";
import { parseSyncMessage, parseSyncReply, type SyncMessage, type SyncReply } from "./protocol.ts";
import type { FleetStore } from "./stores.ts";

/** The part of a Durable Object's storage used here (`ctx.storage`; the key-value API, SQLite-backed or not). */
export interface DurableStorageLike {
  /** The value stored under `key`, or `undefined`. */
  get(key: string): Promise<unknown>;
  /** Stores a structured-cloneable value under `key`. */
  put(key: string, value: unknown): Promise<void>;
}

/** The part of a Durable Object's state used here (the first constructor argument). */
export interface DurableStateLike {
  readonly storage: DurableStorageLike;
}

/** A Durable Object stub: anything that answers `fetch`. */
export interface DurableStubLike {
  /** Sends a request to the object's `fetch` handler. */
  fetch(request: Request): Promise<Response>;
}

/** A Durable Object namespace binding (`env.STAUNCH_STATE`), as far as it is used here. */
export interface DurableNamespaceLike<Id = unknown> {
  /** The id of the object named `name` (the same name always gives the same object). */
  idFromName(name: string): Id;
  /** A stub to send the object requests. */
  get(id: Id): DurableStubLike;
}

/** Options of {@link durableObjectStore}. */
export interface DurableObjectStoreOptions {
  /**
   * Which Durable Object holds a key's state, by name. Default: one object per key (`staunch:<key>`), so keys
   * spread over objects and each object serves one upstream. Return one constant name for a single object.
   */
  readonly objectName?: (key: string) => string;
}

const DURABLE_STORE_KEYS = /* @__PURE__ */ Object.keys({ objectName: true } satisfies Record<
  keyof DurableObjectStoreOptions,
  true
>);

/** Where the Durable Object is asked: the host is never resolved, a stub routes the request itself. */
const SYNC_URL = "https://staunch.shared-state/sync";

/**
 * A fleet store that keeps the fleet's state in {@link StaunchSharedState} objects. A stub is made
 * for each exchange (stubs are cheap; a Worker may not use I/O objects across requests).
 *
 * @example
 * ```ts worker
 * import { coordinator, logTo } from "staunch";
 * import { durableObjectStore } from "staunch/durable";
 *
 * const fleet = coordinator({ store: durableObjectStore(env.STAUNCH_STATE), telemetry: logTo(console) });
 * ```
 */
export function durableObjectStore<Id>(
  namespace: DurableNamespaceLike<Id>,
  options?: DurableObjectStoreOptions,
): FleetStore {
  if (typeof namespace?.idFromName !== "function" || typeof namespace.get !== "function") {
    throw new TypeError(
      `durableObjectStore: argument "namespace" must be a Durable Object namespace binding (with idFromName and get), got ${describeValue(namespace)}`,
    );
  }
  const owner = "durableObjectStore";
  const o = requireOptionsObject(owner, options) as DurableObjectStoreOptions;
  requireKnownKeys(owner, o, DURABLE_STORE_KEYS);
  const objectName =
    optionalFunction<(key: string) => string>(owner, "objectName", o.objectName) ?? ((key: string) => `staunch:${key}`);
  return {
    async exchange(message: SyncMessage, signal: AbortSignal): Promise<SyncReply> {
      const stub = namespace.get(namespace.idFromName(objectName(message.key)));
      const response = await stub.fetch(
        new Request(SYNC_URL, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(message),
          signal,
        }),
      );
      if (!response.ok) {
        await response.body?.cancel();
        throw new Error(`durableObjectStore: the shared state object answered ${response.status}`);
      }
      const reply = parseSyncReply(await response.json());
      if (reply === undefined) throw new Error("durableObjectStore: the shared state object sent an unknown answer");
      return reply;
    },
  };
}

const CIRCUIT_PREFIX = "circuit:";

/**
 * The Durable Object that holds, per key, the fleet's circuit (its window of outcomes, its state, its probe
 * permits) and a retry budget's fleet counts. Bind it and re-export it from your Worker's main module:
 *
 * ```text
 * [[durable_objects.bindings]]
 * name = "STAUNCH_STATE"
 * class_name = "StaunchSharedState"
 *
 * [[migrations]]
 * tag = "staunch-v1"
 * new_sqlite_classes = ["StaunchSharedState"]
 * ```
 *
 * What is written to storage: a key's circuit state (open or closed, since when, for how long, its epoch), and
 * only when it changes — a handful of writes per outage, none under steady traffic. The outcome windows and
 * the budget's counts live in memory: they cover the last seconds, so an object that restarts loses little.
 *
 * @example
 * ```ts
 * // worker.ts
 * export { StaunchSharedState } from "staunch/durable";
 * ```
 */
export class StaunchSharedState {
  readonly #storage: DurableStorageLike;
  readonly #fleet = new FleetStates();
  /** Keys being loaded from storage, so concurrent first requests for one key load it once. */
  readonly #loading = new Map<string, Promise<void>>();

  constructor(state: DurableStateLike, _env?: unknown) {
    this.#storage = state.storage;
  }

  /** Answers a `POST` of a JSON sync message with the fleet's state; 400 for anything else posted, 405 for other methods. */
  async fetch(request: Request): Promise<Response> {
    if (request.method !== "POST") return new Response("staunch shared state: POST a sync message\n", { status: 405 });
    let message: SyncMessage | undefined;
    try {
      message = parseSyncMessage(await request.json());
    } catch {
      message = undefined;
    }
    if (message === undefined) return new Response("staunch shared state: not a sync message\n", { status: 400 });
    return Response.json(await this.sync(message));
  }

  /** Applies one isolate's report and returns the fleet's state; the circuit is saved when it changed. */
  async sync(message: SyncMessage): Promise<SyncReply> {
    const key = message.key;
    if (!this.#fleet.has(key)) await this.#load(key);
    const circuit = this.#fleet.circuit(key);
    const epoch = circuit.epoch;
    const reply = this.#fleet.handle(message, Date.now());
    if (circuit.epoch !== epoch) await this.#storage.put(CIRCUIT_PREFIX + key, circuit.toJSON());
    return reply;
  }

  #load(key: string): Promise<void> {
    let loading = this.#loading.get(key);
    if (loading === undefined) {
      loading = this.#storage
        .get(CIRCUIT_PREFIX + key)
        .then((saved) => {
          if (!this.#fleet.has(key) && saved !== undefined) this.#fleet.circuit(key).restore(saved);
        })
        .finally(() => this.#loading.delete(key));
      this.#loading.set(key, loading);
    }
    return loading;
  }
}
