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
 * ```ts worker
 * export default {
 *   fetch: withStaleIfError(
 *     async (request, env: Env) => fetch(new URL(new URL(request.url).pathname, env.ORIGIN)),
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
 * A handler error or a 5xx answer is replaced by a stored copy when one is young enough.
 *
 * Hono hands a handler's error to `app.onError` before any middleware sees it: the default one logs it with
 * its stack and answers 500, even when a stored copy then answers instead. Give an `app.onError` that answers
 * staunch's errors itself (503 for an open circuit, say). Its answer is what the client gets when no copy
 * is young enough; it is called once, and an error's answer is never stored.
 *
 * @example
 * ```ts worker
 * import { Hono } from "hono";
 * import { isCircuitOpenError, staleIfErrorMiddleware } from "staunch";
 * const app = new Hono();
 * app.use("/api/*", staleIfErrorMiddleware({ cache: caches.default }));
 * app.get("/api/prices", (c) => fetch("https://prices.example.com/today"));
 * app.onError((error, c) => c.json({ error: error.name }, isCircuitOpenError(error) ? 503 : 500));
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
    let answer: Response;
    try {
      answer = await serve(
        c.req.raw,
        async () => {
          await next();
          // Hono's onError has answered already; a failure all the same, whatever status it chose.
          if (c.error !== undefined) throw c.error;
          return c.res as Response;
        },
        waitUntil,
      );
    } catch (error) {
      // No copy: onError's answer stands. Rethrown, the error would reach onError a second time.
      if (error !== undefined && error === c.error && c.res !== undefined) return;
      throw error;
    }
    // Hono merges the old response's headers into a new one unless the old one is cleared first.
    c.res = undefined;
    c.res = answer;
  };
}
