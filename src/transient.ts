/**
 * Pure classification of thrown values: which failures are worth another attempt.
 * Retrying a bug only repeats it, and retrying a caller's abort defies the caller, so the default is narrow.
 */

/**
 * Phrases that runtimes put in the message of the `TypeError` a failed `fetch` rejects with, matched against
 * the lower-cased message. Matching the message is the only portable way: every runtime uses a bare
 * `TypeError`, the same class a programming error throws. One RegExp rather than a list of phrases, as it is
 * the smallest form in a bundle. The alternatives, in order:
 * - Chromium: "failed to fetch"
 * - Firefox: "networkerror when attempting to fetch resource"
 * - Safari: "load failed"; older Safari: "network connection was lost"
 * - Node (undici): "fetch failed"
 * - Deno: "error sending request" (for url …); from hyper: "connection error"
 * - Cloudflare Workers: "network connection lost"; Workers and Deno variants: "connection reset"
 * - undici, when the socket closes mid-body: "terminated"
 */
const NETWORK_ERROR_MESSAGE =
  /failed to fetch|networkerror when attempting to fetch resource|load failed|network connection was lost|fetch failed|error sending request|connection error|network connection lost|connection reset|terminated/;

/**
 * workerd rejects a dropped upstream connection with a plain `Error`, not a `TypeError`; its message is
 * specific enough to trust on any error class.
 */
const NETWORK_ERROR_MESSAGE_ANY_CLASS = /network connection lost/;

/**
 * System error codes of a dropped or refused connection (Node, Bun, undici) — worth another try. Anchored:
 * a code matches only as a whole.
 */
const TRANSIENT_ERROR_CODE =
  /^(?:ECONNRESET|ECONNREFUSED|ECONNABORTED|EPIPE|ETIMEDOUT|EAI_AGAIN|ENETUNREACH|EHOSTUNREACH|UND_ERR_SOCKET|UND_ERR_CONNECT_TIMEOUT|UND_ERR_HEADERS_TIMEOUT|UND_ERR_BODY_TIMEOUT|UND_ERR_CLOSED)$/;

/**
 * The `name` of a thrown value (`"TypeError"`, `"TimeoutError"`…), or `undefined` when it has none: errors are
 * told apart by name, which survives bundles and realms where `instanceof` does not.
 *
 * @example
 * ```ts
 * errorName(new DOMException("late", "TimeoutError")); // "TimeoutError"
 * errorName("a thrown string"); // undefined
 * ```
 */
export function errorName(error: unknown): string | undefined {
  const name = typeof error === "object" && error !== null ? (error as { name?: unknown }).name : undefined;
  return typeof name === "string" && name !== "" ? name : undefined;
}

/**
 * `true` for a `TimeoutError`, as thrown by `AbortSignal.timeout`, `fetch` and staunch's `timeout`.
 *
 * @example
 * ```ts
 * if (isTimeoutError(error)) metrics.count("timeouts", 1, {});
 * ```
 */
export function isTimeoutError(error: unknown): boolean {
  return errorName(error) === "TimeoutError";
}

/**
 * `true` for an `AbortError`: the work was cancelled on purpose, not failed.
 *
 * @example
 * ```ts
 * if (isAbortError(error)) return; // cancelled on purpose: nothing to report
 * ```
 */
export function isAbortError(error: unknown): boolean {
  return errorName(error) === "AbortError";
}

/**
 * `true` when `error` is a failure of the network, recognised by each runtime's `fetch` message or by a
 * connection error code on the error or its `cause` (undici wraps the socket error in `cause`).
 *
 * @example
 * ```ts
 * isNetworkError(new TypeError("Failed to fetch")); // true (Chromium)
 * isNetworkError(new TypeError("x is not a function")); // false: a bug
 * ```
 */
export function isNetworkError(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; depth < 4 && typeof current === "object" && current !== null; depth++) {
    const { code } = current as { code?: unknown };
    if (typeof code === "string" && TRANSIENT_ERROR_CODE.test(code)) return true;
    if (current instanceof Error) {
      const known = current instanceof TypeError ? NETWORK_ERROR_MESSAGE : NETWORK_ERROR_MESSAGE_ANY_CLASS;
      if (known.test(current.message.toLowerCase())) return true;
    }
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

/**
 * The default retry predicate: network failures and timeouts are transient; everything else — programming
 * errors, aborts, application errors — is not.
 *
 * @example
 * ```ts
 * retry({ shouldRetry: (error) => isTransientError(error) || error instanceof MyFlakyError });
 * ```
 */
export function isTransientError(error: unknown): boolean {
  return isTimeoutError(error) || isNetworkError(error);
}
