/**
 * The staunch sample Worker: proxies `/api/*` to an upstream through `createFetch` (retries with jitter and a
 * budget, per-attempt and total timeouts, a breaker per route of the upstream) and answers from a stale copy
 * in the Cache API when the upstream fails. `GET /` is a live dashboard of what happened to each request.
 *
 * When wrangler.toml binds the `StaunchSharedState` Durable Object (it does by default), the breakers and the
 * retry budget are shared by all of the Worker's isolates; without the binding, each isolate keeps its own.
 *
 * What it is safe against (each tried in test/e2e/security.e2e.test.ts): answers are cached under the full
 * upstream URL and never for a request with credentials; only whole bodies are stored; the control endpoints
 * are off unless a secret is configured; nothing of its own reaches the upstream; and one route's or one
 * client's failures cannot open the circuit for every route.
 */

import { AsyncLocalStorage } from "node:async_hooks";
import { durableObjectStore } from "../src/durable.ts";
import {
  CircuitOpenError,
  type Coordinator,
  coordinator,
  createFetch,
  errorName,
  FALLBACK_HEADER,
  type FallbackReason,
  type FetchFunction,
  failureRate,
  fallbackReason,
  isDependencyFailure,
  logTo,
  type ResilientFetch,
  type RetryBudget,
  redactUrl,
  retryBudget,
  type StaleIfError,
  staleIfError,
} from "../src/index.ts";
import { KeyedRegistry } from "../src/keyed-registry.ts";
import { type Config, type Env, readConfig } from "./config.ts";
import { controlAccess, controlsOn, refusal } from "./control.ts";
import { dashboardHtml } from "./dashboard.ts";
import { demoOrigin, FAILURE_PARAMS, outage } from "./demo-origin.ts";
import { carriesCredential, climbsOut, forwardedHeaders } from "./forwarding.ts";
import { type DashboardState, type RequestRecord, Timeline } from "./timeline.ts";

// The Durable Object class must be exported by the Worker's main module for wrangler.toml to bind it.
export { StaunchSharedState } from "../src/durable.ts";
export type { Env } from "./config.ts";

const DEMO_ORIGIN = "https://demo.origin";
/** Routes whose breakers one isolate keeps; the least recently used beyond it start over when next used. */
const MAX_ROUTES = 100;
/** Statuses that say the upstream itself is unwell; a 500 from one path says that path has a bug. */
const UNHEALTHY_STATUSES = new Set([502, 503, 504]);
/** Worth another attempt: what passes (a timeout, rate limiting, an unwell upstream), not a path's own 500. */
const RETRY_STATUSES = [408, 429, 502, 503, 504];

/**
 * The request whose attempts the instrumented fetch records. Carried with the request's async context, not
 * in a header: nothing of the Worker's own may reach the upstream.
 */
const trace = new AsyncLocalStorage<RequestRecord>();

/** What one isolate keeps between requests: the clients (and their breakers), the cache wrapper, the timeline. */
interface IsolateState {
  readonly config: Config;
  readonly demo: boolean;
  /** The upstream without its credentials, or the demo origin's URL. */
  readonly base: string;
  /** One client per breaker key: each has its own breaker, and all share the retry budget. */
  readonly clients: KeyedRegistry<ResilientFetch>;
  readonly serve: StaleIfError;
  readonly timeline: Timeline;
  /** The link to the fleet's shared state, when the Durable Object is bound. */
  readonly fleet: Coordinator | undefined;
  /** The upstream's origin: the key of the retry budget in the shared state. */
  readonly upstreamOrigin: string;
}

let isolate: (IsolateState & { readonly settings: string }) | undefined;

/** What the isolate's state was built from: other settings (a test's, a changed deploy's) build it anew. */
function settingsOf(env: Env): string {
  const { STAUNCH_STATE, CONTROL_SECRET: _secret, ...vars } = env;
  return JSON.stringify({ ...vars, fleet: STAUNCH_STATE !== undefined });
}

