/**
 * Letting go of responses nobody will read.
 */

/**
 * Cancels the body of a `Response` that will not be read, and leaves any other value alone. An unread body
 * holds its connection until it is read or cancelled; Workers allow six at once, so a policy that drops
 * responses without cancelling them (a hedge's loser, a result replaced by a fallback) stalls the next calls.
 * The check is by shape rather than `instanceof`, so responses from another realm or a polyfill count too.
 *
 * @returns `true` when a body was cancelled.
 *
 * @example
 * ```ts
 * const res = await fetch(url);
 * if (res.status === 503) discardBody(res); // the connection goes back to the pool
 * ```
 */
export function discardBody(value: unknown): boolean {
  if (typeof value !== "object" || value === null) return false;
  const { body, bodyUsed } = value as { body?: unknown; bodyUsed?: unknown };
  if (bodyUsed !== false || typeof (body as ReadableStream | null)?.cancel !== "function") return false;
  // A locked stream (someone is already reading it) rejects the cancel; that reader owns the connection now.
  (body as ReadableStream).cancel().catch(() => {});
  return true;
}
