/**
 * The sample Worker under attack: each attack of the security review (issue 13), run against a real
 * `wrangler dev` proxying to a real upstream on 127.0.0.1 (not the demo origin), and shown to fail. Each test
 * also shows the mechanism it attacks still working for a legitimate client, so that it cannot pass by
 * accident (nothing stored at all, every endpoint down).
 *
 * Two Workers run: `guarded`, configured as worker/README.md's "Deploying it" says (an upstream, a CONTROL_SECRET),
 * and `unguarded`, with an upstream and no secret.
 */

import http from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DashboardState } from "../../worker/timeline.ts";
import { startUpstream, type Upstream } from "./support/upstream.ts";
import { startWranglerDev, type WranglerDev } from "./support/wrangler-dev.ts";

const SECRET = "correct-horse-battery-staple";
const asOperator = { authorization: `Bearer ${SECRET}` };

let upstream: Upstream;
let guarded: WranglerDev;
let unguarded: WranglerDev;

beforeAll(async () => {
  upstream = await startUpstream();
  // Credentials in the upstream URL: the state view must never show them.
  const withCredentials = upstream.url.replace("http://", "http://operator:hunter2@");
  const vars = { UPSTREAM_URL: `${withCredentials}/v1`, ATTEMPT_TIMEOUT_MS: "1000", TOTAL_TIMEOUT_MS: "3000" };
  [guarded, unguarded] = await Promise.all([
    startWranglerDev({ vars: { ...vars, CONTROL_SECRET: SECRET } }),
    startWranglerDev({ vars, readyStatus: 404 }),
  ]);
}, 120_000);

afterAll(async () => {
  await Promise.allSettled([guarded?.stop(), unguarded?.stop()]);
  await upstream?.close();
});

interface Answer {
  readonly status: number;
  readonly headers: Headers;
  /** The body, or the error that cut it off. */
  readonly body: string;
}

async function get(dev: WranglerDev, path: string, init?: RequestInit): Promise<Answer> {
  const res = await fetch(`${dev.url}${path}`, { ...init, signal: AbortSignal.timeout(10_000) });
  let body: string;
  try {
    body = await res.text();
  } catch (error) {
    body = `body cut off: ${String(error)}`;
  }
  return { status: res.status, headers: res.headers, body };
}

/**
 * A GET sent with node:http, which, unlike fetch, sends any header asked for (`Connection`, `Upgrade`), as a
 * hostile client can; resolves with the status once the body has been read.
 */
function rawGet(dev: WranglerDev, path: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const request = http.get(`${dev.url}${path}`, { headers, timeout: 10_000 }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
      res.on("error", reject);
    });
    request.on("timeout", () => request.destroy(new Error(`GET ${path} timed out`)));
    request.on("error", reject);
  });
}

/**
 * Asks `path` until it is answered from a stale copy, for at most 5 s: the copy is stored in the background
 * (`ctx.waitUntil`), after the answer that carried it.
 */
async function untilStale(dev: WranglerDev, path: string, init?: RequestInit): Promise<Answer> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const answer = await get(dev, path, init);
    if (answer.headers.get("staunch-fallback") === "stale" || Date.now() > deadline) return answer;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function state(dev: WranglerDev): Promise<{ raw: string; parsed: DashboardState }> {
  const res = await fetch(`${dev.url}/__staunch/state`, { headers: asOperator });
  expect(res.status).toBe(200);
  const raw = await res.text();
  return { raw, parsed: JSON.parse(raw) as DashboardState };
}

describe("attack 1: cache poisoning through the query", () => {
  it("a request is never answered with the copy stored for a request with another query", async () => {
    const poisoned = "/api/orders/1?status=cancelled&delay=1";
    expect((await get(guarded, poisoned)).status).toBe(200);
    upstream.set("/v1/orders/1", "down");
    // The copy exists, and answers the request it was stored for...
    const own = await untilStale(guarded, poisoned);
    expect(own.headers.get("staunch-fallback")).toBe("stale");
    expect(JSON.parse(own.body)).toMatchObject({ query: "?status=cancelled&delay=1" });
    // ...but not another query on the same path.
    const other = await get(guarded, "/api/orders/1?status=shipped");
    expect(other.status).toBe(502);
    expect(other.body).not.toContain("cancelled");
  });
});

