/**
 * Stale-if-error at the edge (RFC 5861): successful responses are kept in a `Cache`, and when the origin
 * fails — an error, a timeout, an open circuit, a 5xx after the last attempt — a kept copy is served instead,
 * marked, within a maximum staleness. The Workers Cache API itself ignores `stale-if-error`, and expires an
 * entry at its `max-age`; this module stores each copy for its fresh life plus its stale-if-error window, and
 * remembers when it stored it, so it can serve it stale and say how old it is.
 *
 * Works with any `Cache`: `caches.default` or `caches.open()` in Workers, and `caches.open()` in browsers
 * and Deno.
 */

import { type Environment, resolveEnvironment } from "../environment.ts";
import { discardBody } from "../http/discard-body.ts";
import { redactUrl } from "../http/redact.ts";
import { concat } from "../http/replayable-body.ts";
import { type FallbackReason, fallbackReason, type Outcome } from "../outcome.ts";
import { emitterOf } from "../telemetry/emit.ts";
import type { TelemetryOption } from "../telemetry/events.ts";
import {
  optionalFunction,
  optionError,
  requireFiniteAtLeast,
  requireIntegerAtLeast,
  requireKnownKeys,
  requireOptionsObject,
} from "../validate.ts";
import { parseCacheControl, secondsOf } from "./cache-control.ts";

/** The part of the Cache API this module uses (`caches.default`, `await caches.open(name)`). */
export interface CacheLike {
  /** The stored response for a key, if any. */
  match(request: Request | string): Promise<Response | undefined>;
  /** Stores a response under a key. */
  put(request: Request | string, response: Response): Promise<void>;
}

/** The `stale-served` event: a stored copy answers for a failed origin. */
export interface StaleServedEvent {
  readonly type: "stale-served";
  /** The request's URL, redacted as createFetch's events show URLs by default: no credentials, query or fragment. */
  readonly url: string;
  /** Why: `"result"` for a response `shouldHandle` picked (a 5xx), else what the origin threw. */
  readonly reason: FallbackReason;
  /** The origin's status when `reason` is `"result"`. */
  readonly status: number | undefined;
  readonly error: unknown;
  readonly ageSeconds: number;
}

/** Options of {@link cachedFallback}. */
export interface CachedFallbackOptions {
  /** Where copies are kept: `caches.default`, or `await caches.open("name")`. */
  readonly cache: CacheLike;
  /**
   * How stale a copy may be served, in ms, when its `Cache-Control` has no `stale-if-error`. Default
   * 86,400,000 (a day). `stale-if-error` in the response wins when present.
   */
  readonly maxStaleMs?: number;
  /**
   * The cache key of a request; return `undefined` to skip the cache for it. Default: its full URL, query
   * included. Two requests with one key get each other's copies, so a key may leave out only what never
   * changes the answer (a tracking parameter, say). Keys are URLs to the Cache API, which ignores fragments:
   * put what distinguishes entries in the path or query.
   */
  readonly cacheKey?: (request: Request) => string | undefined;
  /**
   * Requests carrying `Authorization`, `Proxy-Authorization` or `Cookie` are neither stored nor served (one
   * user's copy must not reach another), whatever `cacheKey` returns. A credential in a header of your own
   * naming (`X-Api-Key`) is yours to name: return `undefined` from `cacheKey` for a request that has it. Set `true` only with a `cacheKey` that tells users apart (it
   * includes the user the credentials name): such requests are then stored and served under that key.
   * Default `false`.
   */
  readonly perUserKey?: boolean;
  /**
   * The largest body stored, in bytes: a copy is kept only once its whole body has arrived, so it is held in
   * memory until then. A larger body is passed on, not stored. Default 1,048,576 (1 MiB).
   */
  readonly maxStoredBodyBytes?: number;
  /**
   * Which outcomes of the origin a stored copy answers for. Default: every error, and a response with a status
   * from 500 to 599. A client that left (its request's signal aborted) is never answered, whatever this says.
   *
   * @example
   * ```ts
   * // A 404 from a half-deployed origin gets the last good copy too; an open circuit does not.
   * cachedFallback(upstream, {
   *   cache: await caches.open("fallback"),
   *   shouldHandle: (outcome) =>
   *     outcome.ok ? outcome.result.status >= 500 || outcome.result.status === 404 : !isCircuitOpenError(outcome.error),
   * });
   * ```
   */
  readonly shouldHandle?: (outcome: Outcome<Response>, context: { readonly request: Request }) => boolean;
  /** Keeps the Worker alive for the background `cache.put` (`ctx.waitUntil`). Default: the put is awaited. */
  readonly waitUntil?: (promise: Promise<unknown>) => void;
  /** Listeners of `stale-served`, emitted each time a stored copy answers for a failed origin. */
  readonly telemetry?: TelemetryOption;
  readonly env?: Partial<Environment>;
}

