/**
 * The sample Worker inside workerd: proxying to the demo origin, retries, the breaker, stale answers from
 * caches.default with a correct Age, the caching safety rules, and the dashboard's state.
 */

import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { beforeEach, describe, expect, it } from "vitest";
import worker, { type Env } from "../../worker/index.ts";
import type { DashboardState } from "../../worker/timeline.ts";

/** Fast settings for tests; the embedded defaults are for people watching the dashboard. */
const testEnv: Env = {
  ...(env as Env),
  ATTEMPT_TIMEOUT_MS: "200",
  TOTAL_TIMEOUT_MS: "2000",
  BREAKER_MIN_THROUGHPUT: "5",
};

async function call(path: string, init?: RequestInit, workerEnv: Env = testEnv): Promise<Response> {
  const ctx = createExecutionContext();
  const res = await worker.fetch(new Request(`http://127.0.0.1:8787${path}`, init), workerEnv, ctx);
  await waitOnExecutionContext(ctx); // the cache.put happens in ctx.waitUntil
  return res;
}

async function state(): Promise<DashboardState> {
  return (await call("/__staunch/state")).json();
}

let pathCounter = 0;
/** A path no other test has used, so cached copies never leak between tests; all on the route /items. */
const freshPath = () => `/api/items/${Date.now()}-${pathCounter++}`;

