/**
 * Per-key state (a breaker per origin, say) in a bounded map: beyond `capacity` keys the least recently
 * used one is dropped, so a client that talks to 100,000 hosts does not keep 100,000 breakers.
 */

import { requireIntegerAtLeast } from "./validate.ts";

/**
 * A bounded least-recently-used map that creates missing entries on demand. Entries that `keep` says to keep
 * (an open breaker, say) are passed over when one must go, unless every entry would be kept: otherwise a
 * client that names many new keys could push out an open circuit and so close it.
 */
export class KeyedRegistry<V> {
  readonly #entries = new Map<string, V>();
  readonly #capacity: number;
  readonly #create: (key: string) => V;
  readonly #keep: ((value: V) => boolean) | undefined;
  /** The most recently used key, whose entry need not be moved: a client of one origin never reorders. */
  #lastKey: string | undefined;
  #lastValue: V | undefined;

  constructor(capacity: number, create: (key: string) => V, keep?: (value: V) => boolean) {
    this.#capacity = requireIntegerAtLeast("KeyedRegistry", "capacity", capacity, 1);
    this.#create = create;
    this.#keep = keep;
  }

  /** The entry for `key`, created if missing; marks it most recently used. */
  get(key: string): V {
    if (key === this.#lastKey) return this.#lastValue as V;
    const entries = this.#entries;
    let value = entries.get(key);
    if (value === undefined) {
      value = this.#create(key);
      if (entries.size >= this.#capacity) entries.delete(this.#leastRecentToDrop());
    } else {
      entries.delete(key);
    }
    entries.set(key, value);
    this.#lastKey = key;
    this.#lastValue = value;
    return value;
  }

  /** A Map iterates in insertion order, and every use re-inserts: the first key is the least recent. */
  #leastRecentToDrop(): string {
    const entries = this.#entries;
    const first = entries.keys().next().value as string;
    const keep = this.#keep;
    if (keep === undefined) return first;
    for (const [key, value] of entries) if (!keep(value)) return key;
    return first;
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