function setUp(env: Env): IsolateState {
  const config = readConfig(env);
  const demo = config.upstream === "demo";
  const timeline = new Timeline(50);
  const upstreamFetch: FetchFunction = demo ? demoOrigin : (i, n) => fetch(i, n);
  // Records each attempt of the request being traced, then calls the real upstream.
  const instrumented: FetchFunction = async (input, init) => {
    const record = trace.getStore();
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
  const base = demo ? DEMO_ORIGIN : withoutCredentials(config.upstream);
  const upstreamOrigin = new URL(base).origin;
  const fleet = env.STAUNCH_STATE
    ? coordinator({ store: durableObjectStore(env.STAUNCH_STATE), telemetry: logTo(console) })
    : undefined;
  const budget = retryBudget({ fleet: fleet?.budget(upstreamOrigin) });
  // A route whose circuit is not closed is kept when a new route needs room: a client naming 100 new routes
  // must not push an open circuit out, and so close it.
  const clients = new KeyedRegistry(
    MAX_ROUTES,
    (key) => routeClient(key, config, instrumented, budget, fleet),
    (client) => client.origins().some((o) => o.circuit !== undefined && o.circuit !== "closed"),
  );
  const serve = staleIfError({
    cache: caches.default,
    maxStaleMs: config.maxStaleSeconds * 1000,
    // The key is the full upstream URL. Only the demo's failure switches are left out, so that /data?down=1
    // may get /data's copy: they choose how the demo fails, not what it answers. A request with a credential
    // in a header of the upstream's own naming is kept from the cache, as the library keeps Authorization.
    cacheKey: (request) => {
      if (carriesCredential(request.headers)) return undefined;
      if (!demo) return request.url;
      const url = new URL(request.url);
      for (const name of FAILURE_PARAMS) url.searchParams.delete(name);
      return url.href;
    },
  });
  return { config, demo, base, clients, serve, timeline, fleet, upstreamOrigin };
}

/**
 * The client behind one breaker key. Its circuit opens on the failure rate of its own traffic, counting only
 * what shows the upstream unwell (a dropped connection, a timeout, 502/503/504), so a path that answers 500
 * or a client that asks for one cannot open it, and a failing route cannot open the circuit of another.
 */
function routeClient(
  key: string,
  config: Config,
  instrumented: FetchFunction,
  budget: RetryBudget,
  fleet: Coordinator | undefined,
): ResilientFetch {
  return createFetch({
    fetch: instrumented,
    attempts: config.attempts,
    attemptTimeoutMs: config.attemptTimeoutMs,
    totalTimeoutMs: config.totalTimeoutMs,
    retryStatuses: RETRY_STATUSES,
    budget,
    breaker: {
      // A rate over a window, not failures in a row: a few unlucky calls do not open it, and it needs
      // traffic (minimum throughput) before it can open at all.
      strategy: () =>
        failureRate({
          threshold: config.breakerFailureRate,
          minimumThroughput: config.breakerMinThroughput,
          windowMs: 30_000,
        }),
      shouldHandle: (outcome) =>
        outcome.ok ? UNHEALTHY_STATUSES.has(outcome.result.status) : isDependencyFailure(outcome.error),
      halfOpenAfterMs: config.halfOpenAfterMs,
      // The fleet's circuit for this key (createFetch would ask for one per origin: there is one origin here).
      fleet: fleet && { circuit: () => fleet.circuit(key) },
    },
    telemetry: logTo(console),
  });
}

/**
 * The breaker key of an upstream URL: the upstream's origin, or with `route` its origin and base path plus the
 * first path segment after it (`https://api.example.com/v1/users` for `/api/users/42`).
 */
export function breakerKeyOf(base: string, target: URL, scope: Config["breakerKey"]): string {
  const upstream = new URL(base);
  if (scope === "origin") return upstream.origin;
  const basePath = upstream.pathname.replace(/\/$/, "");
  const segment = (target.pathname.slice(basePath.length).split("/")[1] ?? "").slice(0, 100);
  // Written as fleetKey writes it, so the dashboard and the fleet's state name a breaker alike.
  return segment === "" ? `${upstream.origin}${basePath}` : `${upstream.origin}${basePath}/${segment}`;
}

/**
 * The upstream URL without `user:password@`: workerd's fetch does not send them, and in a cache key they
 * would be stored with every copy.
 */
function withoutCredentials(upstream: string): string {
  const url = new URL(upstream);
  url.username = "";
  url.password = "";
  return url.href;
}

/**
 * The answer when the upstream failed and no copy was young enough. It names the error, never quotes its
 * message: messages name the upstream (`The circuit for https://10.0.0.7 is open`) and may carry what the
 * runtime said about it, and the upstream's address is not the client's to know.
 */
function failureResponse(error: unknown): Response {
  const name = errorName(error) ?? "Error";
  const headers: Record<string, string> = { "content-type": "application/json", "staunch-error": name };
  if (error instanceof CircuitOpenError) {
    const seconds = Math.ceil(error.retryAfterMs / 1000);
    headers["retry-after"] = String(seconds);
    const message = `The upstream is failing: calls fail fast for ${seconds} s more.`;
    return new Response(JSON.stringify({ error: name, message }), { status: 503, headers });
  }
  const timedOut = name === "TimeoutError";
  const message = timedOut ? "The upstream did not answer in time." : "The upstream could not be reached.";
  return new Response(JSON.stringify({ error: name, message }), { status: timedOut ? 504 : 502, headers });
}

/** The answer when the upstream sent a status above 599, which is no HTTP status. */
function invalidStatusResponse(): Response {
  const error = "InvalidStatus";
  const message = "The upstream answered with an invalid status.";
  return Response.json({ error, message }, { status: 502, headers: { "staunch-error": error } });
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

/**
 * How a request shows on the dashboard: its path, and of its query only the demo's failure switches. The
 * rest of a query (tokens, personal data) is shown as `?…` or `&…`.
 */
function shownPath(url: URL, demo: boolean): string {
  const path = url.pathname.slice("/api".length);
  if (url.search === "") return path;
  const kept = new URLSearchParams();
  for (const [name, value] of url.searchParams) {
    if (demo && (FAILURE_PARAMS as readonly string[]).includes(name)) kept.append(name, value);
  }
  const query = kept.toString();
  const droppedSome = [...url.searchParams.keys()].length > [...kept.keys()].length;
  if (query === "") return `${path}?…`;
  return `${path}?${query}${droppedSome ? "&…" : ""}`;
}

async function proxy(request: Request, state: IsolateState, ctx: ExecutionContext): Promise<Response> {
  const url = new URL(request.url);
  // An upstream answers TRACE with the request it received: with any header this Worker adds (a credential
  // of its own for the upstream, say) echoed back to the client.
  if (request.method === "TRACE") return new Response("Method not allowed.\n", { status: 405 });
  if (climbsOut(url.pathname)) {
    return new Response("Bad request: decoded, the path would climb out of the upstream's base path.\n", {
      status: 400,
    });
  }
  const target = upstreamUrl(state.base, url);
  const client = state.clients.get(breakerKeyOf(state.base, target, state.config.breakerKey));
  const record = state.timeline.begin(request.method, shownPath(url, state.demo), Date.now());
  const headers = forwardedHeaders(request.headers);
  // The cache decides on the request with its Cookie: a request with cookies is neither stored nor answered
  // from a copy. The Cookie itself stays here: the Worker's site's cookies are not the upstream's business.
  const asked = new Request(target, {
    method: request.method,
    headers,
    body: request.method === "GET" || request.method === "HEAD" ? null : request.body,
  });
  let reason: FallbackReason | undefined;
  const origin = async (r: Request): Promise<Response> => {
    const upstreamHeaders = new Headers(r.headers);
    upstreamHeaders.delete("cookie");
    try {
      const response = await client(new Request(r, { headers: upstreamHeaders }));
      if (response.status >= 500) reason = "result";
      return response;
    } catch (error) {
      reason = fallbackReason({ ok: false, error });
      throw error;
    }
  };
  let answer: Response;
  try {
    answer = await trace.run(record, () => state.serve(asked, origin, (p) => ctx.waitUntil(p)));
  } catch (error) {
    answer = failureResponse(error);
  }
  if (answer.status > 599) {
    // workerd's fetch passes on any status an upstream sends, but no Response may be built with it: copied
    // below, it would throw out of the handler.
    await answer.body?.cancel();
    answer = invalidStatusResponse();
  }
  // The reports this request started to the shared state finish after the response, not cut off by it.
  if (state.fleet) ctx.waitUntil(state.fleet.settled());
  const stale = answer.headers.get(FALLBACK_HEADER) === "stale";
  // A 5xx the origin still answered after the last attempt, with no copy to serve instead, is a failure too.
  const failed = answer.headers.has("staunch-error") || answer.status >= 500;
  finish(record, answer, stale ? "stale" : failed ? "error" : "origin", reason);
  const response = new Response(answer.body, answer);
  response.headers.set("staunch-attempts", String(record.attempts.length));
  return response;
}

function finish(
  record: RequestRecord,
  answer: Response,
  source: "origin" | "stale" | "error",
  reason: FallbackReason | undefined,
) {
  const age = answer.headers.get("age");
  record.result = {
    status: answer.status,
    source,
    reason: source === "origin" ? undefined : reason,
    ageSeconds: age === null ? undefined : Number(age),
    totalMs: Date.now() - record.startedAt,
  };
}

function dashboardState(state: IsolateState): DashboardState {
  const upstream = state.demo ? "demo" : redactUrl(state.config.upstream);
  return {
    requests: state.timeline.list(),
    breakers: Array.from(state.clients.entries(), ([key, client]) => {
      const origin = client.origins()[0];
      return {
        key,
        circuit: origin?.circuit,
        circuitRetryAfterMs: origin?.circuitRetryAfterMs ?? 0,
        pausedForMs: origin?.pausedForMs ?? 0,
      };
    }),
    outageUntil: state.demo && outage.until > Date.now() ? outage.until : undefined,
    upstream,
    config: { ...state.config, upstream },
    fleet: { bound: state.fleet !== undefined, keys: state.fleet?.status() ?? [] },
  };
}

/** `/__staunch/*`, once {@link controlAccess} let the request through. */
async function control(request: Request, url: URL, state: IsolateState): Promise<Response> {
  if (url.pathname === "/__staunch/state" && request.method === "GET") return Response.json(dashboardState(state));
  if (url.pathname === "/__staunch/outage" && request.method === "POST" && state.demo) {
    const seconds = Math.min(Math.max(Number(url.searchParams.get("seconds") ?? 20), 0), 600);
    outage.until = Date.now() + seconds * 1000;
    return Response.json({ outageUntil: outage.until });
  }
  if (url.pathname === "/__staunch/reset" && request.method === "POST") {
    // A fresh start: new breakers, budget and timeline, and the settings read again on the next request;
    // the shared circuits and counts too, once this isolate's last reports have landed.
    outage.until = 0;
    isolate = undefined;
    const { fleet } = state;
    if (fleet) {
      await fleet.settled();
      const keys = new Set([state.upstreamOrigin, ...Array.from(state.clients.entries(), ([key]) => key)]);
      await Promise.all(Array.from(keys, (key) => fleet.reset(key)));
    }
    return Response.json({ reset: true });
  }
  return new Response("Not found.\n", { status: 404 });
}

export default {
  async fetch(request: Request, env: Env, ctx: ExecutionContext): Promise<Response> {
    const settings = settingsOf(env);
    if (isolate?.settings !== settings) isolate = { ...setUp(env), settings };
    const state = isolate;
    const url = new URL(request.url);
    if (url.pathname.startsWith("/api/")) return proxy(request, state, ctx);
    if (url.pathname === "/" && request.method === "GET") {
      // The page holds no data: it reads the state with the secret given after `#secret=` in its address
      // (a fragment, which no request or log carries). Without a secret it is there only for the local demo.
      if (!controlsOn(request, env.CONTROL_SECRET, state.demo)) return refusal("off");
      // Never inside another site's frame, where a page could trick a click on reset or outage.
      const headers = {
        "content-type": "text/html; charset=utf-8",
        "content-security-policy": "frame-ancestors 'none'",
      };
      return new Response(dashboardHtml, { headers });
    }
    if (url.pathname.startsWith("/__staunch/")) {
      const access = await controlAccess(request, env.CONTROL_SECRET, state.demo);
      return access === "open" ? control(request, url, state) : refusal(access);
    }
    return new Response("Not found. Try /api/…\n", { status: 404 });
  },
} satisfies ExportedHandler<Env>;
