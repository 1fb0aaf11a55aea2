/**
 * What of a client's request the sample Worker passes on to the upstream, and what it keeps from the cache.
 * The client is anonymous and may be hostile: its headers and path are a request to the Worker, not orders
 * the upstream should take as the Worker's own.
 */

/**
 * Headers about the client's connection to the Worker, not the Worker's to the upstream (RFC 9110 §7.6.1).
 * `Upgrade` would turn the upstream request into a WebSocket handshake the Worker cannot relay, and
 * `Proxy-Authorization` is a credential for a proxy, which the upstream has no business seeing.
 */
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-authenticate",
  "proxy-authorization",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
]);

/**
 * Claims only a proxy the upstream trusts may make, which a client could otherwise make through this Worker:
 * where the request came from (an upstream may allow or rate-limit by it, or build links from the host it
 * names, and such an answer would be stored and served to everyone), and which method it "really" is (a GET
 * that the upstream runs as a DELETE would be retried and its answer stored as the GET's).
 */
const CLIENT_CLAIMS = new Set([
  "forwarded",
  "x-real-ip",
  "true-client-ip",
  "x-original-url",
  "x-rewrite-url",
  "x-http-method-override",
  "x-http-method",
  "x-method-override",
]);

/** Header families dropped whole: forwarding claims, and the WebSocket handshake that goes with `Upgrade`. */
const DROPPED_PREFIXES = ["x-forwarded-", "sec-websocket-"];

/**
 * The client's headers as the upstream gets them: without `Host`, the hop-by-hop headers, the claims of
 * {@link CLIENT_CLAIMS} and the families of {@link DROPPED_PREFIXES}. (The headers a client's `Connection`
 * names cannot be dropped too: workerd takes `Connection` off the request before the Worker sees it.)
 */
export function forwardedHeaders(incoming: Headers): Headers {
  const headers = new Headers();
  for (const [name, value] of incoming) {
    if (name === "host" || HOP_BY_HOP.has(name) || CLIENT_CLAIMS.has(name)) continue;
    if (DROPPED_PREFIXES.some((prefix) => name.startsWith(prefix))) continue;
    headers.append(name, value);
  }
  return headers;
}

/**
 * Whether a path would leave the upstream's base path once the upstream decodes it: a segment such as
 * `..%2f..%2fadmin` or `%2e%2e%5c` is `../../admin` to many servers. (The URL parser has already resolved
 * plain and `%2e%2e` segments, so those can no longer climb above `/api`.)
 */
export function climbsOut(pathname: string): boolean {
  return pathname.split("/").some((segment) => decoded(segment).split(/[/\\]/).includes(".."));
}

function decoded(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment; // not valid percent-encoding: the upstream cannot decode it into a `..` either
  }
}

/**
 * Words in a header's name that say it carries a credential of the user's: `X-Api-Key`, `X-Auth-Token`,
 * `X-Session-Id`, `X-Amz-Security-Token`. The Worker passes every header on, so the upstream may answer each
 * user differently by one of them without saying so (`Vary`, `private`).
 */
const CREDENTIAL_WORDS = new Set([
  "apikey",
  "auth",
  "authentication",
  "credential",
  "credentials",
  "jwt",
  "key",
  "password",
  "secret",
  "session",
  "signature",
  "token",
]);

/**
 * Whether a request carries a credential in a header of the upstream's own naming; such a request is treated
 * like one with `Authorization` (never stored, never answered from a copy). A false alarm only costs a copy.
 */
export function carriesCredential(headers: Headers): boolean {
  for (const [name] of headers) {
    if (name.split(/[-_]/).some((word) => CREDENTIAL_WORDS.has(word))) return true;
  }
  return false;
}
