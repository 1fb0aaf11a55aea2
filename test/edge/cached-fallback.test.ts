/**
 * Stale-if-error against the real Cache API of each runtime that has one (workerd, Chromium, Deno), on a
 * fake clock. Every test uses its own cache, so no test sees another's copies.
 */

import { describe, expect, it } from "vitest";
import { CircuitOpenError, cachedFallback, FALLBACK_HEADER, on, type StaleServedEvent } from "../../src/index.ts";
import { FakeClock } from "../support/fake-clock.ts";

const inBrowser = typeof (globalThis as { document?: unknown }).document !== "undefined";
let cacheCounter = 0;
const freshCache = () => caches.open(`staunch-test-${Date.now()}-${cacheCounter++}`);

const ok = (body: string, headers: Record<string, string> = {}) =>
  new Response(body, { headers: { "cache-control": "public, max-age=10", ...headers } });

/** An origin whose next answer the test sets: a Response, a function making one, or an error to throw. */
function scriptedOrigin() {
  let next: Response | Error | (() => Response) = () => ok("first");
  let calls = 0;
  const origin = async (_request: Request): Promise<Response> => {
    calls++;
    if (next instanceof Error) throw next;
    // A Response is a template: each call gets its own copy, as from a real origin.
    return typeof next === "function" ? next() : next.clone();
  };
  return {
    origin,
    set: (value: Response | Error | (() => Response)) => {
      next = value;
    },
    calls: () => calls,
  };
}

async function setup(options: Partial<Parameters<typeof cachedFallback>[1]> = {}) {
  const clock = new FakeClock();
  const cache = await freshCache();
  const scripted = scriptedOrigin();
  const events: StaleServedEvent[] = [];
  const fetchWithFallback = cachedFallback(scripted.origin, {
    cache,
    env: clock,
    telemetry: on("stale-served", (e) => events.push(e)),
    ...options,
  });
  return { clock, cache, ...scripted, fetchWithFallback, events };
}

const url = (path: string) => `https://origin.example/${path}`;

/** A header of the answer, after reading its body (an unread body is an open resource). */
async function headerOf(pending: Promise<Response>, name: string): Promise<string | null> {
  const res = await pending;
  await res.arrayBuffer();
  return res.headers.get(name);
}
const ageOf = (pending: Promise<Response>) => headerOf(pending, "age");
const markOf = (pending: Promise<Response>) => headerOf(pending, FALLBACK_HEADER);

