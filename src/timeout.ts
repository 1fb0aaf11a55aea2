/**
 * The timeout policy: a deadline for an operation, enforced even when the operation ignores its signal.
 */

import { type Environment, resolveEnvironment } from "./environment.ts";
import type { Policy } from "./policy.ts";
import {
  ABORT_RACED,
  createPolicy,
  EXTERNAL_SIGNAL,
  hasExternalSignal,
  type Operation,
  type PolicyContext,
} from "./policy.ts";
import { emitterOf } from "./telemetry/emit.ts";
import type { TelemetryOption } from "./telemetry/events.ts";
import { optionError, requireFiniteAtLeast, requireKnownKeys, requireOptionsObject } from "./validate.ts";

/** Options of {@link timeout}. */
export interface TimeoutOptions {
  /** Clock for the deadline. Default: `setTimeout`. */
  readonly env?: Partial<Environment>;
  /** Listeners of `timeout`, emitted when the deadline fires, before the call rejects. */
  readonly telemetry?: TelemetryOption;
}

/**
 * The reason a deadline aborts with: a `DOMException` named `TimeoutError`, as `AbortSignal.timeout` uses.
 *
 * @example
 * ```ts
 * const controller = new AbortController();
 * controller.abort(timeoutReason(5_000)); // the same TimeoutError staunch's deadlines use
 * ```
 */
export function timeoutReason(ms: number): DOMException {
  return new DOMException(`The operation timed out after ${ms} ms`, "TimeoutError");
}

/**
 * The context a timed operation sees. Its signal is built on first read: most operations never read it, and
 * a linked signal costs more than the rest of a timed call.
 *
 * While the call runs, `timeout` forwards the enclosing signal's abort to this context itself (it listens
 * anyway, to reject at once). After the call settles that listener is gone; the signal must still follow the
 * caller's (a response body is read after the call returns, and the caller may cancel it), so when a
 * caller's signal is somewhere above — `EXTERNAL_SIGNAL` — the signal is linked with `AbortSignal.any`, whose
 * link lasts as long as the signal is in use. When only staunch's own deadlines are above, the signal is not
 * linked: an enclosing deadline that ends after this call has settled (work the enclosing call goes on with)
 * does not abort it. Linking it would cost an entry per nested call for as long as the enclosing call runs.
 */
class DeadlineContext implements PolicyContext {
  readonly attempt: number;
  readonly #external: boolean;
  /** The enclosing signal, or (when the enclosing context is another deadline's) a way to read it on demand. */
  readonly #outer: AbortSignal | DeadlineContext | undefined;
  #controller: AbortController | undefined;
  #signal: AbortSignal | undefined;
  #ended: unknown;
  /** Nested deadlines told when this one ends, without an `AbortSignal` built for them. */
  #children: Array<() => void> | undefined;
  /** Whether its `timeout` still forwards the enclosing abort to it (until that call settles). */
  #forwarding = true;

  constructor(outer: PolicyContext, outerSignal: AbortSignal | DeadlineContext | undefined) {
    this.attempt = outer.attempt;
    this.#outer = outerSignal;
    this.#external =
      outerSignal instanceof DeadlineContext ? outerSignal[EXTERNAL_SIGNAL] : hasExternalSignal(outer, outerSignal);
  }

  // Markers as prototype getters, not own fields: a policy that copies the context with a signal of its own
  // (`{ ...context, signal }`) must not carry claims about a signal it replaced.
  get [ABORT_RACED](): boolean {
    return true;
  }

  get [EXTERNAL_SIGNAL](): boolean {
    return this.#external;
  }

