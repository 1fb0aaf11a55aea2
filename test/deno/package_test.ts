/**
 * staunch as a Deno user imports it: by its package name (deno.json maps it), not a relative path, calling a
 * local flaky server through createFetch.
 */
import assert from "node:assert/strict";
import { createFetch, isTransientError } from "@staunch/staunch";
import { startFaultServer } from "../support/fault-server.ts";
import { scenario } from "../support/scenario.ts";

Deno.test("a Deno user's createFetch rides out a reset and a 503 from a local server", async () => {
  const server = await startFaultServer();
  try {
    const fetch = createFetch({ backoff: { initialMs: 1 } });
    const s = scenario(server.url, "reset", "503", "200");
    const res = await fetch(s.url);
    assert.equal(res.status, 200);
    assert.equal(await res.text(), "200 #3");
    assert.equal((await s.received()).length, 3);
    assert.equal(isTransientError(new TypeError("error sending request for url (http://x/)")), true);
  } finally {
    await server.close();
  }
});
