/**
 * The one interface every policy implements, and the one way to stack them.
 */

/** What a policy hands the function it runs. */
export interface PolicyContext {
  /**
   * Aborts when the caller aborts or an enclosing policy gives up on this attempt (a timeout, say). Pass it to
   * `fetch` or any other cancellable work. `undefined` when nothing can cancel the call.
   */
  readonly signal: AbortSignal | undefined;
  /** 1 for the first attempt, 2 for the first retry, and so on (1 outside any retry policy). */
  readonly attempt: number;
}

/** The function a policy runs. */
export type Operation<T> = (context: PolicyContext) => T | PromiseLike<T>;

/**
 * A resilience policy: something that runs an operation on the caller's behalf (retrying it, bounding its
 * time, guarding it with a breaker…).
 *
 * @example
 * ```ts
 * const policy = compose(timeout(5_000), retry({ attempts: 4 }));
 * const user = await policy.execute(({ signal }) => fetch("/user/42", { signal }).then((r) => r.json()));
 * ```
 */
export interface Policy {
  /**
   * Runs `operation` under this policy. `signal` cancels the whole call: the running attempt is told through
   * its context and any sleep stops at once; the promise rejects with `signal.reason`.
   */
  execute<T>(operation: Operation<T>, signal?: AbortSignal): Promise<T>;
  /**
   * Decorates a function: the result has the same parameters and runs each call under this policy. The
   * decorated function does not see the policy's signal; use {@link Policy.execute} for cancellable work.
   *
   * @example
   * ```ts
   * const loadUser = retry({ attempts: 3 }).wrap(async (id: string) => db.users.get(id));
   * await loadUser("42");
   * ```
   */
  wrap<A extends unknown[], T>(fn: (...args: A) => T | PromiseLike<T>): (...args: A) => Promise<T>;
  /**
   * The primitive that {@link compose} chains: like `execute`, but receives the enclosing context so the
   * attempt number and signal flow from outer policies to inner ones. Implement this to write a policy.
   */
  run<T>(operation: Operation<T>, context: PolicyContext): Promise<T>;
}

/**
 * Marks a context whose creator rejects its own promise the moment the context's signal aborts (as `timeout`
 * does). A policy running inside it need not race the operation against the signal again.
 */
export const ABORT_RACED: unique symbol = Symbol("staunch.abortRaced");

/**
 * On a context made by a staunch policy: whether its signal can be aborted by something outside staunch (the
 * caller's signal, somewhere above). `false` means only staunch's own deadlines, which are all cleared once
 * the call settles. Policies use it to link signals cheaply (see timeout.ts).
 */
export const EXTERNAL_SIGNAL: unique symbol = Symbol("staunch.externalSignal");

/** Whether a context's signal (already read as `signal`) may be aborted from outside staunch. */
export function hasExternalSignal(context: PolicyContext, signal: AbortSignal | undefined): boolean {
  return (context as { [EXTERNAL_SIGNAL]?: boolean })[EXTERNAL_SIGNAL] ?? signal !== undefined;
}

const UNCANCELLABLE: PolicyContext = Object.freeze({ signal: undefined, attempt: 1 });

const topLevel = (signal: AbortSignal | undefined): PolicyContext =>
  signal === undefined ? UNCANCELLABLE : { signal, attempt: 1 };

/**
 * Makes a full {@link Policy} from its `run` function.
 *
 * @example
 * ```ts
 * // A policy that logs how long each call took.
 * const timed = createPolicy(async (operation, context) => {
 *   const started = Date.now();
 *   try { return await operation(context); } finally { console.log(Date.now() - started, "ms"); }
 * });
 * ```
 */
export function createPolicy(run: <T>(operation: Operation<T>, context: PolicyContext) => Promise<T>): Policy {
  return {
    run,
    execute: (operation, signal) => run(operation, topLevel(signal)),
    wrap:
      (fn) =>
      (...args) =>
        run(() => fn(...args), UNCANCELLABLE),
  };
}

/**
 * Stacks policies like decorators, outermost first: `compose(timeout(30_000), retry())` bounds the whole
 * retry loop at 30 s, while `compose(retry(), timeout(2_000))` bounds each attempt at 2 s.
 *
 * @example
 * ```ts
 * const resilient = compose(fallback(null), timeout(30_000), retry({ attempts: 5 }), timeout(2_000));
 * const data = await resilient.execute(({ signal }) => fetch(url, { signal }).then((r) => r.json()));
 * ```
 */
export function compose(...policies: Policy[]): Policy {
  for (const [index, policy] of policies.entries()) {
    if (typeof policy?.run !== "function") {
      throw new TypeError(`compose: argument ${index} is not a policy (it has no run method)`);
    }
  }
  if (policies.length === 1) return policies[0] as Policy;
  const layer = <T>(index: number, operation: Operation<T>, context: PolicyContext): Promise<T> => {
    const policy = policies[index];
    if (policy === undefined) return Promise.resolve(operation(context));
    return policy.run((inner) => layer(index + 1, operation, inner), context);
  };
  return createPolicy((operation, context) => layer(0, operation, context));
}
