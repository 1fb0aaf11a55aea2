/**
 * The Hono example (examples/hono-worker/) in workerd, against the fault server on 127.0.0.1: what a user
 * copies from the README works as pasted.
 */

import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { describe, expect, inject, it } from "vitest";
import app from "../../examples/hono-worker/src/index.ts";

const exampleEnv = { UPSTREAM_URL: inject("faultServer") } as unknown as Env;
let counter = 0;
const freshId = () => `hono-example-${Date.now()}-${counter++}`;

/** One request to the example; its answer with the body read, once the background work is done. */
async function call(path: string, init?: RequestInit): Promise<{ res: Response; text: string }> {
  const ctx = createExecutionContext();
  const res = await app.fetch(new Request(`https://w.example${path}`, init), exampleEnv, ctx);
  const text = await res.text();
  await waitOnExecutionContext(ctx); // the copy is stored in ctx.waitUntil
  return { res, text };
}

describe("the Hono example", () => {
  it("proxies the path after /api with its whole query", async () => {
    const { res, text } = await call(`/api/s/${freshId()}?s=201`);
    expect(res.status).toBe(201); // the fault server read the step from the query: it arrived
    expect(text).toBe("201 #1");
  });

  it("passes on the headers the upstream needs, and none a client could speak for the Worker with", async () => {
    const id = freshId();
    const headers = {
      accept: "application/json",
      authorization: "Bearer alice",
      cookie: "session=alice",
      "x-forwarded-host": "evil.example",
      "x-http-method-override": "DELETE",
      "proxy-authorization": "Basic YTpi",
      "x-api-key": "alice",
    };
    expect((await call(`/api/s/${id}?s=200`, { headers })).res.status).toBe(200);
    const log = (await (await fetch(`${inject("faultServer")}/log/${id}`)).json()) as Array<{
      headers: Record<string, string>;
    }>;
    const sent = log[0]?.headers ?? {};
    expect(sent).toMatchObject({ accept: "application/json", authorization: "Bearer alice" });
    for (const name of ["cookie", "x-forwarded-host", "x-http-method-override", "proxy-authorization", "x-api-key"]) {
      expect([name, sent[name]]).toEqual([name, undefined]);
    }
  });

  it("answers from the stored copy, marked stale, when the upstream fails", async () => {
    const path = `/api/s/${freshId()}?s=200|cc=public,max-age=60&s=reset`;
    expect((await call(path)).text).toBe("200 #1");
    const stale = await call(path);
    expect(stale.res.status).toBe(200);
    expect(stale.res.headers.get("staunch-fallback")).toBe("stale");
    expect(stale.text).toBe("200 #1");
  });

  it("answers a failed upstream with nothing stored itself, with a 502 rather than Hono's 500", async () => {
    const { res, text } = await call(`/api/s/${freshId()}?s=reset`);
    expect(res.status).toBe(502);
    expect(JSON.parse(text)).toHaveProperty("error");
  });
});
