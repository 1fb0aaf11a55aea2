/**
 * The staunch sample Worker: proxies `/api/*` to an upstream through `createFetch` (retries with jitter and a
 * budget, per-attempt and total timeouts, a breaker per origin) and answers from a stale copy in the Cache
 * API when the upstream fails. `GET /` is a live dashboard of what happened to each request.
 *
 * When wrangler.toml binds the `StaunchSharedState` Durable Object (it does by default), the breaker and the
 * retry budget are shared by all of the Worker's isolates; without the binding, each isolate keeps its own.
 */

import { durableObjectStore } from "../src/durable.ts";
import {
  CircuitOpenError,
  type Coordinator,
  consecutiveFailures,
  coordinator,
  createFetch,
  errorName,
  FALLBACK_HEADER,
  type FetchFunction,
  fallbackCause,
  type ResilientFetch,
  retryBudget,
  type StaleIfError,
  staleIfError,
} from "../src/index.ts";
import { type Config, type Env, readConfig } from "./config.ts";
import { dashboardHtml } from "./dashboard.ts";
import { demoOrigin, FAILURE_PARAMS, outage } from "./demo-origin.ts";
import { type DashboardState, type RequestRecord, Timeline } from "./timeline.ts";

// The Durable Object class must be exported by the Worker's main module for wrangler.toml to bind it.
export { StaunchSharedState } from "../src/durable.ts";
export type { Env } from "./config.ts";

/** Carries a request's timeline id to the instrumented fetch, which records each attempt. */
const TRACE_HEADER = "x-staunch-trace";
const DEMO_ORIGIN = "https://demo.origin";

/** What one isolate keeps between requests: the client (and its breakers), the cache wrapper, the timeline. */
interface IsolateState {
  readonly config: Config;
  readonly client: ResilientFetch;
  readonly serve: StaleIfError;
  readonly timeline: Timeline;
  /** The link to the fleet's shared state, when the Durable Object is bound. */
  readonly shared: Coordinator | undefined;
  /** The upstream's origin: the key of its breaker and of the retry budget in the shared state. */
  readonly upstreamOrigin: string;
}

let isolate: IsolateState | undefined;

function setUp(env: Env): IsolateState {
  const config = readConfig(env);
  const timeline = new Timeline(50);
  const upstreamFetch: FetchFunction = config.upstream === "demo" ? demoOrigin : (i, n) => fetch(i, n);
  // Records each attempt of a traced request, then calls the real upstream.
  const instrumented: FetchFunction = async (input, init) => {
    const headers = new Headers(init?.headers ?? (input instanceof Request ? input.headers : undefined));
    const record = timeline.get(headers.get(TRACE_HEADER));
    const attempt = record ? timeline.attemptStarted(record, Date.now()) : undefined;
    const started = Date.now();
    try {
      const response = await upstreamFetch(input, init);
      if (attempt) attempt.outcome = String(response.status);
      return response;
    } catch (error) {
      if (attempt) attempt.outcome = errorName(error) ?? "Error";
      throw error;
    } finally {
      if (attempt) attempt.durationMs = Date.now() - started;
    }
  };
  const upstreamOrigin = config.upstream === "demo" ? DEMO_ORIGIN : new URL(config.upstream).origin;
  const shared = env.STAUNCH_STATE
    ? coordinator({ store: durableObjectStore(env.STAUNCH_STATE), logger: console })
    : undefined;
  const client = createFetch({
    fetch: instrumented,
    attempts: config.attempts,
    attemptTimeoutMs: config.attemptTimeoutMs,
    totalTimeoutMs: config.totalTimeoutMs,
    // One key for the upstream's breaker and the budget: both travel in the same exchange.
    budget: retryBudget({ shared: shared?.budget(upstreamOrigin) }),
    // Ten failed attempts in a row: an origin that fails 30 % of attempts almost never trips it (0.3^10), while
    // one that is down trips it within a few calls. Five tripped the demo's flaky origin every few seconds.
    breaker: {
      strategy: () => consecutiveFailures(config.breakerFailures),
      halfOpenAfterMs: config.halfOpenAfterMs,
      shared,
    },
    logger: console,
  });
  const serve = staleIfError({
    cache: caches.default,
    maxStaleMs: config.maxStaleSeconds * 1000,
    // The demo's failure switches are not part of what is asked for: /data?down=1 may get /data's copy.
    cacheKey: (request) => {
      if (request.headers.has("authorization") || request.headers.has("cookie")) return undefined;
      const url = new URL(request.url);
      for (const name of FAILURE_PARAMS) url.searchParams.delete(name);
      return url.href;
    },
  });
  return { config, client, serve, timeline, shared, upstreamOrigin };
}

