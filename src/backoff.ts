/**
 * How long to wait before the next attempt: pure functions of the retry number, the previous delay and a
 * random number, with the formulas of the AWS Architecture Blog's "Exponential Backoff and Jitter".
 */

import { requireFiniteAtLeast, requireKnownKeys, requireOneOf, requireOptionsObject } from "./validate.ts";

/**
 * How randomness spreads retries out so that clients that failed together do not retry together.
 * - `"full"`: uniform in [0, ceiling] — fewest total calls under contention (the default).
 * - `"equal"`: ceiling/2 plus uniform in [0, ceiling/2] — never retries almost at once.
 * - `"decorrelated"`: uniform in [initialMs, 3 × previous delay], capped at maxMs.
 * - `"none"`: exactly the ceiling — for tests and for callers that add their own spread.
 */
export type Jitter = "full" | "equal" | "decorrelated" | "none";

export const JITTER_KINDS: readonly Jitter[] = ["full", "equal", "decorrelated", "none"];

/** Exponential backoff: the ceiling for retry n is `min(maxMs, initialMs × multiplier^(n−1))`. */
export interface ExponentialBackoffOptions {
  /** Ceiling of the first delay, in ms. Default 100. */
  readonly initialMs?: number;
  /** No delay exceeds this, in ms. Default 10,000. */
  readonly maxMs?: number;
  /** Growth of the ceiling per retry (≥ 1). Default 2. */
  readonly multiplier?: number;
  /** Default `"full"`. */
  readonly jitter?: Jitter;
}

/** Validated, defaulted exponential backoff settings. */
export interface ExponentialBackoff {
  readonly initialMs: number;
  readonly maxMs: number;
  readonly multiplier: number;
  readonly jitter: Jitter;
}

const BACKOFF_KEYS = /* @__PURE__ */ Object.keys({
  initialMs: true,
  maxMs: true,
  multiplier: true,
  jitter: true,
} satisfies Record<keyof ExponentialBackoffOptions, true>);

/**
 * Checks and defaults backoff options; `owner` names the policy in error messages.
 *
 * @example
 * ```ts
 * const b = exponentialBackoff({ initialMs: 200, maxMs: 5_000, jitter: "equal" });
 * backoffDelay(b, 2, 0, cryptoRandom); // between 200 and 400
 * ```
 */
export function exponentialBackoff(options?: ExponentialBackoffOptions, owner = "backoff"): ExponentialBackoff {
  const o = requireOptionsObject(owner, options);
  requireKnownKeys(owner, o, BACKOFF_KEYS);
  const initialMs = requireFiniteAtLeast(owner, "initialMs", o.initialMs ?? 100);
  const maxMs = requireFiniteAtLeast(owner, "maxMs", o.maxMs ?? Math.max(10_000, initialMs));
  if (maxMs < initialMs) {
    throw new RangeError(`${owner}: option "maxMs" (${maxMs}) must be ≥ option "initialMs" (${initialMs})`);
  }
  const multiplier = requireFiniteAtLeast(owner, "multiplier", o.multiplier ?? 2, 1);
  const jitter = requireOneOf(owner, "jitter", o.jitter ?? "full", JITTER_KINDS);
  return { initialMs, maxMs, multiplier, jitter };
}

/**
 * The delay before retry number `retry` (1 = before the second attempt).
 *
 * @param previousDelayMs the delay chosen before the previous retry (used by decorrelated jitter only)
 * @param random a number in [0, 1)
 *
 * @example
 * ```ts
 * const b = exponentialBackoff({ initialMs: 100, jitter: "none" });
 * backoffDelay(b, 3, 0, Math.random); // 400
 * ```
 */
export function backoffDelay(
  b: ExponentialBackoff,
  retry: number,
  previousDelayMs: number,
  random: () => number,
): number {
  if (b.jitter === "decorrelated") {
    const upper = Math.max(b.initialMs, (previousDelayMs || b.initialMs) * 3);
    return Math.min(b.maxMs, b.initialMs + random() * (upper - b.initialMs));
  }
  // The exponent is bounded so that huge retry counts give maxMs, not Infinity × 0 = NaN.
  const ceiling = Math.min(b.maxMs, b.initialMs * b.multiplier ** Math.min(retry - 1, 1023));
  switch (b.jitter) {
    case "none":
      return ceiling;
    case "equal":
      return ceiling / 2 + random() * (ceiling / 2);
    default:
      return random() * ceiling;
  }
}
