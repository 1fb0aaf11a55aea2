/**
 * The hedge policy: when an answer is late, ask again without cancelling the first question, and take
 * whichever answer comes first ("The Tail at Scale", Dean and Barroso). It trades a little extra load for a
 * shorter tail of slow calls.
 */

import { type CancelTimer, type Environment, resolveEnvironment } from "./environment.ts";
import { discardBody } from "./http/discard-body.ts";
import { createPolicy, type Operation, type Policy, type PolicyContext } from "./policy.ts";
import { emitterOf } from "./telemetry/emit.ts";
import type { TelemetryOption } from "./telemetry/events.ts";
import { requireFiniteAtLeast, requireIntegerAtLeast, requireKnownKeys, requireOptionsObject } from "./validate.ts";

/**
 * The `hedge` event, as each extra attempt starts.
 *
 * @example
 * ```ts
 * hedge({ delayMs: 120, telemetry: on("hedge", ({ trigger }) => console.info(`hedging after ${trigger}`)) });
 * ```
 */
export interface HedgeEvent {
  readonly type: "hedge";
  /** The attempt that is starting: 2 for the first hedge. */
  readonly attempt: number;
  /** Milliseconds since the first attempt started. */
  readonly elapsedMs: number;
  /** `"delay"`: the attempts before it took longer than `delayMs`; `"failure"`: the latest attempt failed. */
  readonly trigger: "delay" | "failure";
}

/**
 * Options of {@link hedge}.
 *
 * @example
 * ```ts
 * const options: HedgeOptions = { delayMs: 120, maxHedges: 2 };
 * ```
 */
export interface HedgeOptions {
  /**
   * How long to wait for an answer before starting the next attempt, in ms. A good value is the operation's
   * 95th-percentile latency: only the slowest 5% of calls then cost a second request.
   */
  readonly delayMs: number;
  /** At most this many attempts on top of the first. Default 1; 0 turns hedging off. */
  readonly maxHedges?: number;
  /** Listeners of `hedge`, as each hedge starts: count them, since every hedge is extra load on the backend. */
  readonly telemetry?: TelemetryOption;
  /** Clock for the delays. Default: `Date.now` and `setTimeout`. */
  readonly env?: Partial<Environment>;
}

const HEDGE_KEYS = /* @__PURE__ */ Object.keys({
  delayMs: true,
  maxHedges: true,
  telemetry: true,
  env: true,
} satisfies Record<keyof HedgeOptions, true>);

/** The reason a losing attempt's signal aborts with. */
function lostReason(): DOMException {
  return new DOMException("hedge: another attempt answered first", "AbortError");
}

/**
 * Runs the operation; if it has not settled after `delayMs`, starts it again alongside, up to `maxHedges`
 * extra attempts, and resolves with the first success. **Only for idempotent work** (a GET, a read): every
 * attempt may reach the backend, so a hedged payment is a double payment.
 *
 * - Each attempt gets its own signal, combined with the caller's, and its number in `context.attempt` (1 for
 *   the first, 2 for the first hedge… — inside a retry these number the hedges, not the retries).
 * - Once one attempt succeeds, the others are aborted; a loser that still resolves with a `Response` has its
 *   body cancelled, so no connection stays open.
 * - A failed attempt does not end the call while others are in flight, and it starts the next hedge at once
 *   rather than after `delayMs`: a fast failure is no reason to wait.
 * - When every attempt has failed, the call rejects with the error of the last attempt to fail, as
 *   {@link retry} rethrows the last error.
 * - The caller's abort rejects at once with `signal.reason` and aborts every attempt. No timer outlives the call.
 *
 * Put a timeout around it to bound the whole call, or inside it to bound each attempt.
 *
 * @example
 * ```ts
 * // p95 latency of the search backend is 120 ms: past that, ask a second replica.
 * const search = compose(timeout(2_000), hedge({ delayMs: 120 }));
 * const res = await search.execute(({ signal }) => fetch("/search?q=shoes", { signal }));
 * ```
 */
export function hedge(options: HedgeOptions): Policy {
  const o = requireOptionsObject("hedge", options) as Partial<HedgeOptions>;
  requireKnownKeys("hedge", o, HEDGE_KEYS);
  const delayMs = requireFiniteAtLeast("hedge", "delayMs", o.delayMs);
  const maxHedges = requireIntegerAtLeast("hedge", "maxHedges", o.maxHedges ?? 1, 0);
  const emit = emitterOf("hedge", o.telemetry);
  const env = resolveEnvironment(o.env, "hedge");

  function run<T>(operation: Operation<T>, context: PolicyContext): Promise<T> {
    const outer = context.signal;
    if (outer?.aborted) return Promise.reject(outer.reason);
    return new Promise<T>((resolve, reject) => {
      const startedMs = env.now();
      const controllers: AbortController[] = [];
      let winner: AbortController | undefined;
      let settled = false;
      let inFlight = 0;
      let cancelTimer: CancelTimer | undefined;
      const onAbort = (): void => finish(() => reject(outer?.reason));
      outer?.addEventListener("abort", onAbort, { once: true });

      function finish(done: () => void): void {
        if (settled) return;
        settled = true;
        cancelTimer?.();
        outer?.removeEventListener("abort", onAbort);
        for (const controller of controllers) {
          // The winner keeps its signal: aborting it would cut off the body the caller is about to read.
          if (controller !== winner) controller.abort(lostReason());
        }
        done();
      }

      function launch(trigger: HedgeEvent["trigger"] | undefined): void {
        const attempt = controllers.length + 1;
        const controller = new AbortController();
        controllers.push(controller);
        cancelTimer?.();
        cancelTimer =
          attempt <= maxHedges
            ? env.schedule(() => {
                cancelTimer = undefined;
                launch("delay");
              }, delayMs)
            : undefined;
        if (trigger !== undefined) {
          try {
            emit?.({ type: "hedge", attempt, elapsedMs: Math.round(env.now() - startedMs), trigger });
          } catch (hookError) {
            // Thrown from a timer callback it would escape as an uncaught exception; the caller should see it.
            finish(() => reject(hookError));
            return;
          }
        }
        const signal = outer ? AbortSignal.any([outer, controller.signal]) : controller.signal;
        inFlight++;
        let pending: Promise<T>;
        try {
          pending = Promise.resolve(operation({ signal, attempt }));
        } catch (error) {
          pending = Promise.reject(error);
        }
        pending.then(
          (value) => {
            inFlight--;
            if (settled) {
              discardBody(value);
              return;
            }
            winner = controller;
            finish(() => resolve(value));
          },
          (error: unknown) => {
            inFlight--;
            if (settled) return;
            if (controllers.length <= maxHedges) launch("failure");
            else if (inFlight === 0) finish(() => reject(error));
          },
        );
      }

      launch(undefined);
    });
  }

  return createPolicy(run);
}