describe("cachedFallback", () => {
  it("serves the stored copy, marked stale with its age, when the origin throws", async () => {
    const { fetchWithFallback, set, clock, events } = await setup();
    expect(await (await fetchWithFallback(new Request(url("a")))).text()).toBe("first");
    clock.nowMs += 42_000;
    set(new TypeError("fetch failed"));
    const res = await fetchWithFallback(new Request(url("a")));
    expect(await res.text()).toBe("first");
    expect(res.headers.get(FALLBACK_HEADER)).toBe("stale");
    expect(res.headers.get("age")).toBe("42");
    expect(res.headers.get("cache-control")).toBe("no-store");
    expect(events.map((e) => [e.reason, e.ageSeconds])).toEqual([["error", 42]]);
  });

  it("shows the URL in its event as createFetch's events do: without the query, which may hold a token", async () => {
    const { fetchWithFallback, set, events } = await setup();
    await (await fetchWithFallback(new Request(url("a?token=secret")))).text();
    set(new TypeError("fetch failed"));
    await (await fetchWithFallback(new Request(url("a?token=secret")))).text();
    expect(events.map((e) => e.url)).toEqual(["https://origin.example/a?…"]);
  });

  it("counts the Age the origin's answer already had", async () => {
    const { fetchWithFallback, set, clock } = await setup();
    set(ok("aged", { age: "100" }));
    await (await fetchWithFallback(new Request(url("aged")))).text();
    clock.nowMs += 5_000;
    set(new TypeError("fetch failed"));
    expect(await ageOf(fetchWithFallback(new Request(url("aged"))))).toBe("105");
  });

  it("serves the stored copy for a 5xx answer and cancels that answer's body", async () => {
    const { fetchWithFallback, set } = await setup();
    await (await fetchWithFallback(new Request(url("b")))).text();
    let cancelled = false;
    const body = new ReadableStream({
      cancel() {
        cancelled = true;
      },
    });
    set(() => new Response(body, { status: 503 }));
    const res = await fetchWithFallback(new Request(url("b")));
    expect(res.status).toBe(200);
    expect(res.headers.get(FALLBACK_HEADER)).toBe("stale");
    await res.text();
    expect(cancelled).toBe(true);
  });

  it("passes a fresh answer through, unmarked, when the origin recovers", async () => {
    const { fetchWithFallback, set } = await setup();
    await (await fetchWithFallback(new Request(url("c")))).text();
    set(new TypeError("fetch failed"));
    await (await fetchWithFallback(new Request(url("c")))).text();
    set(ok("second"));
    const res = await fetchWithFallback(new Request(url("c")));
    expect(await res.text()).toBe("second");
    expect(res.headers.has(FALLBACK_HEADER)).toBe(false);
  });

  it("honours the response's stale-if-error: no copy older than max-age + stale-if-error", async () => {
    const { fetchWithFallback, set, clock } = await setup();
    set(ok("limited", { "cache-control": "public, max-age=10, stale-if-error=60" }));
    await (await fetchWithFallback(new Request(url("d")))).text();
    set(new TypeError("fetch failed"));
    clock.nowMs += 70_000;
    expect(await ageOf(fetchWithFallback(new Request(url("d"))))).toBe("70");
    clock.nowMs += 1_000;
    await expect(fetchWithFallback(new Request(url("d")))).rejects.toThrow("fetch failed");
  });

  it("uses maxStaleMs when the response has no stale-if-error", async () => {
    const { fetchWithFallback, set, clock } = await setup({ maxStaleMs: 30_000 });
    await (await fetchWithFallback(new Request(url("e")))).text(); // max-age=10
    set(new Response("down", { status: 502 }));
    clock.nowMs += 40_000;
    expect(await markOf(fetchWithFallback(new Request(url("e"))))).toBe("stale");
    clock.nowMs += 1_000;
    const res = await fetchWithFallback(new Request(url("e")));
    expect(res.status).toBe(502); // nothing young enough: the failure itself
    await res.text();
  });

  it("says why: an open circuit and a timeout are told apart", async () => {
    const { fetchWithFallback, set, events } = await setup();
    await (await fetchWithFallback(new Request(url("f")))).text();
    set(new CircuitOpenError(5_000, "https://origin.example"));
    await (await fetchWithFallback(new Request(url("f")))).text();
    set(new DOMException("late", "TimeoutError"));
    await (await fetchWithFallback(new Request(url("f")))).text();
    expect(events.map((e) => e.reason)).toEqual(["circuit-open", "timeout"]);
  });

  it("says result, with the status, for a response it answered for", async () => {
    const { fetchWithFallback, set, events } = await setup();
    await (await fetchWithFallback(new Request(url("r")))).text();
    set(new Response("down", { status: 503 }));
    await (await fetchWithFallback(new Request(url("r")))).text();
    expect(events.map((e) => [e.reason, e.status])).toEqual([["result", 503]]);
  });

  it("answers for the outcomes shouldHandle picks, a 404 included, and hands it the request", async () => {
    const requests: string[] = [];
    const { fetchWithFallback, set } = await setup({
      shouldHandle: (outcome, { request }) => {
        requests.push(request.url);
        return outcome.ok && outcome.result.status === 404;
      },
    });
    await (await fetchWithFallback(new Request(url("h")))).text();
    set(new Response("gone", { status: 404 }));
    expect(await markOf(fetchWithFallback(new Request(url("h"))))).toBe("stale");
    expect(requests).toEqual([url("h"), url("h")]);
  });

  it("passes on an error shouldHandle turns down, without a stored copy", async () => {
    const { fetchWithFallback, set } = await setup({ shouldHandle: (outcome) => outcome.ok });
    await (await fetchWithFallback(new Request(url("i")))).text();
    const refused = new CircuitOpenError(5_000);
    set(refused);
    await expect(fetchWithFallback(new Request(url("i")))).rejects.toBe(refused);
  });

  it("answers HEAD from the stored GET copy, without a body", async () => {
    const { fetchWithFallback, set } = await setup();
    await (await fetchWithFallback(new Request(url("g")))).text();
    set(new TypeError("fetch failed"));
    const res = await fetchWithFallback(new Request(url("g"), { method: "HEAD" }));
    expect(res.headers.get(FALLBACK_HEADER)).toBe("stale");
    expect(res.body).toBeNull();
  });

  it("rethrows the origin's error when nothing is stored", async () => {
    const { fetchWithFallback, set } = await setup();
    set(new TypeError("fetch failed"));
    await expect(fetchWithFallback(new Request(url("nothing")))).rejects.toThrow("fetch failed");
  });

  it("does not answer a caller who has left", async () => {
    const { fetchWithFallback, set } = await setup();
    await (await fetchWithFallback(new Request(url("h")))).text();
    const controller = new AbortController();
    controller.abort(new Error("gone"));
    set(new DOMException("aborted", "AbortError"));
    await expect(fetchWithFallback(new Request(url("h"), { signal: controller.signal }))).rejects.toThrow("aborted");
  });
});

