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
 * await api(url).catch((error) => {
 *   if (isTimeoutError(error)) metrics.count("timeouts", 1, {});
 *   throw error;
 * });
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
 * await api(url, { signal }).catch((error) => {
 *   if (isAbortError(error)) return; // cancelled on purpose: nothing to report
 *   throw error;
 * });
 * ```
 */
export function isAbortError(error: unknown): boolean {
  return errorName(error) === "AbortError";
}

/**
 * Failures that the same request meets again however often it is sent, as each runtime words them (measured
 * on Node 22/undici, Deno 2.9, workerd and Chromium; see the README's table): a redirect loop, a URL or scheme
 * fetch refuses, a blocked port, a reply that is not HTTP, a body that disagrees with its `content-length`, a
 * streamed body that a redirect would have to send again, a TLS peer that does not speak TLS. Matched on the
 * lower-cased message of the error and each `cause`.
 * - Node (undici), in `cause.message`: "redirect count exceeded", "unknown scheme", "bad port"
 * - Deno: "maximum number of redirects", "url scheme '…' not supported", "requests to port … are blocked",
 *   "can not redeliver a streaming request body", "invalid http …" (a reply that is not HTTP), "received corrupt
 *   message" and "invalid peer certificate" (TLS)
 * - workerd: "too many redirects", "fetch api cannot load", "one-time-use body"
 * - every runtime: "invalid url", "failed to parse url"
 */
const PERMANENT_MESSAGE =
  /redirect count exceeded|unknown scheme|^bad port$|maximum number of redirects|url scheme '[^']*' not supported|requests to port \d+ are blocked|can not redeliver a streaming request body|client error \(sendrequest\): invalid http|received corrupt message|invalid peer certificate|too many redirects|fetch api cannot load|one-time-use body|invalid url|failed to parse url/;

/**
 * Codes of the same kind (Node): llhttp's parse errors (`HPE_…`), undici's body/length mismatches and invalid
 * arguments, an invalid URL, and TLS failures that a retry cannot fix (a peer that speaks no TLS, a bad
 * certificate).
 */
const PERMANENT_ERROR_CODE =
  /^(?:HPE_[A-Z_]+|UND_ERR_REQ_CONTENT_LENGTH_MISMATCH|UND_ERR_RES_CONTENT_LENGTH_MISMATCH|UND_ERR_INVALID_ARG|UND_ERR_NOT_SUPPORTED|ERR_INVALID_URL|ERR_SSL_[A-Z0-9_]+|ERR_TLS_CERT_ALTNAME_INVALID|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|CERT_HAS_EXPIRED|UNABLE_TO_VERIFY_LEAF_SIGNATURE)$/;

/**
 * Codes (Node) that only a connection attempt or a name lookup gives, so no byte of the request went out:
 * refused, the name did not resolve (for good: ENOTFOUND, which is not transient; or for now), undici's connect
 * timeout.
 */
const NEVER_SENT_ERROR_CODE = /^(?:ECONNREFUSED|ENOTFOUND|EAI_AGAIN|UND_ERR_CONNECT_TIMEOUT)$/;

/**
 * Codes that mean "never sent" only when the failed system call was the `connect` itself: on a connection
 * already open, Linux reports a host that became unreachable, or a peer that stopped answering, with the same
 * codes after the request may have left.
 */
const CONNECT_ERROR_CODE = /^(?:ENETUNREACH|EHOSTUNREACH|ETIMEDOUT|EADDRNOTAVAIL)$/;

/**
 * Deno (hyper) marks a failure of its connector — TCP connect, DNS, TLS handshake — as "client error
 * (Connect)": the request was never written.
 */
const NEVER_SENT_MESSAGE = /client error \(connect\)/;

/** The error and its causes, at most four deep. */
function* chain(error: unknown): Generator<object> {
  let current: unknown = error;
  for (let depth = 0; depth < 4 && typeof current === "object" && current !== null; depth++) {
    yield current;
    current = (current as { cause?: unknown }).cause;
  }
}

const codeOf = (link: object): string | undefined => {
  const { code } = link as { code?: unknown };
  return typeof code === "string" ? code : undefined;
};

const messageOf = (link: object): string => (link instanceof Error ? link.message.toLowerCase() : "");

/**
 * `true` when `error` is a fetch failure that sending the same request again cannot cure — a redirect loop,
 * an unsupported scheme or invalid URL, a reply that is not HTTP, a body that disagrees with its length — as
 * each runtime reports it. Such a failure is not transient, and it says nothing about the origin's health, so
 * it does not count against the origin's circuit either. Chromium reports all of these as a bare "Failed to
 * fetch", which cannot be told from a network failure: there this is `false`.
 *
 * @example
 * ```ts
 * const error = await fetch("http://example.com/loop").catch((e) => e); // redirects to itself
 * isPermanentFetchError(error); // true in Node, Deno and Workers
 * ```
 */
export function isPermanentFetchError(error: unknown): boolean {
  for (const link of chain(error)) {
    const code = codeOf(link);
    if (code !== undefined && PERMANENT_ERROR_CODE.test(code)) return true;
    if (PERMANENT_MESSAGE.test(messageOf(link))) return true;
  }
  return false;
}

/**
 * `true` when the runtime says for certain that the request never left: the connection was refused or never
 * established, the host name did not resolve, the TLS handshake never completed. The server cannot have seen
 * such a request, so sending it again is safe whatever its method. Only Node (`cause.code`) and Deno ("client
 * error (Connect)") say so; Workers' "Network connection lost." and Chromium's "Failed to fetch" are the same
 * for a refused connection and one dropped mid-request, so there this is `false`.
 *
 * @example
 * ```ts
 * const error = await fetch("http://127.0.0.1:1/", { method: "POST", body: "{}" }).catch((e) => e);
 * isNeverSentError(error); // true in Node and Deno: the port is closed, nothing was sent
 * ```
 */
export function isNeverSentError(error: unknown): boolean {
  for (const link of chain(error)) {
    const code = codeOf(link);
    if (code !== undefined && NEVER_SENT_ERROR_CODE.test(code)) return true;
    if (code !== undefined && CONNECT_ERROR_CODE.test(code) && (link as { syscall?: unknown }).syscall === "connect") {
      return true;
    }
    if (NEVER_SENT_MESSAGE.test(messageOf(link))) return true;
  }
  return false;
}

/**
 * Whether this runtime's fetch errors can say that a request never left: Node's and Deno's connection errors
 * carry a code or a class, while workerd ("Network connection lost") and browsers ("Failed to fetch") say the
 * same for every failure. Where they cannot, keeping a copy of a body for such a retry costs every call for
 * nothing. Node 20 has no `navigator`; workerd with `nodejs_compat` has a `process`, and a `navigator` too.
 */
export function runtimeTellsNeverSent(): boolean {
  const scope = globalThis as { navigator?: { userAgent?: unknown }; process?: { release?: { name?: unknown } } };
  return /^(node|deno)/i.test(String(scope.navigator?.userAgent ?? scope.process?.release?.name));
}

/**
 * `true` when `error` is a failure of the network, recognised by each runtime's `fetch` message or by a
 * connection error code on the error or its `cause` (undici wraps the socket error in `cause`). A failure
 * that {@link isPermanentFetchError} recognises is not one, and neither is undici's "fetch failed" whose
 * `cause` is not a network failure (a bug in a body source, say): undici says "fetch failed" for everything.
 *
 * @example
 * ```ts
 * isNetworkError(new TypeError("Failed to fetch")); // true (Chromium)
 * isNetworkError(new TypeError("x is not a function")); // false: a bug
 * ```
 */
export function isNetworkError(error: unknown): boolean {
  if (isPermanentFetchError(error)) return false;
  let undiciWrapper = false;
  for (const link of chain(error)) {
    const code = codeOf(link);
    if (code !== undefined && TRANSIENT_ERROR_CODE.test(code)) return true;
    if (link instanceof Error) {
      const message = link.message.toLowerCase();
      if (undiciWrapper) return NETWORK_ERROR_MESSAGE.test(message);
      const known = link instanceof TypeError ? NETWORK_ERROR_MESSAGE : NETWORK_ERROR_MESSAGE_ANY_CLASS;
      if (link instanceof TypeError && message === "fetch failed" && link.cause !== undefined) {
        // Judged by its cause alone (Node's socket error, Deno's hyper error).
        undiciWrapper = true;
        continue;
      }
      if (known.test(message)) return true;
    }
  }
  return false;
}

/**
 * The default retry rule for errors: network failures and timeouts are transient; everything else — programming
 * errors, aborts, application errors — is not.
 *
 * @example
 * ```ts
 * retry({ shouldHandle: (o) => !o.ok && (isTransientError(o.error) || o.error instanceof DeadlockError) });
 * ```
 */
export function isTransientError(error: unknown): boolean {
  return isTimeoutError(error) || isNetworkError(error);
}
