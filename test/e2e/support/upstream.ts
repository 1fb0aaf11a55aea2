/**
 * A real upstream on 127.0.0.1 for the sample Worker to proxy to, as an attacker would meet it: each path
 * answers as the test sets it (healthy, down, 500, 503, a body cut short), and every request it received is
 * kept, headers included, so a test can see what the Worker sent on.
 *
 * Usable from a test (`startUpstream()`) and by hand: `node test/e2e/support/upstream.ts 18388`.
 */

import http from "node:http";
import type { AddressInfo } from "node:net";

/** How a path answers. */
export type PathMode =
  /** 200 with a JSON body naming the path and query, cacheable and servable stale. */
  | "healthy"
  /** The connection is dropped before any answer. */
  | "down"
  /** That status with a short text body: 500, 503, or one no Response may have (999). */
  | number
  /** 200 promising 100,000 bytes; 1,000 are sent, then the connection is dropped. */
  | "truncated";

export interface ReceivedRequest {
  readonly method: string;
  /** Path and query as received. */
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
}

export interface Upstream {
  /** `http://127.0.0.1:<port>`. */
  readonly url: string;
  /** Sets how a path (as the upstream sees it, `/v1/orders/1`) answers from now on; unset paths are healthy. */
  set(path: string, mode: PathMode): void;
  /** Every request received so far, oldest first. */
  readonly received: readonly ReceivedRequest[];
  close(): Promise<void>;
}

export async function startUpstream(port = 0): Promise<Upstream> {
  const modes = new Map<string, PathMode>();
  const received: ReceivedRequest[] = [];
  let served = 0;
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    // For trying it by hand with curl: `POST /__mode?path=/v1/x&mode=down`, `GET /__received`.
    if (url.pathname === "/__mode" && req.method === "POST") {
      const mode = url.searchParams.get("mode") ?? "healthy";
      modes.set(url.searchParams.get("path") ?? "/", /^\d+$/.test(mode) ? Number(mode) : (mode as PathMode));
      res.writeHead(204).end();
      return;
    }
    if (url.pathname === "/__received") {
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(received));
      return;
    }
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(req.headers)) headers[name] = String(value);
    received.push({ method: req.method ?? "", url: req.url ?? "", headers });
    req.resume();
    const mode = modes.get(url.pathname) ?? "healthy";
    if (mode === "down") {
      req.socket.destroy();
      return;
    }
    if (typeof mode === "number") {
      res.writeHead(mode, { "content-type": "text/plain" }).end(`upstream: ${mode}\n`);
      return;
    }
    const cacheable = { "cache-control": "public, max-age=1, stale-if-error=300" };
    if (mode === "truncated") {
      res.writeHead(200, { ...cacheable, "content-type": "application/octet-stream", "content-length": "100000" });
      res.write(Buffer.alloc(1_000, 97), () => setTimeout(() => req.socket.destroy(), 20));
      return;
    }
    const body = JSON.stringify({ path: url.pathname, query: url.search, served: ++served });
    res.writeHead(200, { ...cacheable, "content-type": "application/json" }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  const address = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${address.port}`,
    set: (path, mode) => {
      modes.set(path, mode);
    },
    received,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const upstream = await startUpstream(Number(process.argv[2] ?? 0));
  // By hand: `/v1/broken/*` answers 500, `/v1/flaky/*` 503, `/v1/big` is cut short, `/v1/gone/*` is down.
  for (const [path, mode] of [
    ["/v1/broken/x", 500],
    ["/v1/flaky/x", 503],
    ["/v1/big", "truncated"],
  ] as const) {
    upstream.set(path, mode);
  }
  console.log(`upstream on ${upstream.url}`);
  setInterval(() => {
    const last = upstream.received.at(-1);
    if (last) console.log(JSON.stringify(last));
  }, 5_000).unref();
}