describe("the sample Worker", () => {
  beforeEach(async () => {
    await (await call("/__staunch/reset", { method: "POST" })).text();
  });

  it("serves the dashboard at /", async () => {
    const res = await call("/");
    expect(res.headers.get("content-type")).toMatch("text/html");
    expect(await res.text()).toMatch("<h1>staunch at the edge</h1>");
  });

  it("forbids other sites to frame the dashboard", async () => {
    const res = await call("/");
    expect(res.headers.get("content-security-policy")).toBe("frame-ancestors 'none'");
    await res.text();
  });

  it("proxies /api/* to the demo origin and answers fresh", async () => {
    const path = freshPath();
    const res = await call(path);
    expect(res.status).toBe(200);
    expect(res.headers.has("staunch-fallback")).toBe(false);
    expect(res.headers.get("staunch-attempts")).toBe("1");
    expect(((await res.json()) as { path: string }).path).toBe(path.slice(4));
  });

  it("refuses the dashboard data to a page of another site", async () => {
    const res = await call("/__staunch/state", { headers: { "sec-fetch-site": "cross-site" } });
    expect(res.status).toBe(403);
    await res.text();
  });

  it("answers from the stale copy, marked and with its age, when the origin is down", async () => {
    const path = freshPath();
    await (await call(path)).text();
    const res = await call(`${path}?down=1`);
    expect(res.status).toBe(200);
    expect(res.headers.get("staunch-fallback")).toBe("stale");
    expect(Number(res.headers.get("age"))).toBeGreaterThanOrEqual(0);
    expect(res.headers.get("staunch-attempts")).toBe("3"); // retried before falling back
    expect(((await res.json()) as { path: string }).path).toBe(path.slice(4));
  });

  it("answers from the stale copy after every attempt timed out", async () => {
    const path = freshPath();
    await (await call(path)).text();
    const res = await call(`${path}?stall=1`);
    expect(res.headers.get("staunch-fallback")).toBe("stale");
    await res.text();
    const [latest] = (await state()).requests;
    expect(latest?.attempts.map((a) => a.outcome)).toEqual(["TimeoutError", "TimeoutError", "TimeoutError"]);
    expect(latest?.result).toMatchObject({ source: "stale", reason: "timeout" });
  });

  it("answers fresh again once the origin recovers", async () => {
    const path = freshPath();
    await (await call(path)).text();
    await (await call(`${path}?down=1`)).text();
    const res = await call(path);
    expect(res.headers.has("staunch-fallback")).toBe(false);
    await res.text();
  });

  it("answers a 502 with the error's name when the origin is down and nothing is stored", async () => {
    const res = await call(`${freshPath()}?down=1`);
    expect(res.status).toBe(502);
    expect(res.headers.get("staunch-error")).toBe("Error");
    await res.text();
  });

  it("opens the breaker after repeated failures, fails fast, and the stale copy still answers", async () => {
    const path = freshPath();
    await (await call(path)).text();
    for (let i = 0; i < 5; i++) await (await call(`${path}?down=1`)).text(); // 5 failed calls (not attempts) ≥ 5
    expect((await state()).breakers).toEqual([
      expect.objectContaining({ key: "https://demo.origin/items", circuit: "open" }),
    ]);
    const res = await call(`${path}?down=1`);
    expect(res.headers.get("staunch-fallback")).toBe("stale");
    expect(res.headers.get("staunch-attempts")).toBe("0"); // the open circuit answered without calling
    await res.text();
    const [latest] = (await state()).requests;
    expect(latest?.result).toMatchObject({ source: "stale", reason: "circuit-open" });
    const unstored = await call(`${freshPath()}?down=1`);
    expect(unstored.status).toBe(503);
    expect(unstored.headers.get("staunch-error")).toBe("CircuitOpenError");
    expect(Number(unstored.headers.get("retry-after"))).toBeGreaterThan(0);
    await unstored.text();
  });

  it("keeps a breaker per route: one route's open circuit leaves another's closed", async () => {
    for (let i = 0; i < 5; i++) await (await call(`${freshPath()}?down=1`)).text(); // 5 failed calls ≥ 5
    const res = await call(`/api/prices/${Date.now()}`);
    expect(res.status).toBe(200);
    await res.text();
    expect((await state()).breakers.map((b) => [b.key, b.circuit])).toEqual([
      ["https://demo.origin/items", "open"],
      ["https://demo.origin/prices", "closed"],
    ]);
  });

  it("keeps a route's open circuit when a client names a hundred new routes (no eviction closes it)", async () => {
    for (let i = 0; i < 5; i++) await (await call(`${freshPath()}?down=1`)).text(); // opens /items
    for (let i = 0; i < 100; i++) await (await call(`/api/route-${Date.now()}-${i}`)).text();
    const items = (await state()).breakers.find((b) => b.key === "https://demo.origin/items");
    expect(items?.circuit).toBe("open");
    const res = await call(`${freshPath()}?down=1`);
    expect(res.headers.get("staunch-attempts")).toBe("0"); // the open circuit answered, no attempt leaked
    await res.text();
  });

  it("does not count a path's own 500 against the upstream, nor retry it", async () => {
    for (let i = 0; i < 8; i++) await (await call(`${freshPath()}?status=500`)).text();
    const { breakers, requests } = await state();
    expect(breakers[0]?.circuit).toBe("closed");
    expect(requests[0]?.attempts.map((a) => a.outcome)).toEqual(["500"]);
  });

  it("honours Retry-After between attempts and shows the waits on the timeline", async () => {
    const res = await call(`${freshPath()}?status=503&retryAfter=1`);
    expect(res.status).toBe(503); // nothing stored: the last 503 is returned as is
    await res.text();
    const [latest] = (await state()).requests;
    // Slept the asked 1 s before attempt 2; a second 1 s wait would end past the 2 s total deadline, so the
    // second 503 was returned at once instead of a third attempt.
    expect(latest?.attempts).toHaveLength(2);
    expect(latest?.attempts[1]?.delayBeforeMs).toBeGreaterThanOrEqual(900);
  }, 10_000);

  it("never answers a request with Authorization from the cache", async () => {
    const path = freshPath();
    await (await call(path)).text();
    const res = await call(`${path}?down=1`, { headers: { authorization: "Bearer secret" } });
    expect(res.status).toBe(502);
    expect(res.headers.has("staunch-fallback")).toBe(false);
    await res.text();
  });

  it("records each request's attempts, waits and answer for the dashboard", async () => {
    await (await call(`${freshPath()}?status=502`)).text();
    const { requests, breakers } = await state();
    expect(requests[0]?.attempts.map((a) => a.outcome)).toEqual(["502", "502", "502"]);
    // A 502 with nothing stored is passed through, and shown as the failure it is.
    expect(requests[0]?.result).toMatchObject({ status: 502, source: "error", reason: "result" });
    expect(breakers).toEqual([
      { key: "https://demo.origin/items", circuit: "closed", circuitRetryAfterMs: 0, pausedForMs: 0 },
    ]);
  });

  it("shows the demo's failure switches of a request but none of the rest of its query", async () => {
    await (await call("/api/items/x?down=1&token=SECRET-123")).text();
    const { requests } = await state();
    expect(requests[0]?.path).toBe("/items/x?down=1&…");
    const other = await call("/api/items/y?token=SECRET-456");
    await other.text();
    expect(JSON.stringify(await state())).not.toContain("SECRET");
  });

  it("never answers a request with a Cookie from the cache, though the upstream never sees the Cookie", async () => {
    const path = freshPath();
    await (await call(path, { headers: { cookie: "session=alice" } })).text();
    const res = await call(`${path}?down=1`);
    expect(res.status).toBe(502); // the cookie request's answer was not stored
    await res.text();
    await (await call(path)).text(); // stored by an anonymous request
    const withCookie = await call(`${path}?down=1`, { headers: { cookie: "session=bob" } });
    expect(withCookie.status).toBeGreaterThanOrEqual(502); // 502, or 503 once the failures opened the circuit
    expect(withCookie.headers.has("staunch-fallback")).toBe(false);
    await withCookie.text();
  });

  it("names the error of a failure but never quotes its message, which names the upstream", async () => {
    for (let i = 0; i < 5; i++) await (await call(`${freshPath()}?down=1`)).text(); // opens /items' circuit
    const res = await call(`${freshPath()}?down=1`);
    expect(res.headers.get("staunch-error")).toBe("CircuitOpenError");
    const body = await res.text();
    expect(JSON.parse(body)).toMatchObject({ error: "CircuitOpenError" });
    expect(body).not.toContain("demo.origin");
  });

  it("never stores or answers from a copy a request with a credential in a header of the upstream's naming", async () => {
    const path = freshPath();
    const withKey = { headers: { "x-api-key": "alice" } };
    await (await call(path, withKey)).text();
    const own = await call(`${path}?down=1`);
    expect(own.status).toBe(502); // alice's answer was not stored
    await own.text();
    await (await call(path)).text(); // stored by an anonymous request
    const others = await call(`${path}?down=1`, { headers: { "x-auth-token": "bob" } });
    expect(others.headers.has("staunch-fallback")).toBe(false);
    await others.text();
    const anonymous = await call(`${path}?down=1`);
    expect(anonymous.headers.get("staunch-fallback")).toBe("stale"); // the copy exists
    await anonymous.text();
  });

  it("refuses TRACE, which an upstream answers with the headers it received", async () => {
    const res = await call(freshPath(), { method: "TRACE" });
    expect(res.status).toBe(405);
    await res.text();
    expect((await state()).requests).toEqual([]); // never sent
  });

  it("refuses a path that leaves the upstream's base path once the upstream decodes it", async () => {
    for (const path of ["/api/..%2f..%2fadmin", "/api/items/%2e%2e%5C%2e%2e%5Cadmin"]) {
      const res = await call(path);
      expect([path, res.status]).toEqual([path, 400]);
      await res.text();
    }
    const encodedSlash = await call("/api/items/a%2Fb");
    expect(encodedSlash.status).toBe(200); // an encoded slash inside a name is the upstream's to read
    await encodedSlash.text();
  });

  it("takes the demo origin down for everyone on request", async () => {
    const path = freshPath();
    await (await call(path)).text();
    await (await call("/__staunch/outage?seconds=30", { method: "POST" })).text();
    const res = await call(path);
    expect(res.headers.get("staunch-fallback")).toBe("stale");
    await res.text();
    expect((await state()).outageUntil).toBeGreaterThan(Date.now());
  });
});