/**
 * Response headers this module sets; clients can tell a stale answer by `staunch-fallback`.
 *
 * @example
 * ```ts
 * const fetchWithFallback = cachedFallback(createFetch(), { cache: await caches.open("fallback") });
 * const res = await fetchWithFallback(request);
 * if (res.headers.get(FALLBACK_HEADER) === "stale") console.warn(`stale answer, ${res.headers.get("age")} s old`);
 * ```
 */
export const FALLBACK_HEADER = "staunch-fallback";
const STORED_AT = "staunch-stored-at";
const STALE_LIMIT = "staunch-stale-limit";

/** The request headers that carry a user's credentials, by the standards (RFC 9110 §11.6.2, §11.7.2; RFC 6265). */
const CREDENTIAL_HEADERS = ["authorization", "proxy-authorization", "cookie"];

/**
 * Directives that forbid answering from a stored copy the origin has not just confirmed (RFC 9111 §5.2.2):
 * `must-revalidate` and `proxy-revalidate` even when the origin is unreachable, `no-cache` always.
 */
const NOT_SERVABLE_STALE = ["private", "no-store", "no-cache", "must-revalidate", "proxy-revalidate"];

/**
 * A response we may store and later serve stale: status 200, no per-user marks, no directive against stale
 * use, and no `Vary` beyond `Accept-Encoding` — a key of the URL alone cannot tell apart the variants a
 * `Vary: Authorization` or `Vary: X-Tenant` response says exist, so one user's copy could reach another.
 */
function isStorable(response: Response): boolean {
  if (response.status !== 200) return false;
  if (response.headers.has("set-cookie")) return false;
  const vary = response.headers.get("vary");
  if (vary?.split(",").some((name) => name.trim().toLowerCase() !== "accept-encoding")) return false;
  const directives = parseCacheControl(response.headers.get("cache-control"));
  return !NOT_SERVABLE_STALE.some((directive) => directives.has(directive));
}

/**
 * Wraps a fetch-like function (a `createFetch` client, a Worker handler's upstream call) with a cached
 * fallback: GET and HEAD successes are stored, and a failure is answered from the store when a copy is young
 * enough, with `staunch-fallback: stale` and a correct `Age`.
 *
 * @example
 * ```ts worker
 * const upstream = createFetch({ totalTimeoutMs: 8_000 });
 * export default {
 *   async fetch(request: Request, env: Env, ctx: ExecutionContext) {
 *     const fetchWithFallback = cachedFallback(upstream, {
 *       cache: caches.default,
 *       waitUntil: (p) => ctx.waitUntil(p),
 *     });
 *     return fetchWithFallback(new Request(new URL(new URL(request.url).pathname, env.ORIGIN), request));
 *   },
 * };
 * ```
 */
export function cachedFallback(
  origin: (request: Request) => Promise<Response>,
  options: CachedFallbackOptions,
): (request: Request) => Promise<Response> {
  if (typeof origin !== "function")
    throw new TypeError(`cachedFallback: the origin must be a function, got ${typeof origin}`);
  const serve = staleIfError(options, "cachedFallback");
  return (request) => serve(request, origin, options.waitUntil);
}

/** Answers one request through `origin`, falling back to a stored copy; what the wrappers share. */
export type StaleIfError = (
  request: Request,
  origin: (request: Request) => Response | Promise<Response>,
  waitUntil?: (promise: Promise<unknown>) => void,
) => Promise<Response>;

