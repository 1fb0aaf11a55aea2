/**
 * Counting over a sliding time window in a fixed ring of buckets: what the failure-rate breaker, the retry
 * budget and adaptive throttling all need, with memory that does not grow with traffic and no timers.
 */

/**
 * Counts of events, and of the marked ones among them, over a sliding time window, kept in a fixed ring of buckets: memory is the
 * same at one request a minute and at a million a second, and old buckets are dropped as time moves on, read
 * from the clock on each call, so no timer is needed. The window slides one bucket at a time and covers the
 * current, partly elapsed bucket plus `buckets − 1` whole ones.
 *
 * For example (internal, so not a checked `@example`):
 * ```ts
 * const window = new SlidingWindowCounter(120_000, 60); // 2 minutes in 2-second buckets
 * window.record(Date.now(), true);
 * window.totals(Date.now()); // { count: 1, marked: 1 }
 * ```
 */
export class SlidingWindowCounter {
  readonly #bucketMs: number;
  /** Counts of each bucket, then marked counts of each bucket: one array, as one costs less than two. */
  readonly #slots: Float64Array;
  readonly #size: number;
  /** The index (time ÷ bucket width) of the newest bucket; older ones fill the ring behind it. */
  #newest = Number.NEGATIVE_INFINITY;
  #countTotal = 0;
  #markedTotal = 0;

  constructor(windowMs: number, buckets: number) {
    this.#bucketMs = windowMs / buckets;
    this.#slots = new Float64Array(2 * buckets);
    this.#size = buckets;
  }

  /**
   * Counts one event at `nowMs` (or `count` of them: a batch reported at once), marked or not (an accept, a
   * failure, a retry: what the user counts).
   */
  record(nowMs: number, marked: boolean, count = 1): void {
    const slot = this.#advance(nowMs);
    const slots = this.#slots;
    slots[slot] = (slots[slot] as number) + count;
    this.#countTotal += count;
    if (marked) {
      const markedSlot = slot + this.#size;
      slots[markedSlot] = (slots[markedSlot] as number) + count;
      this.#markedTotal += count;
    }
  }

  /** Events and marked events in the window that ends at `nowMs`. */
  totals(nowMs: number): { count: number; marked: number } {
    this.#advance(nowMs);
    return { count: this.#countTotal, marked: this.#markedTotal };
  }

  /** How many buckets hold counts in the window that ends at `nowMs`: never more than `buckets`. */
  liveBuckets(nowMs: number): number {
    this.#advance(nowMs);
    let live = 0;
    for (let slot = 0; slot < this.#size; slot++) if ((this.#slots[slot] as number) > 0) live++;
    return live;
  }

  /** The buckets as plain JSON, to carry the counts across processes. */
  snapshot(): { newest: number | null; counts: number[]; marked: number[] } {
    return {
      newest: Number.isFinite(this.#newest) ? this.#newest : null,
      counts: Array.from(this.#slots.subarray(0, this.#size)),
      marked: Array.from(this.#slots.subarray(this.#size)),
    };
  }

  /** Takes back what {@link SlidingWindowCounter.snapshot} produced; ignores data of another shape. */
  restore(snapshot: unknown): void {
    const s = snapshot as { newest?: unknown; counts?: unknown; marked?: unknown } | null;
    const size = this.#size;
    if (!Array.isArray(s?.counts) || !Array.isArray(s.marked) || s.counts.length !== size || s.marked.length !== size) {
      return;
    }
    const valid = (v: unknown): number => (typeof v === "number" && v >= 0 && Number.isFinite(v) ? v : 0);
    const counts = s.counts.map(valid);
    const marked = s.marked.map((v, i) => Math.min(valid(v), counts[i] as number));
    this.#slots.set(counts, 0);
    this.#slots.set(marked, size);
    this.#newest = typeof s.newest === "number" ? s.newest : Number.NEGATIVE_INFINITY;
    this.#countTotal = counts.reduce((a, b) => a + b, 0);
    this.#markedTotal = marked.reduce((a, b) => a + b, 0);
  }

  /** Empties the buckets that fell out of the window and returns the slot of the bucket for `nowMs`. */
  #advance(nowMs: number): number {
    const size = this.#size;
    const slots = this.#slots;
    const index = Math.floor(nowMs / this.#bucketMs);
    // A clock that steps back (an NTP correction) keeps counting into the newest bucket instead of reviving
    // buckets already overwritten; the window catches up once time passes that bucket again.
    if (index > this.#newest) {
      if (index - this.#newest >= size) {
        slots.fill(0);
        this.#countTotal = 0;
        this.#markedTotal = 0;
      } else {
        for (let stale = this.#newest + 1; stale <= index; stale++) {
          const slot = ringSlot(stale, size);
          this.#countTotal -= slots[slot] as number;
          this.#markedTotal -= slots[slot + size] as number;
          slots[slot] = 0;
          slots[slot + size] = 0;
        }
      }
      this.#newest = index;
    }
    return ringSlot(this.#newest, size);
  }
}

/** `index mod size`, non-negative for times before the epoch too. */
function ringSlot(index: number, size: number): number {
  return ((index % size) + size) % size;
}
