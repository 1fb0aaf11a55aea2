import assert from "node:assert/strict";
import { retry } from "../../src/index.ts";

Deno.test("really runs in Deno and retries Deno's own connection failure", async () => {
  assert.equal(typeof Deno.version.deno, "string");
  // A port where nothing listens (port 9 would not do: Deno blocks it, a failure no retry cures).
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  let calls = 0;
  const policy = retry({ attempts: 2, backoff: { initialMs: 0 } });
  await assert.rejects(
    policy.execute(async () => {
      calls++;
      const res = await fetch(`http://127.0.0.1:${port}/`);
      await res.body?.cancel();
      return res;
    }),
    TypeError,
  );
  assert.equal(calls, 2);
});