const CACHED_FALLBACK_KEYS = /* @__PURE__ */ Object.keys({
  cache: true,
  maxStaleMs: true,
  cacheKey: true,
  perUserKey: true,
  maxStoredBodyBytes: true,
  shouldHandle: true,
  waitUntil: true,
  telemetry: true,
  env: true,
} satisfies Record<keyof CachedFallbackOptions, true>);

/**
 * The stale-if-error engine behind {@link cachedFallback} and the Worker middleware, with options checked
 * once; the origin and `waitUntil` come with each request.
 *
 * @example
 * ```ts worker
 * const serve = staleIfError({ cache: caches.default });
 * export default {
 *   fetch: (request: Request, env: Env, ctx: ExecutionContext) =>
 *     serve(request, (r) => fetch(r), (p) => ctx.waitUntil(p)),
 * };
 * ```
 */
export function staleIfError(options: CachedFallbackOptions, owner = "staleIfError"): StaleIfError {
  const o = requireOptionsObject(owner, options) as unknown as CachedFallbackOptions;
  requireKnownKeys(owner, o, CACHED_FALLBACK_KEYS);
  const cache = o.cache;
  if (typeof cache?.match !== "function" || typeof cache.put !== "function") {
    throw optionError(TypeError, owner, "cache", "a Cache (caches.default, caches.open(…))", cache);
  }
  const maxStaleMs = requireFiniteAtLeast(owner, "maxStaleMs", o.maxStaleMs ?? 86_400_000);
  const customKey = optionalFunction<(request: Request) => string | undefined>(owner, "cacheKey", o.cacheKey);
  const perUserKey = o.perUserKey ?? false;
  if (typeof perUserKey !== "boolean") throw optionError(TypeError, owner, "perUserKey", "a boolean", perUserKey);
  if (perUserKey && customKey === undefined) {
    throw optionError(TypeError, owner, "perUserKey", "set only with a cacheKey that tells users apart", perUserKey);
  }
  const maxStoredBodyBytes = requireIntegerAtLeast(owner, "maxStoredBodyBytes", o.maxStoredBodyBytes ?? 1_048_576, 0);
  const handles = optionalFunction<NonNullable<CachedFallbackOptions["shouldHandle"]>>(
    owner,
    "shouldHandle",
    o.shouldHandle,
  );
  optionalFunction<(promise: Promise<unknown>) => void>(owner, "waitUntil", o.waitUntil);
  const emit = emitterOf(owner, o.telemetry);
  const env = resolveEnvironment(o.env, owner);

  // Checked here, not left to the key function: a user's own Worker is safe without knowing the rule.
  const keyOf = (request: Request): string | undefined => {
    if (request.method !== "GET" && request.method !== "HEAD") return undefined;
    if (!perUserKey && CREDENTIAL_HEADERS.some((name) => request.headers.has(name))) return undefined;
    return customKey ? customKey(request) : request.url;
  };

  /**
   * Stores a copy for its fresh life plus its stale window, noting when, so its age can be told later. Only
   * a whole body is stored: one cut short (the connection dropped, fewer bytes than `Content-Length`) would
   * later be served as if complete.
   */
  const store = async (key: string, response: Response): Promise<void> => {
    const body = await wholeBody(response, maxStoredBodyBytes);
    if (body === undefined) return;
    const directives = parseCacheControl(response.headers.get("cache-control"));
    const staleMs = (secondsOf(directives, "stale-if-error") ?? maxStaleMs / 1000) * 1000;
    const freshMs = (secondsOf(directives, "s-maxage") ?? secondsOf(directives, "max-age") ?? 0) * 1000;
    const copy = new Response(body, response);
    copy.headers.set(
      STORED_AT,
      String(env.now() - (secondsOf(new Map([["age", response.headers.get("age") ?? ""]]), "age") ?? 0) * 1000),
    );
    copy.headers.set(STALE_LIMIT, String(freshMs + staleMs));
    // The Cache API drops an entry at its max-age; keep it as long as it may still be served stale.
    copy.headers.set("cache-control", `public, max-age=${Math.ceil((freshMs + staleMs) / 1000)}`);
    copy.headers.delete("set-cookie");
    return cache.put(new Request(key), copy).catch(() => {});
  };

  /** A stored copy young enough to serve for a failed origin, marked, or `undefined`. */
  const stale = async (
    key: string,
    request: Request,
  ): Promise<{ response: Response; ageSeconds: number } | undefined> => {
    const hit = await cache.match(new Request(key)).catch(() => undefined);
    if (!hit) return undefined;
    const storedAt = Number(hit.headers.get(STORED_AT));
    const limitMs = Number(hit.headers.get(STALE_LIMIT));
    const ageMs = env.now() - storedAt;
    if (!Number.isFinite(storedAt) || !Number.isFinite(limitMs) || ageMs > limitMs) {
      await hit.body?.cancel().catch(() => {}); // awaited: an open cache body is a resource until closed
      return undefined;
    }
    const ageSeconds = Math.max(0, Math.floor(ageMs / 1000));
    const headers = new Headers(hit.headers);
    headers.delete(STORED_AT);
    headers.delete(STALE_LIMIT);
    headers.set("age", String(ageSeconds));
    headers.set(FALLBACK_HEADER, "stale");
    headers.set("cache-control", "no-store"); // a stale answer must not be cached again downstream as fresh
    const body = request.method === "HEAD" ? null : hit.body;
    if (body === null) await hit.body?.cancel().catch(() => {});
    return { response: new Response(body, { status: hit.status, statusText: hit.statusText, headers }), ageSeconds };
  };

  return async (request, origin, waitUntil) => {
    const key = keyOf(request);
    if (key === undefined) return origin(request);
    let response: Response;
    try {
      response = await origin(request);
    } catch (error) {
      if (request.signal?.aborted) throw error; // the client left: nobody to answer
      const outcome: Outcome<Response> = { ok: false, error };
      if (handles !== undefined && !handles(outcome, { request })) throw error;
      const copy = await stale(key, request);
      if (!copy) throw error;
      emit?.({
        type: "stale-served",
        url: redactUrl(request.url),
        reason: fallbackReason(outcome),
        status: undefined,
        error,
        ageSeconds: copy.ageSeconds,
      });
      return copy.response;
    }
    if (
      handles === undefined
        ? response.status >= 500 && response.status <= 599
        : handles({ ok: true, result: response }, { request })
    ) {
      const copy = await stale(key, request);
      if (!copy) return response;
      discardBody(response);
      emit?.({
        type: "stale-served",
        url: redactUrl(request.url),
        reason: "result",
        status: response.status,
        error: undefined,
        ageSeconds: copy.ageSeconds,
      });
      return copy.response;
    }
    if (request.method === "GET" && isStorable(response)) {
      const [forClient, forCache] = teeResponse(response);
      const put = store(key, forCache);
      if (waitUntil) waitUntil(put);
      else await put;
      return forClient;
    }
    return response;
  };
}