describe("attack 2: driving the control endpoints", () => {
  it("without a CONTROL_SECRET, every control endpoint and the dashboard are off", async () => {
    for (const [method, path] of [
      ["POST", "/__staunch/reset"],
      ["POST", "/__staunch/outage?seconds=600"],
      ["GET", "/__staunch/state"],
      ["GET", "/"],
    ] as const) {
      const answer = await get(unguarded, path, { method, headers: { origin: "https://evil.example" } });
      expect([method, path, answer.status]).toEqual([method, path, 404]);
    }
    expect((await get(unguarded, "/api/orders/ok")).status).toBe(200); // the proxy itself works
  });

  it("with a CONTROL_SECRET, a reset without it, with a wrong one, or from another site is refused", async () => {
    expect((await get(guarded, "/__staunch/reset", { method: "POST" })).status).toBe(401);
    const wrong = { authorization: `Bearer ${SECRET.slice(0, -1)}x` };
    expect((await get(guarded, "/__staunch/reset", { method: "POST", headers: wrong })).status).toBe(401);
    expect((await get(guarded, "/__staunch/state", { headers: wrong })).status).toBe(401);
    const crossSite = { origin: "https://evil.example", "sec-fetch-site": "cross-site" };
    expect((await get(guarded, "/__staunch/reset", { method: "POST", headers: crossSite })).status).toBe(403);
    // A real upstream has no demo outage to set, whoever asks.
    expect((await get(guarded, "/__staunch/outage", { method: "POST", headers: asOperator })).status).toBe(404);
  });

  it("the state view shows no client's query string and no upstream credentials", async () => {
    expect((await get(guarded, "/api/search/2?token=SECRET-TOKEN-123")).status).toBe(200);
    const { raw, parsed } = await state(guarded);
    expect(parsed.requests.map((r) => r.path)).toContain("/search/2?…");
    expect(raw).not.toContain("SECRET-TOKEN-123");
    expect(raw).not.toContain("hunter2");
    expect(raw).not.toContain("operator");
    expect(parsed.upstream).toBe(`${upstream.url}/v1`);
  });
});

describe("attack 3: a truncated body stored as complete", () => {
  it("a 200 whose connection drops after 1,000 of 100,000 promised bytes is never served later", async () => {
    upstream.set("/v1/big", "truncated");
    const cut = await get(guarded, "/api/big");
    expect(cut.body.length).toBeLessThan(100_000);
    expect((await get(guarded, "/api/whole")).status).toBe(200);
    upstream.set("/v1/big", "down");
    upstream.set("/v1/whole", "down");
    // The whole body was stored and answers (so copies are being stored at all)...
    expect((await untilStale(guarded, "/api/whole")).headers.get("staunch-fallback")).toBe("stale");
    // ...the cut one was not.
    const later = await get(guarded, "/api/big");
    expect(later.status).toBe(502);
    expect(later.headers.has("staunch-fallback")).toBe(false);
  });
});

describe("attack 4: requests with cookies and the cache", () => {
  it("a request with a Cookie is neither stored nor answered from a stored copy, and the Cookie stays here", async () => {
    const withCookie = { headers: { cookie: "session=alice" } };
    expect((await get(guarded, "/api/profile/1", withCookie)).status).toBe(200);
    expect(upstream.received.filter((r) => r.url === "/v1/profile/1").map((r) => r.headers.cookie)).toEqual([
      undefined,
    ]);
    expect((await get(guarded, "/api/profile/2")).status).toBe(200); // anonymous: stored
    upstream.set("/v1/profile/1", "down");
    upstream.set("/v1/profile/2", "down");
    expect((await untilStale(guarded, "/api/profile/2")).headers.get("staunch-fallback")).toBe("stale");
    const own = await get(guarded, "/api/profile/1", withCookie);
    expect(own.status).toBe(502); // alice's answer was not stored
    const others = await get(guarded, "/api/profile/2", { headers: { cookie: "session=bob" } });
    expect(others.status).toBe(502); // nor is the anonymous copy handed to a request with cookies
    expect(others.headers.has("staunch-fallback")).toBe(false);
  });
});

describe("attack 5: internal headers reaching the upstream", () => {
  it("no header of the Worker's own reaches the upstream, on a GET or on a POST", async () => {
    const before = upstream.received.length;
    expect((await get(guarded, "/api/headers/1")).status).toBe(200);
    expect((await get(guarded, "/api/headers/1", { method: "POST", body: "x" })).status).toBe(200);
    const sent = upstream.received.slice(before);
    expect(sent.map((r) => r.method)).toEqual(["GET", "POST"]);
    expect(sent.flatMap((r) => Object.keys(r.headers)).filter((name) => /staunch/i.test(name))).toEqual([]);
  });
});

