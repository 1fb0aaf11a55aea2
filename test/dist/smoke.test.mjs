// The built package under the user's own Node (tools/user-node.sh; Node 20 on the project's machines), not the
// Node 22 that node_modules/.bin adds for the tools: the floor the library promises is Node ≥ 20.3.
import assert from "node:assert/strict";
import http from "node:http";
import { test } from "node:test";
import { compose, retry, timeout } from "../../dist/index.js";

test("runs on the user's own Node, at least 20.3, not the tools' Node from node_modules", () => {
  assert.doesNotMatch(process.execPath, /node_modules/);
  const [major, minor] = process.versions.node.split(".").map(Number);
  assert.ok(major > 20 || (major === 20 && minor >= 3), `Node ${process.versions.node} is below the floor 20.3`);
  console.log(`# dist smoke test on Node ${process.versions.node} (${process.execPath})`);
});

test("the built dist retries a reset connection and answers through timeout + retry", async () => {
  let requests = 0;
  const server = http.createServer((req, res) => {
    requests++;
    if (requests === 1) return req.socket.destroy(); // a connection reset
    res.end("ok");
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  try {
    const policy = compose(timeout(5_000), retry({ attempts: 3, backoff: { initialMs: 10 } }), timeout(2_000));
    const body = await policy.execute(async ({ signal }) => {
      const res = await fetch(`http://127.0.0.1:${port}/`, { signal });
      return res.text();
    });
    assert.equal(body, "ok");
    assert.equal(requests, 2);
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
  const timers = process.getActiveResourcesInfo().filter((r) => r === "Timeout");
  assert.deepEqual(timers, [], "no timer may outlive a settled call");
});

test("the package's exports map resolves each entry point on Node 20, as an installed dependency", async () => {
  const { mkdtempSync, mkdirSync, symlinkSync, writeFileSync, rmSync } = await import("node:fs");
  const { tmpdir } = await import("node:os");
  const { join } = await import("node:path");
  const { execFileSync } = await import("node:child_process");
  const app = mkdtempSync(join(tmpdir(), "staunch-consumer-"));
  try {
    mkdirSync(join(app, "node_modules"));
    symlinkSync(new URL("../..", import.meta.url).pathname, join(app, "node_modules", "staunch"), "dir");
    writeFileSync(join(app, "package.json"), '{ "type": "module" }');
    writeFileSync(
      join(app, "main.js"),
      [
        'import { createFetch, retry } from "staunch";',
        'import { chaos } from "staunch/chaos";',
        'import { parseSyncMessage, StaunchSharedState, SYNC_PROTOCOL_VERSION } from "staunch/durable";',
        'const policy = retry({ attempts: 3, backoff: { initialMs: 0 } });',
        'const flaky = chaos({ errorRate: 1, env: { random: () => 0 } });',
        'let n = 0;',
        'const value = await policy.execute(() => (n++ < 2 ? flaky.execute(() => "never") : "ok"));',
        'console.log(typeof createFetch, value, n);',
        'console.log(typeof StaunchSharedState, parseSyncMessage({ version: SYNC_PROTOCOL_VERSION, key: "k" }).key);',
      ].join("\n"),
    );
    const out = execFileSync(process.execPath, ["main.js"], { cwd: app, encoding: "utf8" });
    assert.equal(out.trim(), "function ok 3\nfunction k");
  } finally {
    rmSync(app, { recursive: true, force: true });
  }
});

// A body read after the call has returned must still stop on the caller's abort, even after a GC.
const { setFlagsFromString } = await import("node:v8");
const { runInNewContext } = await import("node:vm");
setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc");

async function heapAfterGc() {
  for (let i = 0; i < 3; i++) {
    await new Promise((resolve) => setTimeout(resolve, 10));
    gc();
  }
  return process.memoryUsage().heapUsed;
}

test("on Node 20, a body being read still stops on the caller's abort after a GC", async () => {
  const { createFetch } = await import("../../dist/index.js");
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { "content-type": "text/plain" });
    res.write("first chunk, then a stall");
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  try {
    const caller = new AbortController();
    const response = await createFetch({ totalTimeoutMs: 30_000 })(`http://127.0.0.1:${port}/`, {
      signal: caller.signal,
    });
    const reading = response.text().then(
      () => "the body completed",
      (error) => error,
    );
    await heapAfterGc();
    const reason = new Error("the reader left");
    caller.abort(reason);
    assert.equal(await reading, reason);
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});