/**
 * The whole body, once it has all arrived; `undefined` when it broke off, is shorter or longer than its
 * `Content-Length` says, or is larger than `limitBytes` (then the rest is not read for the cache: the client's
 * copy still gets it all). A `Content-Length` is checked only on an unencoded body: a runtime that decodes
 * gzip hands over more bytes than the header counts.
 */
async function wholeBody(response: Response, limitBytes: number): Promise<Uint8Array<ArrayBuffer> | undefined> {
  const encoding = response.headers.get("content-encoding");
  const declared =
    encoding === null || encoding.trim().toLowerCase() === "identity" ? response.headers.get("content-length") : null;
  if (declared !== null && !/^\d{1,15}$/.test(declared.trim())) return undefined;
  const expected = declared === null ? undefined : Number(declared);
  if (expected !== undefined && expected > limitBytes) {
    await response.body?.cancel().catch(() => {});
    return undefined;
  }
  const reader = response.body?.getReader();
  if (reader === undefined) return expected === undefined || expected === 0 ? new Uint8Array(0) : undefined;
  const chunks: Uint8Array[] = [];
  let received = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      received += value.byteLength;
      if (received > limitBytes) {
        await reader.cancel().catch(() => {});
        return undefined;
      }
      chunks.push(value);
    }
  } catch {
    return undefined; // the body broke off: what arrived is not the answer
  }
  return expected === undefined || received === expected ? concat(chunks, received) : undefined;
}

/** Two responses with the same status, headers and body, one for the client and one for the cache. */
function teeResponse(response: Response): [Response, Response] {
  return [response.clone(), response];
}