  get signal(): AbortSignal {
    if (this.#signal === undefined) {
      this.#controller = new AbortController();
      if (this.#ended !== undefined) this.#controller.abort(this.#ended);
      // Only a caller's signal somewhere above needs a lasting link; staunch's own deadlines are forwarded.
      const outer = !this.#external
        ? undefined
        : this.#outer instanceof DeadlineContext
          ? this.#outer.signal
          : this.#outer;
      this.#signal = outer ? AbortSignal.any([outer, this.#controller.signal]) : this.#controller.signal;
    }
    return this.#signal;
  }

  /**
   * What a nested deadline should listen to: this context while its call runs, and after that (work the
   * operation left running) the linked signal, which alone still follows a caller's abort.
   */
  static listenable(context: PolicyContext): AbortSignal | DeadlineContext | undefined {
    return context instanceof DeadlineContext && context.#forwarding ? context : context.signal;
  }

  /** Its call has settled: the enclosing abort is no longer forwarded. */
  detach(): void {
    this.#forwarding = false;
  }

  /** Whether it has ended, and with what, as on a signal; read without building the signal. */
  get aborted(): boolean {
    return this.#ended !== undefined;
  }

  get reason(): unknown {
    return this.#ended;
  }

  /** Listens for the end as on a signal, for a nested deadline (only "abort" exists). */
  addEventListener(_type: "abort", onEnd: () => void): void {
    this.#children ??= [];
    this.#children.push(onEnd);
  }

  removeEventListener(_type: "abort", onEnd: () => void): void {
    const children = this.#children;
    const index = children ? children.indexOf(onEnd) : -1;
    if (index >= 0) children?.splice(index, 1);
  }

  /** Aborts the signal (now, or when it is first read) with the deadline's or the enclosing abort's reason. */
  end(reason: unknown): void {
    if (this.#ended !== undefined) return;
    this.#ended = reason;
    this.#controller?.abort(reason);
    const children = this.#children;
    if (children !== undefined) for (const onEnd of children.splice(0)) onEnd();
  }
}

const TIMEOUT_KEYS = /* @__PURE__ */ Object.keys({ env: true, telemetry: true } satisfies Record<
  keyof TimeoutOptions,
  true
>);

/**
 * Bounds an operation to `ms` milliseconds. The operation's signal combines the caller's signal with the
 * deadline; at the deadline the call rejects with a `TimeoutError` (a `DOMException`, like
 * `AbortSignal.timeout`'s), whether or not the operation heeds the signal. The deadline's timer is cleared as
 * soon as the call settles — unlike `AbortSignal.timeout`, whose timer runs its full course.
 *
 * Inside {@link retry}, a timed-out attempt is transient and retried; outside it, the deadline covers the
 * whole retry loop and a timeout ends it.
 *
 * @example
 * ```ts
 * const perAttempt = compose(retry({ attempts: 3 }), timeout(2_000));
 * const res = await perAttempt.execute(({ signal }) => fetch(url, { signal }));
 * ```
 */
export function timeout(ms: number, options?: TimeoutOptions): Policy {
  const deadlineMs = requireFiniteAtLeast("timeout", "ms", ms);
  if (deadlineMs === 0) throw optionError(RangeError, "timeout", "ms", "a finite number > 0", ms);
  const o = requireOptionsObject("timeout", options);
  requireKnownKeys("timeout", o, TIMEOUT_KEYS);
  const env = resolveEnvironment(o.env as TimeoutOptions["env"], "timeout");
  const emit = emitterOf("timeout", o.telemetry);

  function run<T>(operation: Operation<T>, context: PolicyContext): Promise<T> {
    // Inside another deadline, listen to it directly: reading its signal would build one only to listen to it.
    const outer = DeadlineContext.listenable(context);
    if (outer?.aborted) return Promise.reject(outer.reason);
    const timed = new DeadlineContext(context, outer);
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const onAbort = (): void => {
        timed.end(outer?.reason);
        settle(reject, outer?.reason);
      };
      const cancelTimer = env.schedule(() => {
        emit?.({ type: "timeout", timeoutMs: deadlineMs });
        const reason = timeoutReason(deadlineMs);
        timed.end(reason);
        settle(reject, reason);
      }, deadlineMs);
      outer?.addEventListener("abort", onAbort);
      function settle<V>(done: (value: V) => void, value: V): void {
        if (settled) return;
        settled = true;
        timed.detach();
        cancelTimer();
        outer?.removeEventListener("abort", onAbort);
        done(value);
      }
      try {
        Promise.resolve(operation(timed)).then(
          (value) => settle(resolve, value),
          (error: unknown) => settle(reject, error),
        );
      } catch (error) {
        settle(reject, error);
      }
    });
  }

  return createPolicy(run);
}
