/**
 * A Hono Worker that proxies /api/* to an upstream with staunch: retries, timeouts, a breaker per origin shared
 * by every isolate, and stale-if-error from the Cache API. `Env` comes from `wrangler types`
 * (worker-configuration.d.ts, generated from wrangler.toml: run it again when you change the bindings).
 *
 * Type-checked by the staunch repository's `npm run typecheck` and run in workerd by
 * test/worker/hono-example.test.ts.
 */

import { Hono } from "hono";
import {
  type Coordinator,
  coordinator,
  createFetch,
  errorName,
  isCircuitOpenError,
  isTransientError,
  type ResilientFetch,
  retryBudget,
  staleIfErrorMiddleware,
} from "staunch";
import { durableObjectStore } from "staunch/durable";

// wrangler binds the Durable Object class that the main module exports.
export { StaunchSharedState } from "staunch/durable";

/** One per isolate: the breakers, the budget and the link to the fleet live across requests. */
let fleet: Coordinator | undefined;
let upstream: ResilientFetch | undefined;

function client(env: Env): ResilientFetch {
  if (upstream === undefined) {
    const origin = new URL(env.UPSTREAM_URL).origin;
    fleet = env.STAUNCH_STATE ? coordinator({ store: durableObjectStore(env.STAUNCH_STATE) }) : undefined;
    upstream = createFetch({
      attemptTimeoutMs: 2_000,
      totalTimeoutMs: 8_000,
      breaker: { fleet },
      // The budget's key is the breaker's (the upstream's origin): one exchange with the fleet carries both.
      budget: retryBudget({ fleet: fleet?.budget(origin) }),
    });
  }
  return upstream;
}

/**
 * The request headers the upstream gets: those it needs to answer, and no others. Passing every header on
 * would let a client speak for this Worker: an `X-Forwarded-Host` the upstream builds links from (that
 * answer is then stored and served to everyone), an `X-HTTP-Method-Override` that runs a GET as a DELETE
 * (retried, and stored as the GET's copy), an `Upgrade`, or a credential of the upstream's own naming that
 * the cache cannot know to keep apart (`X-Api-Key`: add it here, and return `undefined` from `cacheKey`
 * when a request carries it). `Authorization` is passed on; the cache never stores a request that has it.
 */
const PASSED_ON = [
  "accept",
  "accept-language",
  "authorization",
  "content-type",
  "if-match",
  "if-modified-since",
  "if-none-match",
  "if-unmodified-since",
  "user-agent",
];

const app = new Hono<{ Bindings: Env }>();

app.use(
  "/api/*",
  staleIfErrorMiddleware({
    cache: caches.default,
    maxStaleMs: 3_600_000,
    // The key says which requests may share a stored answer. The default, the full URL with its query, is
    // the safe one; leave out only parameters that never change the answer, such as tracking tags.
    cacheKey: (request) => {
      const url = new URL(request.url);
      for (const name of [...url.searchParams.keys()]) if (name.startsWith("utm_")) url.searchParams.delete(name);
      return url.href;
    },
  }),
);

app.all("/api/*", async (c) => {
  const incoming = new URL(c.req.url);
  // The path after /api and the whole query; set on a copy of the upstream URL, never resolved against it,
  // so that a path such as //other.host cannot change the host.
  const target = new URL(c.env.UPSTREAM_URL);
  target.pathname = `${target.pathname.replace(/\/$/, "")}${incoming.pathname.slice("/api".length)}`;
  target.search = incoming.search;
  const headers = new Headers(); // no Host, and no Cookie: this site's cookies are not the upstream's business
  for (const name of PASSED_ON) {
    const value = c.req.header(name);
    if (value !== undefined) headers.set(name, value);
  }
  try {
    return await client(c.env)(target, { method: c.req.method, headers, body: c.req.raw.body });
  } finally {
    // Reports to the fleet's state started by this request finish after the response.
    if (fleet) c.executionCtx.waitUntil(fleet.settled());
  }
});

// Hono hands a handler's error here before any middleware sees it. Without this, Hono logs each one with a
// stack and answers 500; the middleware serves a stored copy when it has one, else this answer stands.
app.onError((error, c) => {
  const name = errorName(error) ?? "Error";
  if (isCircuitOpenError(error)) {
    c.header("retry-after", String(Math.ceil(error.retryAfterMs / 1000)));
    return c.json({ error: name }, 503);
  }
  if (isTransientError(error)) {
    // The upstream's failure, already retried: one line, not a stack.
    console.warn(`upstream failed: ${name}: ${error.message}`);
    return c.json({ error: name }, name === "TimeoutError" ? 504 : 502);
  }
  console.error(error); // a bug in this Worker: log it whole
  return c.json({ error: "internal error" }, 500);
});

export default app;
