/**
 * A fake clock for policies: time moves only when a test says so, timers fire in order, and every sleep is
 * recorded. Nothing here waits for real, except one macrotask turn to let promise chains settle.
 */

import { type CancelTimer, type Environment, sleepOn } from "../../src/environment.ts";

interface Timer {
  readonly at: number;
  readonly order: number;
  readonly callback: () => void;
}

/** Lets every pending promise reaction run (a macrotask turn drains the microtask queue). */
export function settle(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/** A deterministic pseudo-random source (mulberry32), or a constant when `seed` is a value in [0, 1). */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class FakeClock implements Environment {
  nowMs: number;
  /** Every delay passed to `sleep`, in order. */
  readonly sleeps: number[] = [];
  random: () => number;
  #timers: Timer[] = [];
  #order = 0;
  readonly #sleep: Environment["sleep"];

  constructor(options: { startMs?: number; random?: () => number } = {}) {
    this.nowMs = options.startMs ?? 1_700_000_000_000;
    this.random = options.random ?? (() => 0.5);
    this.#sleep = sleepOn(this.schedule);
  }

  now = (): number => this.nowMs;

  schedule = (callback: () => void, ms: number): CancelTimer => {
    const timer = { at: this.nowMs + ms, order: this.#order++, callback };
    this.#timers.push(timer);
    return () => {
      this.#timers = this.#timers.filter((t) => t !== timer);
    };
  };

  sleep = (ms: number, signal?: AbortSignal): Promise<void> => {
    this.sleeps.push(ms);
    return this.#sleep(ms, signal);
  };

  /**
   * An environment for suites that do real I/O: sleeping is instant (it moves this clock and is recorded in
   * `sleeps`), while deadlines run on real timers so a fake jump cannot time out a request in flight.
   */
  instantSleep(): Pick<Environment, "now" | "sleep" | "random"> {
    return {
      now: this.now,
      random: () => this.random(),
      sleep: (ms, signal) => {
        if (signal?.aborted) return Promise.reject(signal.reason);
        this.sleeps.push(ms);
        this.nowMs += ms;
        return Promise.resolve();
      },
    };
  }

  /** Timers not yet fired or cancelled: 0 after a call settles, or something leaked. */
  get pendingTimers(): number {
    return this.#timers.length;
  }

  /** Moves time forward by `ms`, firing due timers in order and letting promises settle after each. */
  async advance(ms: number): Promise<void> {
    const target = this.nowMs + ms;
    await settle();
    for (let next = this.#nextDue(target); next !== undefined; next = this.#nextDue(target)) {
      this.#timers = this.#timers.filter((t) => t !== next);
      this.nowMs = next.at;
      next.callback();
      await settle();
    }
    this.nowMs = target;
  }

  /**
   * Runs timers until `promise` settles, then returns its outcome. While no fake timer is due (real I/O is in
   * flight, say) it yields to the event loop for real, up to `realWaitLimitMs` in all.
   */
  async run<T>(promise: Promise<T>, realWaitLimitMs = 10_000): Promise<T> {
    let done = false;
    promise.then(
      () => (done = true),
      () => (done = true),
    );
    await settle();
    const realDeadline = Date.now() + realWaitLimitMs;
    while (!done && Date.now() < realDeadline) {
      const next = this.#nextDue(Number.POSITIVE_INFINITY);
      if (next === undefined) await new Promise((resolve) => setTimeout(resolve, 1));
      else await this.advance(next.at - this.nowMs);
    }
    return promise;
  }

  #nextDue(limit: number): Timer | undefined {
    let best: Timer | undefined;
    for (const t of this.#timers) {
      if (t.at <= limit && (best === undefined || t.at < best.at || (t.at === best.at && t.order < best.order)))
        best = t;
    }
    return best;
  }
}

/** Records calls: a tiny stand-in for `vi.fn` that also runs under Deno. */
export function recorder<A extends unknown[], R = void>(
  impl?: (...args: A) => R,
): ((...args: A) => R) & { calls: A[] } {
  const calls: A[] = [];
  const fn = (...args: A): R => {
    calls.push(args);
    return impl ? impl(...args) : (undefined as R);
  };
  return Object.assign(fn, { calls });
}
