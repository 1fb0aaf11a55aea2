/**
 * The bulkhead policy: a cap on how many operations run at once, with a bounded queue for the rest, so that one
 * slow dependency cannot take every socket, connection or worker the caller has.
 */

import { raceAbort } from "./abort.ts";
import { BulkheadRejectedError } from "./errors.ts";
import { createPolicy, type Operation, type Policy, type PolicyContext } from "./policy.ts";
import { emitterOf } from "./telemetry/emit.ts";
import type { TelemetryOption } from "./telemetry/events.ts";
import { requireIntegerAtLeast, requireKnownKeys, requireOptionsObject } from "./validate.ts";

/**
 * Options of {@link bulkhead}.
 *
 * @example
 * ```ts
 * const options: BulkheadOptions = { limit: 4, queue: 16 };
 * ```
 */
export interface BulkheadOptions {
  /** Operations allowed to run at once (an integer ≥ 1). Required. */
  readonly limit: number;
  /** Calls allowed to wait for a slot (an integer ≥ 0); one more is rejected at once. Default 0. */
  readonly queue?: number;
  /** Listeners of `bulkhead-rejected`, emitted for each call refused with `BulkheadRejectedError`. */
  readonly telemetry?: TelemetryOption;
}

/**
 * A bulkhead: a {@link Policy} that also tells how full it is.
 *
 * @example
 * ```ts
 * const pool = bulkhead({ limit: 2, queue: 10 });
 * console.log(`db: ${pool.running} running, ${pool.queued} queued`);
 * ```
 */
export interface BulkheadPolicy extends Policy {
  /** Operations running now (at most `limit`). */
  readonly running: number;
  /** Calls waiting for a slot now (at most `queue`). */
  readonly queued: number;
}

/** A queued call. Handed a slot, it starts its operation and says `true`, or says `false` if its caller has left. */
type Waiter = () => boolean;

const BULKHEAD_KEYS = /* @__PURE__ */ Object.keys({ limit: true, queue: true, telemetry: true } satisfies Record<
  keyof BulkheadOptions,
  true
>);

/**
 * Runs at most `limit` operations at once. A call that finds every slot taken waits in a first-in, first-out
 * queue of at most `queue` calls; a call that finds the queue full too is rejected at once with a
 * {@link BulkheadRejectedError}, without running.
 *
 * A queued call whose signal aborts leaves the queue at once and rejects with `signal.reason`. A running call
 * whose signal aborts rejects at once too, but its slot stays taken until the operation itself settles: the
 * bulkhead bounds the work in flight, and work that ignores its signal is still in flight.
 *
 * Outside a `retry`, one slot covers the whole retry loop; inside it, each attempt queues for a slot.
 *
 * @example
 * ```ts
 * // At most 4 requests to the search service at a time, 16 more waiting; beyond that, fail fast.
 * const search = bulkhead({ limit: 4, queue: 16 });
 * async function hits(): Promise<unknown> {
 *   try {
 *     return await search.execute(({ signal }) => fetch(searchUrl, { signal }).then((r) => r.json()));
 *   } catch (error) {
 *     if (isBulkheadRejectedError(error)) return []; // shed: no hits now rather than a queue that grows
 *     throw error;
 *   }
 * }
 * ```
 */
export function bulkhead(options: BulkheadOptions, owner = "bulkhead"): BulkheadPolicy {
  const o = requireOptionsObject(owner, options);
  requireKnownKeys(owner, o, BULKHEAD_KEYS);
  const limit = requireIntegerAtLeast(owner, "limit", o.limit, 1);
  const queue = requireIntegerAtLeast(owner, "queue", o.queue ?? 0, 0);
  const emit = emitterOf(owner, o.telemetry);

  let running = 0;
  // A Set keeps arrival order and deletes in O(1), which a call aborting from the middle of the queue needs.
  const waiting = new Set<Waiter>();

  function start<T>(operation: Operation<T>, context: PolicyContext): Promise<T> {
    running++;
    let pending: Promise<T>;
    try {
      pending = Promise.resolve(operation(context));
    } catch (error) {
      pending = Promise.reject(error);
    }
    pending.then(release, release);
    return raceAbort(pending, context.signal);
  }

  function release(): void {
    running--;
    // Handing the slot over synchronously keeps a call that arrives meanwhile from jumping the queue.
    for (const waiter of waiting) {
      waiting.delete(waiter);
      if (waiter()) return;
    }
  }

  function run<T>(operation: Operation<T>, context: PolicyContext): Promise<T> {
    const { signal } = context;
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (running < limit) return start(operation, context);
    if (waiting.size >= queue) {
      emit?.({ type: "bulkhead-rejected", limit, queue });
      return Promise.reject(new BulkheadRejectedError(limit, queue));
    }
    return new Promise<T>((resolve, reject) => {
      const onAbort = (): void => {
        waiting.delete(waiter);
        reject(signal?.reason);
      };
      const waiter: Waiter = () => {
        signal?.removeEventListener("abort", onAbort);
        // When the runtime dispatches an abort, promise reactions may run between its listeners, so a slot can
        // be handed to a call whose signal has aborted before that call's own listener has run.
        if (signal?.aborted) {
          reject(signal.reason);
          return false;
        }
        resolve(start(operation, context));
        return true;
      };
      waiting.add(waiter);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }

  const policy = createPolicy(run);
  return {
    ...policy,
    get running() {
      return running;
    },
    get queued() {
      return waiting.size;
    },
  };
}
