/**
 * Which requests may be sent twice. RFC 9110 §9.2.2 defines the idempotent methods; POST and PATCH become
 * safe to repeat only when the server can recognise the repeat (an `Idempotency-Key`, per
 * draft-ietf-httpapi-idempotency-key-header) or the caller vouches for it.
 */

/**
 * RFC 9110's idempotent methods. CONNECT is left out: it opens a tunnel, not a request to repeat.
 *
 * @example
 * ```ts
 * IDEMPOTENT_METHODS.has("PUT"); // true
 * ```
 */
export const IDEMPOTENT_METHODS: ReadonlySet<string> = new Set(["GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"]);

/**
 * `true` when a request with this method and headers may be retried without risking a duplicate effect.
 *
 * @example
 * ```ts
 * isIdempotent("GET"); // true
 * isIdempotent("POST", new Headers({ "Idempotency-Key": crypto.randomUUID() })); // true
 * isIdempotent("POST"); // false
 * ```
 */
export function isIdempotent(method: string, headers?: Headers): boolean {
  return isIdempotentRequest({ method, headers });
}

/**
 * {@link isIdempotent} for a request whose `headers` may be a getter that builds them: they are read only when
 * the method alone does not settle it, so a GET never pays for a `Headers` object.
 */
export function isIdempotentRequest(request: { readonly method: string; readonly headers?: Headers }): boolean {
  if (IDEMPOTENT_METHODS.has(request.method.toUpperCase())) return true;
  return request.headers?.has("idempotency-key") ?? false;
}
