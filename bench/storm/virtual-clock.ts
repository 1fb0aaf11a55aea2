/**
 * A discrete-event clock for simulations: timers wait in a min-heap ordered by due time (ties fire in the order
 * they were set), and time jumps from one timer to the next. No real timer ever stands for simulated time; the
 * only real wait is one macrotask turn after each timer, so that the promise chains it started can settle.
 */

import { type CancelTimer, type Environment, sleepOn } from "../../src/environment.ts";

interface Timer {
  readonly dueMs: number;
  /** Order of scheduling: breaks ties between timers due at the same moment, so a run is reproducible. */
  readonly sequence: number;
  /** Cleared when the timer fires or is cancelled; a cleared timer left in the heap is skipped. */
  callback: (() => void) | undefined;
}

/**
 * Lets every pending promise reaction run: Node drains the whole microtask queue, reactions queued by
 * reactions included, before it runs an immediate.
 */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** `true` when `a` fires before `b`. */
const firesBefore = (a: Timer, b: Timer): boolean =>
  a.dueMs < b.dueMs || (a.dueMs === b.dueMs && a.sequence < b.sequence);

/**
 * Virtual time for staunch's injected environment.
 *
 * @example
 * ```ts
 * const clock = new VirtualClock(0);
 * const policy = retry({ env: clock.environment(seededRandom(1)) });
 * const call = policy.execute(operation);
 * await clock.runUntilIdle(60_000);
 * ```
 */
export class VirtualClock {
  #nowMs: number;
  readonly #heap: Timer[] = [];
  #sequence = 0;
  #pending = 0;
  #fired = 0;
  #cancelled = 0;

  constructor(startMs: number) {
    this.#nowMs = startMs;
  }

  readonly now = (): number => this.#nowMs;

  /** Runs `callback` once, `ms` after the current virtual time; returns a function that cancels it. */
  readonly schedule = (callback: () => void, ms: number): CancelTimer => {
    if (Number.isNaN(ms) || ms === Number.POSITIVE_INFINITY) {
      throw new RangeError(`VirtualClock: a timer needs a finite delay, got ${ms}`);
    }
    const timer: Timer = { dueMs: this.#nowMs + Math.max(0, ms), sequence: this.#sequence++, callback };
    this.#push(timer);
    this.#pending++;
    return () => {
      if (timer.callback === undefined) return;
      timer.callback = undefined;
      this.#pending--;
      this.#cancelled++;
    };
  };

  /** The environment staunch's policies take: this clock, a sleep built on its timers, and `random`. */
  environment(random: () => number): Environment {
    return { now: this.now, schedule: this.schedule, sleep: sleepOn(this.schedule), random };
  }

  /** Timers neither fired nor cancelled. */
  get pendingTimers(): number {
    return this.#pending;
  }

  /** Timers fired and cancelled so far. */
  get counts(): { readonly fired: number; readonly cancelled: number } {
    return { fired: this.#fired, cancelled: this.#cancelled };
  }

  /**
   * Fires timers in order, letting promises settle after each, until none is left. Throws if a timer falls due
   * after `horizonMs`: something keeps scheduling work, and the run would never end.
   */
  async runUntilIdle(horizonMs: number): Promise<void> {
    await settle();
    for (let timer = this.#pop(); timer !== undefined; timer = this.#pop()) {
      const callback = timer.callback;
      if (callback === undefined) continue;
      if (timer.dueMs > horizonMs) {
        throw new Error(`VirtualClock: a timer is due at ${timer.dueMs} ms, past the horizon of ${horizonMs} ms`);
      }
      timer.callback = undefined;
      this.#pending--;
      this.#fired++;
      this.#nowMs = timer.dueMs;
      callback();
      await settle();
    }
  }

  #push(timer: Timer): void {
    const heap = this.#heap;
    let index = heap.push(timer) - 1;
    while (index > 0) {
      const parent = (index - 1) >> 1;
      if (!firesBefore(timer, heap[parent] as Timer)) break;
      heap[index] = heap[parent] as Timer;
      index = parent;
    }
    heap[index] = timer;
  }

  #pop(): Timer | undefined {
    const heap = this.#heap;
    const first = heap[0];
    const last = heap.pop();
    if (first === undefined || last === undefined || heap.length === 0) return first;
    let index = 0;
    for (;;) {
      const left = 2 * index + 1;
      if (left >= heap.length) break;
      const right = left + 1;
      const child = right < heap.length && firesBefore(heap[right] as Timer, heap[left] as Timer) ? right : left;
      if (!firesBefore(heap[child] as Timer, last)) break;
      heap[index] = heap[child] as Timer;
      index = child;
    }
    heap[index] = last;
    return first;
  }
}

export { seededRandom } from "../../test/support/fake-clock.ts";