describe("the sample Worker deployed with the demo origin and no CONTROL_SECRET", () => {
  it("keeps the control endpoints and the dashboard off for any host but a loopback one", async () => {
    for (const origin of ["https://staunch-demo.someone.workers.dev", "http://rebound.evil.example:8787"]) {
      for (const [path, method] of [
        ["/", "GET"],
        ["/__staunch/state", "GET"],
        ["/__staunch/reset", "POST"],
        ["/__staunch/outage?seconds=600", "POST"],
      ] as const) {
        const ctx = createExecutionContext();
        const res = await worker.fetch(new Request(`${origin}${path}`, { method }), testEnv, ctx);
        await waitOnExecutionContext(ctx);
        expect([origin, path, res.status]).toEqual([origin, path, 404]);
        await res.text();
      }
    }
    const local = await call("/__staunch/state"); // on this machine, they answer
    expect(local.status).toBe(200);
    await local.text();
  });
});

describe("the sample Worker's proxying", () => {
  it("passes on the client's headers but for hop-by-hop ones, proxy credentials and forwarding claims", async () => {
    const { forwardedHeaders } = await import("../../worker/forwarding.ts");
    const incoming = new Headers({
      accept: "application/json",
      "x-api-key": "alice",
      host: "evil.example",
      connection: "keep-alive",
      "keep-alive": "timeout=5",
      upgrade: "websocket",
      "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
      "proxy-authorization": "Basic YTpi",
      forwarded: "for=10.0.0.1;host=evil.example",
      "x-forwarded-for": "10.0.0.1",
      "x-forwarded-host": "evil.example",
      "x-real-ip": "10.0.0.1",
      "x-http-method-override": "DELETE",
    });
    expect([...forwardedHeaders(incoming)]).toEqual([
      ["accept", "application/json"],
      ["x-api-key", "alice"],
    ]);
  });

  it("never sends a request to a host other than the upstream, whatever the path says", async () => {
    const { upstreamUrl } = await import("../../worker/index.ts");
    const base = "https://api.example.com/v1/";
    for (const path of [
      "/api//169.254.169.254/latest/meta-data",
      "/api/..//evil.example/x",
      "/api/%2F%2Fevil.example",
    ]) {
      expect(upstreamUrl(base, new URL(`https://demo.example${path}`)).origin).toBe("https://api.example.com");
    }
    expect(upstreamUrl(base, new URL("https://demo.example/api/items?x=1")).href).toBe(
      "https://api.example.com/v1/items?x=1",
    );
  });
});

describe("the sample Worker's control endpoints with a real upstream", () => {
  const upstream: Env = { ...testEnv, UPSTREAM_URL: "https://user:hunter2@api.example.com/v1?key=abc" };

  it("are off when no CONTROL_SECRET is set", async () => {
    for (const [path, method] of [
      ["/", "GET"],
      ["/__staunch/state", "GET"],
      ["/__staunch/reset", "POST"],
    ] as const) {
      const res = await call(path, { method }, upstream);
      expect(res.status).toBe(404);
      await res.text();
    }
  });

  it("answer only to the CONTROL_SECRET, and show the upstream without its credentials or query", async () => {
    const withSecret: Env = { ...upstream, CONTROL_SECRET: "s3cret" };
    const denied = await call("/__staunch/state", { headers: { authorization: "Bearer wrong" } }, withSecret);
    expect(denied.status).toBe(401);
    await denied.text();
    const res = await call("/__staunch/state", { headers: { authorization: "Bearer s3cret" } }, withSecret);
    expect(res.status).toBe(200);
    const body = await res.text();
    expect((JSON.parse(body) as DashboardState).upstream).toBe("https://api.example.com/v1?…");
    expect(body).not.toMatch(/hunter2|key=abc/);
  });
});
