/**
 * Per-key state (a breaker per origin, say) in a bounded map: beyond `capacity` keys the least recently
 * used one is dropped, so a client that talks to 100,000 hosts does not keep 100,000 breakers.
 */

import { requireIntegerAtLeast } from "./validate.ts";

/** A bounded least-recently-used map that creates missing entries on demand. */
export class KeyedRegistry<V> {
  readonly #entries = new Map<string, V>();
  readonly #capacity: number;
  readonly #create: (key: string) => V;
  /** The most recently used key, whose entry need not be moved: a client of one origin never reorders. */
  #lastKey: string | undefined;
  #lastValue: V | undefined;

  constructor(capacity: number, create: (key: string) => V) {
    this.#capacity = requireIntegerAtLeast("KeyedRegistry", "capacity", capacity, 1);
    this.#create = create;
  }

  /** The entry for `key`, created if missing; marks it most recently used. */
  get(key: string): V {
    if (key === this.#lastKey) return this.#lastValue as V;
    const entries = this.#entries;
    let value = entries.get(key);
    if (value === undefined) {
      value = this.#create(key);
      if (entries.size >= this.#capacity) {
        // A Map iterates in insertion order, and every use re-inserts: the first key is the least recent.
        entries.delete(entries.keys().next().value as string);
      }
    } else {
      entries.delete(key);
    }
    entries.set(key, value);
    this.#lastKey = key;
    this.#lastValue = value;
    return value;
  }

  /** The entry for `key` if present, without creating it or changing its recency. */
  peek(key: string): V | undefined {
    return this.#entries.get(key);
  }

  get size(): number {
    return this.#entries.size;
  }

  entries(): IterableIterator<[string, V]> {
    return this.#entries.entries();
  }
}
