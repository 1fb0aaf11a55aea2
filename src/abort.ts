/**
 * Making a pending promise give way to an abort, without leaving listeners behind.
 */

/**
 * Settles like `promise`, or rejects with `signal.reason` as soon as `signal` aborts — even when the work
 * behind `promise` ignores the signal. The abort listener is removed when either side settles.
 *
 * @example
 * ```ts
 * const body = await raceAbort(callService(), request.signal); // rejects at once on abort, though callService ignores signals
 * ```
 */
export function raceAbort<T>(promise: T | PromiseLike<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return Promise.resolve(promise);
  if (signal.aborted) return Promise.reject(signal.reason);
  if (!isThenable(promise)) return Promise.resolve(promise);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(error);
      },
    );
  });
}

function isThenable<T>(value: T | PromiseLike<T>): value is PromiseLike<T> {
  return typeof (value as PromiseLike<T> | null)?.then === "function";
}
