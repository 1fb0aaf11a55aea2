import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { Hono } from "hono";
import { describe, expect, it } from "vitest";
import {
  CircuitOpenError,
  FALLBACK_HEADER,
  isCircuitOpenError,
  staleIfErrorMiddleware,
  withStaleIfError,
} from "../../src/index.ts";

let counter = 0;
const freshCache = () => caches.open(`middleware-${counter++}`);

describe("withStaleIfError (export default { fetch } Workers)", () => {
  it("passes the handler's answers through and answers from the store when it later throws", async () => {
    let healthy = true;
    const handler = withStaleIfError(
      async (request: Request, env: { GREETING: string }) => {
        if (!healthy) throw new Error("upstream exploded");
        return new Response(`${env.GREETING} ${new URL(request.url).pathname}`, {
          headers: { "cache-control": "public, max-age=5" },
        });
      },
      { cache: await freshCache() },
    );
    const env = { GREETING: "hello" };
    const ctx = createExecutionContext();
    expect(await (await handler(new Request("https://w.example/a"), env, ctx)).text()).toBe("hello /a");
    await waitOnExecutionContext(ctx); // the store happens in ctx.waitUntil
    healthy = false;
    const ctx2 = createExecutionContext();
    const res = await handler(new Request("https://w.example/a"), env, ctx2);
    expect(await res.text()).toBe("hello /a");
    expect(res.headers.get(FALLBACK_HEADER)).toBe("stale");
    await expect(handler(new Request("https://w.example/never-stored"), env, ctx2)).rejects.toThrow(
      "upstream exploded",
    );
  });

  it("answers a 5xx from the store too", async () => {
    let status = 200;
    const handler = withStaleIfError(async () => new Response(`status ${status}`, { status }), {
      cache: await freshCache(),
    });
    const ctx = createExecutionContext();
    await (await handler(new Request("https://w.example/b"), {}, ctx)).text();
    await waitOnExecutionContext(ctx);
    status = 502;
    const res = await handler(new Request("https://w.example/b"), {}, createExecutionContext());
    expect(await res.text()).toBe("status 200");
  });
});

describe("staleIfErrorMiddleware (Hono)", () => {
  it("replaces a failed handler's answer with the stored copy", async () => {
    let healthy = true;
    const app = new Hono();
    app.use("/api/*", staleIfErrorMiddleware({ cache: await freshCache() }));
    app.get("/api/prices", (c) => {
      if (!healthy) throw new Error("prices service down");
      c.header("cache-control", "public, max-age=5");
      return c.json({ price: 42 });
    });
    const ctx = createExecutionContext();
    const first = await app.fetch(new Request("https://w.example/api/prices"), {}, ctx);
    expect(await first.json()).toEqual({ price: 42 });
    await waitOnExecutionContext(ctx);
    healthy = false;
    const second = await app.fetch(new Request("https://w.example/api/prices"), {}, createExecutionContext());
    expect(second.status).toBe(200);
    expect(second.headers.get(FALLBACK_HEADER)).toBe("stale");
    expect(await second.json()).toEqual({ price: 42 });
  });

  it("leaves Hono's error answer when nothing is stored", async () => {
    const app = new Hono();
    app.use("*", staleIfErrorMiddleware({ cache: await freshCache() }));
    app.get("/boom", () => {
      throw new Error("no copy of this");
    });
    const res = await app.fetch(new Request("https://w.example/boom"), {}, createExecutionContext());
    expect(res.status).toBe(500);
    await res.text();
  });

  it("leaves onError's answer when nothing is stored, calling onError once", async () => {
    const app = new Hono();
    let onErrorCalls = 0;
    app.onError((error, c) => {
      onErrorCalls++;
      return c.json({ error: error.name }, isCircuitOpenError(error) ? 503 : 500);
    });
    app.use("/api/*", staleIfErrorMiddleware({ cache: await freshCache() }));
    app.get("/api/orders", () => {
      throw new CircuitOpenError(5_000);
    });
    const res = await app.fetch(new Request("https://w.example/api/orders"), {}, createExecutionContext());
    expect(res.status).toBe(503);
    expect(await res.json()).toEqual({ error: "CircuitOpenError" });
    expect(onErrorCalls).toBe(1);
  });

  it("never stores the answer onError gave for an error", async () => {
    const app = new Hono();
    app.onError((_error, c) => {
      c.header("cache-control", "public, max-age=60");
      return c.text("a fallback, not the answer");
    });
    app.use("/api/*", staleIfErrorMiddleware({ cache: await freshCache() }));
    let failure: "throw" | "502" = "throw";
    app.get("/api/rates", (c) => {
      if (failure === "throw") throw new Error("rates service down");
      return c.text("bad gateway", 502);
    });
    const ctx = createExecutionContext();
    await (await app.fetch(new Request("https://w.example/api/rates"), {}, ctx)).text();
    await waitOnExecutionContext(ctx);
    failure = "502";
    const res = await app.fetch(new Request("https://w.example/api/rates"), {}, createExecutionContext());
    expect(res.status).toBe(502); // no copy: onError's fallback was not stored
    expect(res.headers.has(FALLBACK_HEADER)).toBe(false);
    await res.text();
  });

  it("does not touch routes it is not mounted on", async () => {
    const app = new Hono();
    app.use("/api/*", staleIfErrorMiddleware({ cache: await freshCache() }));
    app.get("/health", (c) => c.text("ok"));
    expect(await (await app.fetch(new Request("https://w.example/health"), {}, createExecutionContext())).text()).toBe(
      "ok",
    );
  });
});
