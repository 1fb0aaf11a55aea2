/**
 * The one place where policies meet time and chance. Every policy takes an optional `env`, so tests drive a
 * fake clock and a seeded random source and never wait for real.
 */

import { optionError } from "./validate.ts";

/** Cancels a timer scheduled with {@link Environment.schedule}; calling it twice is harmless. */
export type CancelTimer = () => void;

/**
 * Time, sleep and randomness as seen by policies.
 *
 * @example
 * ```ts
 * // A test that never waits: sleeping only moves a counter forward.
 * let nowMs = 0;
 * const env = { now: () => nowMs, sleep: async (ms: number) => { nowMs += ms; } };
 * const policy = retry({ attempts: 5, env });
 * ```
 */
export interface Environment {
  /** Wall-clock milliseconds since the epoch. Also used to read HTTP dates such as `Retry-After`. */
  now(): number;
  /** Resolves after `ms`; rejects with `signal.reason` as soon as `signal` aborts, leaving no timer behind. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  /** A number in [0, 1). The default draws from Web Crypto (`crypto.getRandomValues`). */
  random(): number;
  /** Runs `callback` once after `ms`; returns a function that cancels it. Drives timeouts. */
  schedule(callback: () => void, ms: number): CancelTimer;
}

const ENVIRONMENT_KEYS = /* @__PURE__ */ Object.keys({
  now: true,
  sleep: true,
  random: true,
  schedule: true,
} satisfies Record<keyof Environment, true>) as readonly (keyof Environment)[];

/**
 * The largest delay `setTimeout` accepts; larger values overflow to an immediate timer in every runtime.
 *
 * @example
 * ```ts
 * createFetch({ maxRetryAfterMs: Math.min(24 * 3_600_000, MAX_TIMER_DELAY_MS) }); // a day, or the most a timer can wait
 * ```
 */
export const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;

/** Schedules on the real `setTimeout`, in chunks for delays past its 2^31−1 ms ceiling. */
export function scheduleWithSetTimeout(callback: () => void, ms: number): CancelTimer {
  let remaining = ms;
  let handle: ReturnType<typeof setTimeout>;
  const arm = (): void => {
    const chunk = Math.min(remaining, MAX_TIMER_DELAY_MS);
    remaining -= chunk;
    handle = setTimeout(remaining > 0 ? arm : callback, chunk);
  };
  arm();
  return () => clearTimeout(handle);
}

const resolved: Promise<void> = Promise.resolve();

/**
 * Builds `sleep` on top of a scheduler. A zero delay resolves without a timer: Node rounds `setTimeout(f, 0)`
 * up to about 1 ms, which would make "retry at once" cost a millisecond per attempt.
 */
export function sleepOn(schedule: Environment["schedule"]): Environment["sleep"] {
  return (ms, signal) => {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (!(ms > 0)) return resolved;
    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        cancel();
        reject(signal?.reason);
      };
      const cancel = schedule(() => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      }, ms);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  };
}

const RANDOM_BATCH = 256;
let randomPool = new Uint32Array(0);
let randomIndex = 0;

/**
 * A uniform number in [0, 1) from `crypto.getRandomValues`. Values are drawn in batches: one call costs
 * about 3 µs in Node, which would otherwise dominate a fast retry path.
 *
 * @example
 * ```ts
 * retry({ env: { random: cryptoRandom } }); // the default already
 * ```
 */
export function cryptoRandom(): number {
  if (randomIndex >= randomPool.length) {
    randomPool = crypto.getRandomValues(new Uint32Array(RANDOM_BATCH));
    randomIndex = 0;
  }
  return (randomPool[randomIndex++] as number) / 2 ** 32;
}

/**
 * The real world: `Date.now`, `setTimeout` and Web Crypto.
 *
 * @example
 * ```ts
 * const { now, sleep } = defaultEnvironment;
 * await sleep(100); // a real 100 ms
 * ```
 */
export const defaultEnvironment: Environment = Object.freeze({
  now: () => Date.now(),
  sleep: sleepOn(scheduleWithSetTimeout),
  random: cryptoRandom,
  schedule: scheduleWithSetTimeout,
});

/**
 * Fills in what a partial environment leaves out. A custom `schedule` without a custom `sleep` gets a `sleep`
 * built on it, so a fake clock only has to implement timers once. `owner` names the policy in errors.
 *
 * A plain object (`{ now, sleep }`) may hold only the four members: a misspelt `sleeep` would otherwise leave
 * the real sleep in place without a word. A clock object of a class may carry its own state besides them.
 *
 * @example
 * ```ts
 * const env = resolveEnvironment({ random: () => 0.5 }); // real clock and timers, fixed jitter
 * ```
 */
export function resolveEnvironment(env: Partial<Environment> | undefined, owner = "env"): Environment {
  if (env === undefined || env === defaultEnvironment) return defaultEnvironment;
  if (typeof env !== "object" || env === null) {
    throw optionError(TypeError, owner, "env", `an object with ${ENVIRONMENT_KEYS.join("/")}`, env);
  }
  const prototype = Object.getPrototypeOf(env) as object | null;
  if (prototype === null || Object.getPrototypeOf(prototype) === null) {
    for (const key of Object.keys(env)) {
      if (!(ENVIRONMENT_KEYS as readonly string[]).includes(key)) {
        throw new TypeError(`${owner}: unknown option "env.${key}" (known: ${ENVIRONMENT_KEYS.join(", ")})`);
      }
    }
  }
  const environment: Record<keyof Environment, unknown> = { ...defaultEnvironment };
  for (const key of ENVIRONMENT_KEYS) {
    const given = env[key];
    if (given === undefined) continue;
    if (typeof given !== "function") {
      throw optionError(TypeError, owner, `env.${key}`, "a function", given);
    }
    environment[key] = given;
  }
  if (env.sleep === undefined && env.schedule !== undefined) environment.sleep = sleepOn(env.schedule);
  return environment as Environment;
}