describe("attack 5b: a client's own headers and paths as orders to the upstream", () => {
  it("hop-by-hop headers, proxy credentials and forwarding claims do not reach the upstream", async () => {
    const hostile = {
      connection: "Upgrade",
      upgrade: "websocket",
      "proxy-authorization": "Basic b3BlcmF0b3I6aHVudGVyMg==",
      forwarded: "for=10.0.0.1;host=evil.example",
      "x-forwarded-for": "10.0.0.1",
      "x-forwarded-host": "evil.example",
      "x-real-ip": "10.0.0.1",
      "x-http-method-override": "DELETE",
      "x-tenant": "acme", // an ordinary header: passed on
    };
    expect(await rawGet(guarded, "/api/headers/2", hostile)).toBe(200);
    const sent = upstream.received.filter((r) => r.url === "/v1/headers/2");
    expect(sent.map((r) => r.headers["x-tenant"])).toEqual(["acme"]);
    const names = Object.keys(sent[0]?.headers ?? {});
    for (const name of [...Object.keys(hostile).filter((name) => name !== "x-tenant"), "sec-websocket-key"]) {
      expect([name, names.includes(name)]).toEqual([name, false]); // workerd adds the WebSocket key to an Upgrade
    }
  });

  it("a path that climbs out of the upstream's base path once decoded is refused, not sent", async () => {
    for (const path of ["/api/..%2f..%2fadmin", "/api/x/%2e%2e%5c%2e%2e%5cadmin"]) {
      expect([path, (await get(guarded, path)).status]).toEqual([path, 400]);
    }
    expect(upstream.received.filter((r) => /admin/.test(r.url))).toEqual([]);
    expect((await get(guarded, "/api/names/a%2Fb")).status).toBe(200); // an encoded slash in a name passes
  });

  it("a request with a credential in a header of the upstream's naming is neither stored nor served a copy", async () => {
    expect((await get(guarded, "/api/me/1", { headers: { "x-api-key": "alice" } })).status).toBe(200);
    expect((await get(guarded, "/api/me/2")).status).toBe(200); // anonymous: stored
    upstream.set("/v1/me/1", "down");
    upstream.set("/v1/me/2", "down");
    expect((await untilStale(guarded, "/api/me/2")).headers.get("staunch-fallback")).toBe("stale");
    expect((await get(guarded, "/api/me/1")).status).toBe(502); // alice's answer was not stored
    const others = await get(guarded, "/api/me/2", { headers: { "x-api-key": "bob" } });
    expect(others.headers.has("staunch-fallback")).toBe(false);
  });
});

describe("attack 6: one client opening the circuit for everyone", () => {
  it("a path answering 500 opens no circuit, however often it is asked", async () => {
    upstream.set("/v1/broken/x", 500);
    for (let i = 0; i < 30; i++) expect((await get(guarded, "/api/broken/x")).status).toBe(500);
    expect((await get(guarded, "/api/broken/y")).status).toBe(200); // the same route
    expect((await get(guarded, "/api/catalog/3")).status).toBe(200);
    const { parsed } = await state(guarded);
    expect(parsed.breakers.find((b) => b.key.endsWith("/v1/broken"))?.circuit).toBe("closed");
  });

  it("a route answering 503 opens its own circuit only, and an unauthenticated reset cannot close it", async () => {
    upstream.set("/v1/flaky/x", 503);
    let failedFast: Answer | undefined;
    for (let i = 0; i < 40 && failedFast === undefined; i++) {
      const answer = await get(guarded, "/api/flaky/x");
      if (answer.headers.get("staunch-error") === "CircuitOpenError") failedFast = answer;
    }
    expect(failedFast?.status).toBe(503); // the flaky route's own circuit opened...
    expect((await get(guarded, "/api/catalog/4")).status).toBe(200); // ...and other routes are served
    expect((await get(guarded, "/api/broken/z")).status).toBe(200);
    expect((await get(guarded, "/__staunch/reset", { method: "POST" })).status).toBe(401);
    const { parsed } = await state(guarded);
    const key = `${upstream.url}/v1/flaky`;
    expect(parsed.breakers.find((b) => b.key === key)?.circuit).toBe("open");
    // Fleet-wide too: the Durable Object's circuit for the route is still open.
    expect(parsed.fleet.keys.find((k) => k.key === key)?.circuit).toBe("open");
    for (const route of ["catalog", "broken"]) {
      expect(parsed.breakers.find((b) => b.key === `${upstream.url}/v1/${route}`)?.circuit).toBe("closed");
    }
  });
});

describe("attack 7: what a failure answer tells an anonymous client", () => {
  it("neither a dropped connection's answer nor an open circuit's names the upstream", async () => {
    const address = upstream.url.replace("http://", "");
    upstream.set("/v1/gone/x", "down");
    const dropped = await get(guarded, "/api/gone/x");
    expect(dropped.status).toBe(502);
    expect(dropped.body).not.toContain(address);
    upstream.set("/v1/leaky/x", 503);
    let failedFast: Answer | undefined;
    for (let i = 0; i < 40 && failedFast === undefined; i++) {
      const answer = await get(guarded, "/api/leaky/x");
      if (answer.headers.get("staunch-error") === "CircuitOpenError") failedFast = answer;
    }
    expect(failedFast?.status).toBe(503);
    expect(failedFast?.body).not.toContain(address);
  });
});

describe("attack 8: an upstream status no Response may have", () => {
  it("a path answering 999 gets a 502 from the Worker, not an exception out of its handler", async () => {
    upstream.set("/v1/odd/x", 999);
    const answer = await get(guarded, "/api/odd/x");
    expect(answer.status).toBe(502);
    expect(answer.headers.get("staunch-error")).toBe("InvalidStatus");
    expect((await get(guarded, "/api/odd/y")).status).toBe(200); // the route itself works
  });
});

describe("the Workers under attack", () => {
  it("handled every attack without an unhandled error", () => {
    expect(guarded.unhandledErrors()).toEqual([]);
    expect(unguarded.unhandledErrors()).toEqual([]);
  });
});
