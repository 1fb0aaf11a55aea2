/**
 * A real HTTP server on 127.0.0.1 that fails on request, for the fetch suites in every runtime.
 *
 * `ANY /s/<id>?s=<step>&s=<step>…`: the n-th request to <id> gets the n-th step (the last one repeats).
 * A step is `<status>`, `reset` (destroy the socket) or `stall` (never answer), then `|key=value` options:
 * `ra` Retry-After, `rl` RateLimit, `xr` X-RateLimit-Reset, `cc` Cache-Control, `bytes` body size, `delay` ms
 * before answering. `GET /log/<id>` returns what <id> received: method, headers and the exact body bytes.
 * Every answer carries CORS headers so Chromium can call it from the test page.
 */

import { createHash } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";

export interface ReceivedRequest {
  method: string;
  headers: Record<string, string>;
  bodyBase64: string;
  bodyBytes: number;
  bodySha256: string;
}

const cors = {
  "access-control-allow-origin": "*",
  "access-control-allow-methods": "*",
  "access-control-allow-headers": "*",
  "access-control-expose-headers": "*",
  "access-control-max-age": "600",
};

export async function startFaultServer(): Promise<{ url: string; close(): Promise<void> }> {
  const received = new Map<string, ReceivedRequest[]>();
  const timers = new Set<ReturnType<typeof setTimeout>>();

  const server = http.createServer((req, res) => {
    // Fresh connections only: Chromium silently re-sends a request whose reused keep-alive socket was reset,
    // which would hide from the tests what the client itself did.
    res.shouldKeepAlive = false;
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    if (req.method === "OPTIONS" && req.headers["access-control-request-method"]) {
      res.writeHead(204, cors).end();
      return;
    }
    const [, kind, id = ""] = url.pathname.split("/");
    if (kind === "log") {
      res.writeHead(200, { ...cors, "content-type": "application/json" }).end(JSON.stringify(received.get(id) ?? []));
      return;
    }
    if (kind !== "s") {
      res.writeHead(404, cors).end("no such route");
      return;
    }
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("error", () => {});
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      const log = received.get(id) ?? [];
      received.set(id, log);
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(req.headers)) headers[name] = String(value);
      log.push({
        method: req.method ?? "",
        headers,
        bodyBase64: body.toString("base64"),
        bodyBytes: body.byteLength,
        bodySha256: createHash("sha256").update(body).digest("hex"),
      });
      const steps = url.searchParams.getAll("s");
      const step = steps[Math.min(log.length - 1, steps.length - 1)] ?? "200";
      const [what = "200", ...rawOptions] = step.split("|");
      const options = new Map(rawOptions.map((o) => [o.slice(0, o.indexOf("=")), o.slice(o.indexOf("=") + 1)]));
      const answer = () => {
        if (what === "reset") {
          req.socket.destroy();
          return;
        }
        if (what === "stall") return; // the client's timeout must end this
        const extra: Record<string, string> = {};
        if (options.has("ra")) extra["retry-after"] = options.get("ra") as string;
        if (options.has("rl")) extra.ratelimit = options.get("rl") as string;
        if (options.has("xr")) extra["x-ratelimit-reset"] = options.get("xr") as string;
        if (options.has("cc")) extra["cache-control"] = options.get("cc") as string;
        const size = Number(options.get("bytes") ?? 0);
        const payload = size > 0 ? Buffer.alloc(size, 97) : Buffer.from(`${what} #${log.length}`);
        res.writeHead(Number(what), {
          ...cors,
          ...extra,
          "content-type": "text/plain",
          "content-length": payload.byteLength,
        });
        res.end(payload);
      };
      const delay = Number(options.get("delay") ?? 0);
      if (delay > 0) {
        const timer = setTimeout(() => {
          timers.delete(timer);
          answer();
        }, delay);
        timers.add(timer);
        res.on("close", () => {
          clearTimeout(timer);
          timers.delete(timer);
        });
      } else answer();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    async close() {
      for (const timer of timers) clearTimeout(timer);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
