/**
 * Observer hooks (`onRetry`, loggers, metrics sinks…) are the user's code running inside staunch's control
 * flow. A bug in one must not change the call it observes — turn a response into a rejection, skip the
 * cancelling of a body, or leave a slot taken — so every hook is called through a guard that reports its
 * error and carries on.
 */

/**
 * The hook, made unable to throw; `undefined` stays `undefined` so callers keep their `?.` fast path. A hook's
 * error goes to `console.error`, not `reportError`: Deno treats a reported error that no listener handles as
 * fatal, and a logging bug should not end the process.
 */
export function guarded<A extends unknown[]>(
  hook: ((...args: A) => unknown) | undefined,
): ((...args: A) => void) | undefined {
  if (hook === undefined) return undefined;
  return (...args) => {
    try {
      hook(...args);
    } catch (error) {
      console.error("staunch: an event hook threw; the call it observed went on unchanged", error);
    }
  };
}
