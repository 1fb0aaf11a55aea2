/**
 * The browser example (examples/browser/) in headless Chromium: the page loads the built ESM module, calls an
 * endpoint that fails twice, and shows each retry; the server's own count proves the retries happened.
 */

import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { extname, join } from "node:path";
import { chromium } from "playwright";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chromiumLaunchOptions } from "../support/chromium.ts";

const root = join(import.meta.dirname, "../..");
const types: Record<string, string> = { ".html": "text/html", ".js": "text/javascript" };

let dist: string;
let server: http.Server;
let base: string;
const calls = new Map<string, number>();

beforeAll(async () => {
  // The page uses the library as npm users get it: the ESM that `npm run build` emits.
  dist = mkdtempSync(join(tmpdir(), "staunch-dist-"));
  execFileSync(
    join(root, "node_modules/.bin/tsc"),
    ["-p", "tsconfig.build.json", "--outDir", dist, "--declaration", "false"],
    {
      cwd: root,
    },
  );
  server = http.createServer((req, res) => {
    // Fresh connections only: Chromium silently re-sends a request whose reused keep-alive socket was reset.
    res.shouldKeepAlive = false;
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    if (url.pathname === "/flaky") {
      const session = url.searchParams.get("session") ?? "";
      const n = (calls.get(session) ?? 0) + 1;
      calls.set(session, n);
      if (n === 1) return void res.writeHead(503, { "content-type": "text/plain" }).end("busy");
      if (n === 2) return void req.socket.destroy(); // a dropped connection: Chromium's "Failed to fetch"
      return void res
        .writeHead(200, { "content-type": "text/plain", connection: "close" })
        .end(`hello after ${n} calls`);
    }
    const file = url.pathname.startsWith("/staunch/")
      ? join(dist, url.pathname.slice("/staunch/".length))
      : join(root, "examples/browser", url.pathname === "/" ? "index.html" : url.pathname);
    try {
      const body = readFileSync(file);
      res.writeHead(200, { "content-type": types[extname(file)] ?? "application/octet-stream" }).end(body);
    } catch {
      res.writeHead(404).end("not found");
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
  rmSync(dist, { recursive: true, force: true });
});

describe("the browser example", () => {
  it("retries in Chromium and shows each retry on the page", async () => {
    const browser = await chromium.launch(chromiumLaunchOptions);
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on("pageerror", (e) => errors.push(String(e)));
      await page.goto(`${base}/`);
      await page.click("#go");
      await page.waitForFunction(() => document.querySelector("#result")?.textContent?.includes("after"), null, {
        timeout: 15_000,
      });
      const result = await page.textContent("#result");
      const items = await page.$$eval("#log li", (lis) => lis.map((li) => li.textContent));
      const session = await page.getAttribute("#result", "data-session");
      expect(result).toMatch(/^200 after 3 attempts in \d+ ms$/);
      expect(items[0]).toMatch(/^attempt 1 failed \(503\); retrying in \d+ ms$/);
      expect(items[1]).toMatch(/^attempt 2 failed \(TypeError\); retrying in \d+ ms$/);
      expect(items[2]).toBe("answered 200: hello after 3 calls");
      expect(calls.get(session ?? "")).toBe(3);
      expect(errors).toEqual([]);
    } finally {
      await browser.close();
    }
  });
});
