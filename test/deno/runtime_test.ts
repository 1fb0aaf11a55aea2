import assert from "node:assert/strict";
import { retry } from "../../src/index.ts";

Deno.test("really runs in Deno and retries Deno's own connection failure", async () => {
  assert.equal(typeof Deno.version.deno, "string");
  let calls = 0;
  const policy = retry({ attempts: 2, backoff: { initialMs: 0 } });
  await assert.rejects(
    policy.execute(async () => {
      calls++;
      const res = await fetch("http://127.0.0.1:9/");
      await res.body?.cancel();
      return res;
    }),
    TypeError,
  );
  assert.equal(calls, 2);
});
