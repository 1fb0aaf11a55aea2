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
async function call(path: string): Promise<{ res: Response; text: string }> {
  const ctx = createExecutionContext();
  const res = await app.fetch(new Request(`https://w.example${path}`), exampleEnv, ctx);
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
