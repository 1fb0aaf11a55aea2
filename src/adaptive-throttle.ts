/**
 * Client-side adaptive throttling, from Google's "Site Reliability Engineering", chapter 21 ("Handling
 * Overload"): a client that sees its backend reject more and more of its requests starts rejecting some of
 * them itself, before they leave, so an overloaded backend spends nothing on requests it would refuse anyway.
 */

import { raceAbort } from "./abort.ts";
import { type Environment, resolveEnvironment } from "./environment.ts";
import { RateLimitedError } from "./errors.ts";
import type { Outcome } from "./outcome.ts";
import { createPolicy, type Operation, type Policy, type PolicyContext } from "./policy.ts";
import { SlidingWindowCounter } from "./sliding-window.ts";
import { emitterOf } from "./telemetry/emit.ts";
import type { TelemetryOption } from "./telemetry/events.ts";
import { isTransientError } from "./transient.ts";
import {
  optionalFunction,
  optionError,
  requireFiniteAtLeast,
  requireIntegerAtLeast,
  requireKnownKeys,
  requireOptionsObject,
} from "./validate.ts";

/**
 * The SRE book's client request rejection probability, `max(0, (requests − k·accepts) / (requests + 1))`: zero
 * while the backend accepts at least one request in `k`, and approaching (never reaching) 1 as accepts vanish.
 * The `+ 1` keeps a client that has sent nothing yet from dividing by zero, and from rejecting its first request.
 *
 * @example
 * ```ts
 * clientRejectionProbability(100, 50, 2); // 0: half accepted is healthy enough for k = 2
 * clientRejectionProbability(100, 10, 2); // 80 / 101 ≈ 0.79
 * ```
 */
export function clientRejectionProbability(requests: number, accepts: number, k: number): number {
  return Math.max(0, (requests - k * accepts) / (requests + 1));
}

/**
 * Options of {@link adaptiveThrottle}.
 *
 * @example
 * ```ts
 * // A gRPC-style backend that signals overload with RESOURCE_EXHAUSTED.
 * const options: AdaptiveThrottleOptions = {
 *   k: 1.5,
 *   shouldHandle: (outcome) =>
 *     !outcome.ok &&
 *     (isTransientError(outcome.error) || (outcome.error as { code?: string }).code === "RESOURCE_EXHAUSTED"),
 * };
 * ```
 */
export interface AdaptiveThrottleOptions<R = unknown> {
  /**
   * How many requests per accept the client may send before it starts rejecting (≥ 1). Default 2, the SRE
   * book's choice: lower rejects sooner and wastes less backend work, higher gives a recovering backend more
   * traffic to prove itself with.
   */
  readonly k?: number;
  /** How far back requests and accepts count, in ms. Default 120,000 (2 minutes), as in the SRE book. */
  readonly windowMs?: number;
  /** How many time buckets the window is kept in; memory is fixed by this number. Default 60. */
  readonly buckets?: number;
  /**
   * Which outcomes say the backend did not take the request on (`true`: a refusal, counted as a request without
   * an accept; `false`: an accept). Default: an error that is transient ({@link isTransientError}: a timeout or a
   * dropped connection, where a 4xx-like application error was an answer), and a `Response` with status 429 or
   * 503 (the backend refusing for load) or 502 or 504 (a gateway that could not get an answer from it).
   */
  readonly shouldHandle?: (outcome: Outcome<R>, context: PolicyContext) => boolean;
  /** Clock and random source. Default: `Date.now` and Web Crypto. */
  readonly env?: Partial<Environment>;
  /** Listeners of `throttle-rejected`, emitted for each call rejected locally. */
  readonly telemetry?: TelemetryOption;
}

/**
 * An adaptive throttle: a policy that also reports what it is doing.
 *
 * @example
 * ```ts
 * const throttle: AdaptiveThrottlePolicy = adaptiveThrottle();
 * setInterval(() => console.log("backend rejection probability", throttle.rejectionProbability()), 10_000);
 * ```
 */
export interface AdaptiveThrottlePolicy extends Policy {
  /** The probability that the next call is rejected locally, in [0, 1): export it as a gauge. */
  rejectionProbability(): number;
  /** Requests and accepts in the current window. */
  counts(): { requests: number; accepts: number };
}

const THROTTLE_KEYS = /* @__PURE__ */ Object.keys({
  k: true,
  windowMs: true,
  buckets: true,
  shouldHandle: true,
  env: true,
  telemetry: true,
} satisfies Record<keyof AdaptiveThrottleOptions<unknown>, true>);