/** The answer when the upstream failed and no copy was young enough. */
function failureResponse(error: unknown): Response {
  const name = errorName(error) ?? "Error";
  const headers: Record<string, string> = { "content-type": "application/json", "staunch-error": name };
  if (error instanceof CircuitOpenError) {
    headers["retry-after"] = String(Math.ceil(error.retryAfterMs / 1000));
    return new Response(JSON.stringify({ error: name, message: error.message }), { status: 503, headers });
  }
  const status = name === "TimeoutError" ? 504 : 502;
  return new Response(JSON.stringify({ error: name, message: String((error as Error)?.message ?? error) }), {
    status,
    headers,
  });
}

/**
 * The upstream URL for a proxied request: the upstream's origin with the path after `/api` and the query.
 * Set on a copy of the base, never resolved against it: `new URL("//other.host/x", base)` would send the
 * request (and its headers) to any host the client names.
 */
export function upstreamUrl(base: string, incoming: URL): URL {
  const target = new URL(base);
  const basePath = target.pathname.replace(/\/$/, "");
  target.pathname = `${basePath}${incoming.pathname.slice("/api".length)}`;
  target.search = incoming.search;
  return target;
}

async function proxy(request: Request, state: IsolateState, ctx: ExecutionContext): Promise<Response> {
  const url = new URL(request.url);
  const path = url.pathname.slice("/api".length) + url.search;
  const base = state.config.upstream === "demo" ? DEMO_ORIGIN : state.config.upstream;
  const record = state.timeline.begin(request.method, path, Date.now());
  const headers = new Headers(request.headers);
  headers.set(TRACE_HEADER, record.id);
  headers.delete("host");
  // The Worker's own cookies are not the upstream's business.
  headers.delete("cookie");
  const upstreamRequest = new Request(upstreamUrl(base, url), {
    method: request.method,
    headers,
    body: request.method === "GET" || request.method === "HEAD" ? null : request.body,
  });
  let cause: string | undefined;
  const origin = async (r: Request): Promise<Response> => {
    try {
      const response = await state.client(r);
      if (response.status >= 500) cause = "status";
      return response;
    } catch (error) {
      cause = fallbackCause(error);
      throw error;
    }
  };
  let answer: Response;
  try {
    answer = await state.serve(upstreamRequest, origin, (p) => ctx.waitUntil(p));
  } catch (error) {
    answer = failureResponse(error);
  }
  // The reports this request started to the shared state finish after the response, not cut off by it.
  if (state.shared) ctx.waitUntil(state.shared.settled());
  const stale = answer.headers.get(FALLBACK_HEADER) === "stale";
  // A 5xx the origin still answered after the last attempt, with no copy to serve instead, is a failure too.
  const failed = answer.headers.has("staunch-error") || answer.status >= 500;
  finish(record, answer, stale ? "stale" : failed ? "error" : "origin", cause);
  const response = new Response(answer.body, answer);
  response.headers.set("staunch-attempts", String(record.attempts.length));
  return response;
}

function finish(
  record: RequestRecord,
  answer: Response,
  source: "origin" | "stale" | "error",
  cause: string | undefined,
) {
  const age = answer.headers.get("age");
  record.result = {
    status: answer.status,
    source,
    cause: source === "origin" ? undefined : cause,
    ageSeconds: age === null ? undefined : Number(age),
    totalMs: Date.now() - record.startedAt,
  };
}

function dashboardState(state: IsolateState): DashboardState {
  return {
    requests: state.timeline.list(),
    origins: state.client.origins(),
    outageUntil: outage.until > Date.now() ? outage.until : undefined,
    upstream: state.config.upstream,
    config: { ...state.config },
    shared: { bound: state.shared !== undefined, keys: state.shared?.status() ?? [] },
  };
}

export default {
  async fetch(request: Request, env: Env, ctx: ExecutionContext): Promise<Response> {
    isolate ??= setUp(env);
    const state = isolate;
    const url = new URL(request.url);
    if (url.pathname.startsWith("/api/")) return proxy(request, state, ctx);
    if (url.pathname === "/" && request.method === "GET") {
      return new Response(dashboardHtml, { headers: { "content-type": "text/html; charset=utf-8" } });
    }
    if (url.pathname === "/__staunch/state") return Response.json(dashboardState(state));
    if (url.pathname === "/__staunch/outage" && request.method === "POST") {
      const seconds = Math.min(Math.max(Number(url.searchParams.get("seconds") ?? 20), 0), 600);
      outage.until = Date.now() + seconds * 1000;
      return Response.json({ outageUntil: outage.until });
    }
    if (url.pathname === "/__staunch/reset" && request.method === "POST") {
      // A fresh start: new breakers, budget and timeline, and the settings read again on the next request;
      // the shared circuit and counts too, once this isolate's last reports have landed.
      outage.until = 0;
      isolate = undefined;
      if (state.shared) {
        await state.shared.settled();
        await state.shared.reset(state.upstreamOrigin);
      }
      return Response.json({ reset: true });
    }
    return new Response("Not found. Try / for the dashboard, or /api/data.\n", { status: 404 });
  },
} satisfies ExportedHandler<Env>;