describe("cachedFallback: what is never stored or served", () => {
  const unsafeRequests: Array<[string, RequestInit]> = [
    ["a request with Authorization", { headers: { authorization: "Bearer token" } }],
    ["a request with a Cookie", { headers: { cookie: "session=abc" } }],
    ["a request with Proxy-Authorization", { headers: { "proxy-authorization": "Basic YWxpY2U6cHc=" } }],
  ];
  for (const [label, init] of unsafeRequests) {
    // Browsers drop a Cookie or Proxy-Authorization header set by script, so those cases cannot arise there.
    it.skipIf(inBrowser && !label.endsWith("with Authorization"))(
      `${label} is neither stored nor answered from the store`,
      async () => {
        const { fetchWithFallback, set, cache } = await setup();
        await (await fetchWithFallback(new Request(url("private"), init))).text();
        expect(await cache.match(url("private"))).toBeUndefined();
        await (await fetchWithFallback(new Request(url("private")))).text(); // stored by an anonymous request
        set(new TypeError("fetch failed"));
        await expect(fetchWithFallback(new Request(url("private"), init))).rejects.toThrow("fetch failed");
      },
    );
  }

  it("a request with Authorization is not stored, even under a cache key function's key", async () => {
    const { fetchWithFallback, set, cache } = await setup({ cacheKey: (request) => request.url });
    const init = { headers: { authorization: "Bearer alice" } };
    await (await fetchWithFallback(new Request(url("key-fn"), init))).text();
    expect(await cache.match(url("key-fn"))).toBeUndefined();
    await (await fetchWithFallback(new Request(url("key-fn")))).text(); // stored by an anonymous request
    set(new TypeError("fetch failed"));
    await expect(fetchWithFallback(new Request(url("key-fn"), init))).rejects.toThrow("fetch failed");
  });

  it("a request with Authorization is cached under a per-user key when perUserKey says the key tells users apart", async () => {
    const { fetchWithFallback, set } = await setup({
      // A key is a URL for the Cache API, which ignores fragments: put the user in the path or query.
      cacheKey: (request) => `${request.url}?user=${encodeURIComponent(request.headers.get("authorization") ?? "")}`,
      perUserKey: true,
    });
    const init = { headers: { authorization: "Bearer alice" } };
    await (await fetchWithFallback(new Request(url("mine"), init))).text();
    set(new TypeError("fetch failed"));
    expect(await markOf(fetchWithFallback(new Request(url("mine"), init)))).toBe("stale");
    await expect(
      fetchWithFallback(new Request(url("mine"), { headers: { authorization: "Bearer bob" } })),
    ).rejects.toThrow();
  });

  const unsafeResponses: Array<[string, Record<string, string>]> = [
    ["Cache-Control: private", { "cache-control": "private, max-age=60" }],
    ["Cache-Control: no-store", { "cache-control": "no-store" }],
    ["Set-Cookie", { "set-cookie": "session=abc" }],
    ["Cache-Control: no-cache", { "cache-control": "public, no-cache" }],
    ["Cache-Control: must-revalidate", { "cache-control": "public, max-age=60, must-revalidate" }],
    ["Cache-Control: proxy-revalidate", { "cache-control": "public, max-age=60, proxy-revalidate" }],
    ["Vary: X-Tenant", { vary: "X-Tenant" }],
    ["Vary: *", { vary: "*" }],
  ];
  for (const [label, headers] of unsafeResponses) {
    // Browsers hide Set-Cookie from script (a forbidden response header), so the case cannot arise there.
    it.skipIf(inBrowser && label === "Set-Cookie")(`a response with ${label} is not stored`, async () => {
      const { fetchWithFallback, set, cache } = await setup();
      set(ok("personal", headers));
      await (await fetchWithFallback(new Request(url("personal")))).text();
      expect(await cache.match(url("personal"))).toBeUndefined();
    });
  }

  it("a response that varies only on Accept-Encoding is stored", async () => {
    const { fetchWithFallback, set, cache } = await setup();
    set(ok("compressible", { vary: "Accept-Encoding" }));
    await (await fetchWithFallback(new Request(url("gzip")))).text();
    expect(await (await cache.match(url("gzip")))?.text()).toBe("compressible");
  });

  it("a POST is neither stored nor answered from the store", async () => {
    const { fetchWithFallback, set, cache } = await setup();
    await (await fetchWithFallback(new Request(url("form")))).text();
    await (await fetchWithFallback(new Request(url("form"), { method: "POST", body: "x" }))).text();
    set(new TypeError("fetch failed"));
    await expect(fetchWithFallback(new Request(url("form"), { method: "POST", body: "x" }))).rejects.toThrow();
    expect(await (await cache.match(url("form")))?.text()).toBe("first");
  });

  it("a body shorter than its Content-Length is not stored", async () => {
    const { fetchWithFallback, set, cache } = await setup();
    set(
      () =>
        new Response(new Uint8Array(1_000), {
          headers: { "cache-control": "public, max-age=60", "content-length": "100000" },
        }),
    );
    await (await fetchWithFallback(new Request(url("short")))).arrayBuffer();
    expect(await cache.match(url("short"))).toBeUndefined();
  });

  it("a body larger than maxStoredBodyBytes is passed on whole but not stored", async () => {
    const { fetchWithFallback, set, cache } = await setup({ maxStoredBodyBytes: 1_000 });
    set(() => new Response(new Uint8Array(1_001), { headers: { "cache-control": "public, max-age=60" } }));
    expect((await (await fetchWithFallback(new Request(url("large")))).arrayBuffer()).byteLength).toBe(1_001);
    expect(await cache.match(url("large"))).toBeUndefined();
  });

  it("a body that matches its Content-Length is stored whole", async () => {
    const { fetchWithFallback, set, cache } = await setup();
    set(
      () =>
        new Response(new Uint8Array(1_000).fill(7), {
          headers: { "cache-control": "public, max-age=60", "content-length": "1000" },
        }),
    );
    await (await fetchWithFallback(new Request(url("whole")))).arrayBuffer();
    expect(new Uint8Array((await (await cache.match(url("whole")))?.arrayBuffer()) ?? new ArrayBuffer(0))).toEqual(
      new Uint8Array(1_000).fill(7),
    );
  });

  it("a non-200 success is not stored", async () => {
    const { fetchWithFallback, set, cache } = await setup();
    set(new Response("partial", { status: 206, headers: { "cache-control": "public, max-age=60" } }));
    await (await fetchWithFallback(new Request(url("partial")))).text();
    expect(await cache.match(url("partial"))).toBeUndefined();
  });

  it("rejects bad options at construction", async () => {
    expect(() => cachedFallback(async () => ok("x"), { cache: {} as never })).toThrow(/"cache" must be a Cache/);
    const cache = await freshCache();
    expect(() => cachedFallback(async () => ok("x"), { cache, maxStaleMs: -1 })).toThrow(/"maxStaleMs".*got -1/);
    expect(() => cachedFallback(async () => ok("x"), { cache, ttl: 5 } as never)).toThrow(/unknown option "ttl"/);
    expect(() => cachedFallback(async () => ok("x"), { cache, perUserKey: true })).toThrow(/"perUserKey"/);
    expect(() => cachedFallback(async () => ok("x"), { cache, maxStoredBodyBytes: 1.5 })).toThrow(
      /"maxStoredBodyBytes"/,
    );
  });
});