/** Statuses with which a backend, or the gateway in front of it, says it did not take the request on. */
const REFUSED_STATUSES = new Set([429, 502, 503, 504]);

function isRefusal(result: unknown): boolean {
  if (typeof result !== "object" || result === null) return false;
  const { status, headers } = result as { status?: unknown; headers?: unknown };
  // By shape rather than instanceof, so responses from a polyfill or another realm are read too.
  return typeof status === "number" && typeof headers === "object" && REFUSED_STATUSES.has(status);
}

/**
 * Sheds load on the client when the backend is rejecting it. Before each call it rejects locally, with
 * probability `max(0, (requests − k·accepts) / (requests + 1))` over the last `windowMs`, by throwing a
 * {@link RateLimitedError} with `retryAfterMs` 0 (there is no time to wait for: the next call may pass). A
 * local rejection counts as a request but not an accept, so the rejection rate climbs as long as the backend
 * keeps refusing, and falls as soon as it accepts again.
 *
 * A call is counted when its outcome is known, not when it starts: counting calls still in flight as
 * requests without accepts would make a client that starts ten calls at once reject its own healthy traffic.
 * A call the caller aborted is not counted at all: it says nothing about the backend.
 *
 * Put it inside retries (each attempt is a request) and outside per-attempt timeouts (a timeout is not an
 * accept); a `RateLimitedError` is not transient, so a default retry does not retry it.
 *
 * @example
 * ```ts
 * const throttle = adaptiveThrottle({ k: 2 });
 * const policy = compose(timeout(10_000), retry({ attempts: 3 }), throttle, timeout(2_000));
 * const res = await policy.execute(({ signal }) => fetch(url, { signal }));
 * console.log("client rejection probability", throttle.rejectionProbability());
 * ```
 */
export function adaptiveThrottle<R = unknown>(options?: AdaptiveThrottleOptions<R>): AdaptiveThrottlePolicy {
  const o = requireOptionsObject("adaptiveThrottle", options) as AdaptiveThrottleOptions<R>;
  requireKnownKeys("adaptiveThrottle", o, THROTTLE_KEYS);
  const k = requireFiniteAtLeast("adaptiveThrottle", "k", o.k ?? 2, 1);
  const windowMs = requireFiniteAtLeast("adaptiveThrottle", "windowMs", o.windowMs ?? 120_000);
  if (windowMs === 0) throw optionError(RangeError, "adaptiveThrottle", "windowMs", "a finite number > 0", windowMs);
  const buckets = requireIntegerAtLeast("adaptiveThrottle", "buckets", o.buckets ?? 60, 1);
  const handles = optionalFunction<NonNullable<AdaptiveThrottleOptions<R>["shouldHandle"]>>(
    "adaptiveThrottle",
    "shouldHandle",
    o.shouldHandle,
  );
  const env = resolveEnvironment(o.env, "adaptiveThrottle");
  const emit = emitterOf("adaptiveThrottle", o.telemetry);
  const window = new SlidingWindowCounter(windowMs, buckets);

  const rejectionProbability = (): number => {
    const { count: requests, marked: accepts } = window.totals(env.now());
    return clientRejectionProbability(requests, accepts, k);
  };

  async function run<T>(operation: Operation<T>, context: PolicyContext): Promise<T> {
    const { signal } = context;
    if (signal?.aborted) throw signal.reason;
    const probability = rejectionProbability();
    // No draw while healthy: the common path should not pay for randomness it does not use.
    if (probability > 0 && env.random() < probability) {
      window.record(env.now(), false);
      emit?.({ type: "throttle-rejected", probability });
      throw new RateLimitedError(
        `adaptiveThrottle: rejected locally (probability ${probability.toFixed(2)}) while the backend is refusing requests`,
        0,
      );
    }
    let result: T;
    try {
      result = await raceAbort(operation(context), signal);
    } catch (error) {
      if (!signal?.aborted) {
        const refused = handles ? handles({ ok: false, error }, context) : isTransientError(error);
        window.record(env.now(), !refused);
      }
      throw error;
    }
    // Without a predicate, the common case, no outcome is built for a call that succeeded.
    const refused = handles ? handles({ ok: true, result: result as unknown as R }, context) : isRefusal(result);
    window.record(env.now(), !refused);
    return result;
  }

  return Object.assign(createPolicy(run), {
    rejectionProbability,
    counts: () => {
      const { count, marked } = window.totals(env.now());
      return { requests: count, accepts: marked };
    },
  });
}
