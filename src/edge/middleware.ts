/**
 * Stale-if-error as middleware for Worker handlers: one wrapper for `export default { fetch }` Workers, one
 * for Hono's `app.use`. Both keep the successful GET answers of the handler and answer from them when the
 * handler throws or answers 5xx.
 */

import { describeValue } from "../validate.ts";
import { type CachedFallbackOptions, staleIfError } from "./cached-fallback.ts";

/** What a Worker's `fetch` handler is: `(request, env, ctx)`. */
export type WorkerFetchHandler<E, C extends ExecutionContextLike> = (
  request: Request,
  env: E,
  ctx: C,
) => Response | Promise<Response>;

/** The part of a Worker's `ExecutionContext` the middleware uses. */
export interface ExecutionContextLike {
  /** Keeps the Worker alive until `promise` settles, after the response is sent. */
  waitUntil(promise: Promise<unknown>): void;
}

/** Middleware options: those of `cachedFallback`, but for `waitUntil`, which comes from each request's context. */
export type StaleIfErrorOptions = Omit<CachedFallbackOptions, "waitUntil">;

/**
 * Wraps a Worker's `fetch` handler with stale-if-error: its successful, cacheable GET answers are stored (in
 * the background, with `ctx.waitUntil`), and when it throws or answers 5xx a stored copy answers instead,
 * with `staunch-fallback: stale` and a correct `Age`.
 *
 * @example
 * ```ts
 * export default {
 *   fetch: withStaleIfError(
 *     async (request, env) => fetch(new URL(new URL(request.url).pathname, env.ORIGIN)),
 *     { cache: caches.default, maxStaleMs: 3_600_000 },
 *   ),
 * };
 * ```
 */
export function withStaleIfError<E, C extends ExecutionContextLike>(
  handler: WorkerFetchHandler<E, C>,
  options: StaleIfErrorOptions,
): (request: Request, env: E, ctx: C) => Promise<Response> {
  if (typeof handler !== "function") {
    throw new TypeError(`withStaleIfError: argument "handler" must be a function, got ${describeValue(handler)}`);
  }
  const serve = staleIfError(options, "withStaleIfError");
  return (request, env, ctx) =>
    serve(request, (r) => handler(r, env, ctx), ctx?.waitUntil ? (p) => ctx.waitUntil(p) : undefined);
}

/** The part of Hono's context the middleware uses; staunch does not depend on Hono. */
export interface HonoContextLike {
  readonly req: { readonly raw: Request };
  res: Response | undefined;
  readonly error?: unknown;
  readonly executionCtx: ExecutionContextLike;
}

/**
 * Stale-if-error as Hono middleware: `app.use("/api/*", staleIfErrorMiddleware({ cache: caches.default }))`.
 * A handler error (which Hono has already turned into its error response) or a 5xx answer is replaced by a
 * stored copy when one is young enough.
 *
 * @example
 * ```ts
 * import { Hono } from "hono";
 * const app = new Hono();
 * app.use("/api/*", staleIfErrorMiddleware({ cache: caches.default }));
 * app.get("/api/prices", (c) => fetch("https://prices.example.com/today"));
 * export default app;
 * ```
 */
export function staleIfErrorMiddleware(
  options: StaleIfErrorOptions,
): (c: HonoContextLike, next: () => Promise<void>) => Promise<void> {
  const serve = staleIfError(options, "staleIfErrorMiddleware");
  return async (c, next) => {
    let waitUntil: ((promise: Promise<unknown>) => void) | undefined;
    try {
      const ctx = c.executionCtx; // Hono throws when there is no execution context (outside Workers)
      waitUntil = (p) => ctx.waitUntil(p);
    } catch {
      waitUntil = undefined;
    }
    const answer = await serve(
      c.req.raw,
      async () => {
        await next();
        if (c.error !== undefined && (c.res === undefined || c.res.status >= 500)) throw c.error;
        return c.res as Response;
      },
      waitUntil,
    );
    // Hono merges the old response's headers into a new one unless the old one is cleared first.
    c.res = undefined;
    c.res = answer;
  };
}
