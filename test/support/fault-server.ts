/**
 * A real HTTP server on 127.0.0.1 that fails on request, for the fetch suites in every runtime.
 *
 * `ANY /s/<id>?s=<step>&s=<step>…`: the n-th request to <id> gets the n-th step (the last one repeats).
 * A step is `<status>`, `reset` (destroy the socket), `stall` (never answer) or `garbage` (reply with bytes
 * that are not HTTP), then `|key=value` options: `ra` Retry-After, `rl` RateLimit, `xr` X-RateLimit-Reset,
 * `cc` Cache-Control, `loc` Location (`self`: this very URL, a redirect loop), `bytes` body size, `delay` ms
 * before answering, `early=1` answer on arrival, before reading the request body (the status and headers
 * at once, the body once the upload has ended; `reset` and `garbage` at once), `cors=0` no CORS headers, `expose=0` CORS without `Access-Control-Expose-Headers`. `GET /log/<id>` returns what <id> received: method, headers and the exact body bytes.
 * Every answer carries CORS headers so Chromium can call it from the test page.
 *
 * `GET /port/<id>` reserves a loopback port where nothing listens yet (a closed port: connections are
 * refused) and returns it; `GET /open/<id>` starts listening there with the same routes, until the server
 * closes. A request refused at first and accepted later shows what a client re-sent.
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
  const arrivals = new Map<string, number>();
  /** Requests of each id whose body has not ended yet. */
  const inFlight = new Map<string, number>();
  const timers = new Set<ReturnType<typeof setTimeout>>();
  const reserved = new Map<string, number>();
  const servers: http.Server[] = [];

  const handle = (req: http.IncomingMessage, res: http.ServerResponse): void => {
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
      // A request answered early may still be uploading: its log entry comes when its body ends (at most 2 s).
      const deadline = Date.now() + 2_000;
      const answerLog = (): void => {
        if ((inFlight.get(id) ?? 0) > 0 && Date.now() < deadline) {
          const timer = setTimeout(() => {
            timers.delete(timer);
            answerLog();
          }, 5);
          timers.add(timer);
          return;
        }
        res.writeHead(200, { ...cors, "content-type": "application/json" }).end(JSON.stringify(received.get(id) ?? []));
      };
      answerLog();
      return;
    }
    if (kind === "port" || kind === "open") {
      void controlPort(kind, id).then(
        (port) => res.writeHead(200, { ...cors, "content-type": "text/plain" }).end(String(port)),
        (error: Error) => res.writeHead(500, cors).end(error.message),
      );
      return;
    }
    if (kind !== "s") {
      res.writeHead(404, cors).end("no such route");
      return;
    }
    // The n-th request to arrive gets the n-th step, chosen on arrival: an early answer comes before the body.
    const arrival = (arrivals.get(id) ?? 0) + 1;
    arrivals.set(id, arrival);
    inFlight.set(id, (inFlight.get(id) ?? 0) + 1);
    const steps = url.searchParams.getAll("s");
    const step = steps[Math.min(arrival - 1, steps.length - 1)] ?? "200";
    const [what = "200", ...rawOptions] = step.split("|");
    const options = new Map(rawOptions.map((o) => [o.slice(0, o.indexOf("=")), o.slice(o.indexOf("=") + 1)]));
    const chunks: Buffer[] = [];
    const early = options.get("early") === "1";
    let bodyEnded = false;
    let logged = false;
    const logBody = (): void => {
      if (logged) return;
      logged = true;
      inFlight.set(id, (inFlight.get(id) ?? 1) - 1);
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
    };
    const answer = () => {
      if (what === "reset") {
        req.socket.destroy();
        return;
      }
      if (what === "stall") return; // the client's timeout must end this
      if (what === "garbage") {
        req.socket.end("SMTP ready, not HTTP\r\n\r\n");
        return;
      }
      const extra: Record<string, string> = {};
      if (options.has("ra")) extra["retry-after"] = options.get("ra") as string;
      if (options.has("rl")) extra.ratelimit = options.get("rl") as string;
      if (options.has("xr")) extra["x-ratelimit-reset"] = options.get("xr") as string;
      if (options.has("cc")) extra["cache-control"] = options.get("cc") as string;
      if (options.has("loc")) {
        const location = options.get("loc") as string;
        extra.location = location === "self" ? `${url.pathname}${url.search}` : location;
      }
      const size = Number(options.get("bytes") ?? 0);
      const payload = size > 0 ? Buffer.alloc(size, 97) : Buffer.from(`${what} #${arrival}`);
      // `cors=0`: no CORS headers (a browser refuses the answer); `expose=0`: none of the headers exposed.
      const { "access-control-expose-headers": _exposed, ...unexposed } = cors;
      const corsHeaders = options.get("cors") === "0" ? {} : options.get("expose") === "0" ? unexposed : cors;
      res.writeHead(Number(what), {
        ...corsHeaders,
        ...extra,
        "content-type": "text/plain",
        "content-length": payload.byteLength,
      });
      // An early answer's head goes out at once, its body once the upload has ended: closing the connection
      // under an upload would make the client's outcome a race (its answer, or a reset).
      if (early && !bodyEnded) {
        res.flushHeaders();
        req.on("end", () => res.end(payload));
      } else res.end(payload);
    };
    const answerInTime = (): void => {
      const delay = Number(options.get("delay") ?? 0);
      if (delay <= 0) {
        answer();
        return;
      }
      const timer = setTimeout(() => {
        timers.delete(timer);
        answer();
      }, delay);
      timers.add(timer);
      res.on("close", () => {
        clearTimeout(timer);
        timers.delete(timer);
      });
    };
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("error", () => {});
    // What arrived is logged even when the client gave up mid-upload.
    req.on("close", logBody);
    req.on("end", () => {
      bodyEnded = true;
      logBody();
      if (!early) answerInTime();
    });
    if (early) answerInTime();
  };

  /** A port reserved closed (`port`), then opened (`open`) with the same routes. */
  async function controlPort(kind: string, id: string): Promise<number> {
    if (kind === "port") {
      const probe = http.createServer();
      await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
      const { port } = probe.address() as AddressInfo;
      await new Promise<void>((resolve) => probe.close(() => resolve()));
      reserved.set(id, port);
      return port;
    }
    const port = reserved.get(id);
    if (port === undefined) throw new Error(`no port reserved for ${id}`);
    const later = http.createServer(handle);
    servers.push(later);
    await new Promise<void>((resolve) => later.listen(port, "127.0.0.1", resolve));
    return port;
  }

  const server = http.createServer(handle);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    async close() {
      for (const timer of timers) clearTimeout(timer);
      await Promise.all(
        servers.map((s) => {
          s.closeAllConnections();
          return new Promise<void>((resolve) => s.close(() => resolve()));
        }),
      );
    },
  };
}
