/**
 * The sample Worker's dashboard in real headless Chromium against a real `wrangler dev`: a stale answer after
 * three failed attempts drawn as a timeline, then a forced outage that opens the breaker so that requests fail
 * fast and are still answered from the stale copy.
 */

import { mkdir } from "node:fs/promises";
import { type Browser, chromium, type Page } from "playwright";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DashboardState } from "../../worker/timeline.ts";
import { chromiumLaunchOptions } from "../support/chromium.ts";
import { startWranglerDev, type WranglerDev } from "./support/wrangler-dev.ts";

const screenshotPath = ".e2e-artifacts/dashboard.png";

/** One row of tbody#timeline, read from the DOM. */
interface Row {
  readonly id: string;
  readonly request: string;
  /** The attempts cell's chips in order: `wait` chips and attempt chips with their data-outcome. */
  readonly chips: ReadonlyArray<{ readonly kind: "wait" | "attempt"; readonly outcome: string; readonly text: string }>;
  readonly attemptsText: string;
  readonly source: string | undefined;
  readonly answerText: string;
}

let dev: WranglerDev | undefined;
let browser: Browser | undefined;

beforeAll(async () => {
  // A breaker that can open within the few requests of this test (the default needs 20 attempts).
  dev = await startWranglerDev({ vars: { BREAKER_MIN_THROUGHPUT: "10" } });
  browser = await chromium.launch(chromiumLaunchOptions);
});

afterAll(async () => {
  try {
    await browser?.close();
  } finally {
    await dev?.stop();
  }
});

/** The id of the newest timeline row, or `null` while the timeline is empty. */
async function newestRowId(page: Page): Promise<string | null> {
  return page.evaluate(
    () => document.querySelector("tbody#timeline tr[data-request]")?.getAttribute("data-request") ?? null,
  );
}

/** Clicks a request button, returns the proxied response and the dashboard's row for that request. */
async function send(
  page: Page,
  button: string,
): Promise<{ status: number; headers: Record<string, string>; row: Row }> {
  const before = await newestRowId(page);
  const [response] = await Promise.all([
    page.waitForResponse((r) => new URL(r.url()).pathname.startsWith("/api/")),
    page.click(button),
  ]);
  // The page refreshes the state once the answer is read: wait for a new newest row with an answer. No new
  // row means the Worker never saw the request (Chromium answered it from its HTTP cache, see below).
  await page
    .waitForFunction(
      (previous) => {
        const row = document.querySelector("tbody#timeline tr[data-request]");
        return row !== null && row.getAttribute("data-request") !== previous && row.querySelector(".badge") !== null;
      },
      before,
      { timeout: 10_000 },
    )
    .catch((error: unknown) => {
      throw new Error(`no new timeline row after clicking ${button}: the request did not reach the Worker`, {
        cause: error,
      });
    });
  const row = await page
    .locator("tbody#timeline tr[data-request]")
    .first()
    .evaluate((tr): Row => {
      const cells = tr.querySelectorAll("td");
      const badge = cells[2]?.querySelector(".badge");
      return {
        id: tr.getAttribute("data-request") ?? "",
        request: cells[0]?.textContent ?? "",
        chips: [...(cells[1]?.querySelectorAll(".chip") ?? [])].map((chip) => ({
          kind: chip.classList.contains("wait") ? "wait" : "attempt",
          outcome: chip.getAttribute("data-outcome") ?? "",
          text: chip.textContent ?? "",
        })),
        attemptsText: cells[1]?.textContent ?? "",
        source: badge?.getAttribute("data-source") ?? undefined,
        answerText: cells[2]?.textContent ?? "",
      };
    });
  return { status: response.status(), headers: await response.allHeaders(), row };
}

async function workerState(): Promise<DashboardState> {
  const res = await fetch(`${dev?.url}/__staunch/state`);
  return (await res.json()) as DashboardState;
}

describe("the dashboard", () => {
  it("draws retries, a stale answer, and an open breaker that fails fast to the stale copy", async () => {
    if (!dev || !browser) throw new Error("beforeAll did not start wrangler dev and Chromium");
    const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    const pageErrors: string[] = [];
    page.on("pageerror", (error) => pageErrors.push(String(error)));
    page.on("console", (message) => {
      // Chromium asks for /favicon.ico on its own; the Worker has none and rightly answers 404.
      if (message.type() === "error" && !message.location().url.endsWith("/favicon.ico")) {
        pageErrors.push(`${message.text()} (${message.location().url})`);
      }
    });
    try {
      await page.goto(`${dev.url}/`);
      await page.locator("#upstream", { hasText: "built-in demo origin" }).waitFor({ timeout: 10_000 });

      const healthy = await send(page, "#btn-ok");
      expect(healthy.status).toBe(200);
      expect(healthy.headers["staunch-fallback"]).toBeUndefined();
      expect(healthy.row).toMatchObject({ request: "GET /data", source: "origin" });

      // Full jitter may draw a wait under 1 ms (about 1.5% of runs), which the timeline rightly shows as no
      // wait at all. Then the breaker, budget and timeline are reset (the stored copy stays) and it is sent
      // again, so that the row checked below has a wait before each retry.
      let down = await send(page, "#btn-down");
      for (let round = 1; ; round++) {
        expect(down.status).toBe(200);
        expect(down.headers["staunch-fallback"]).toBe("stale");
        expect(down.headers.age).toMatch(/^\d+$/);
        expect(down.headers["staunch-attempts"]).toBe("3");
        const record = (await workerState()).requests.find((r) => r.id === down.row.id);
        const delays = record?.attempts.map((a) => a.delayBeforeMs) ?? [];
        // Whatever was drawn, the row shows a wait chip exactly before each attempt that was waited for.
        expect(down.row.chips.map((c) => c.kind)).toEqual(
          delays.flatMap((ms, i) => (i > 0 && ms > 0 ? ["wait", "attempt"] : ["attempt"])),
        );
        if (delays.slice(1).every((ms) => ms > 0) || round === 4) break;
        await Promise.all([
          page.waitForResponse((r) => r.url().endsWith("/__staunch/reset")),
          page.click("#btn-reset"),
        ]);
        down = await send(page, "#btn-down");
      }
      expect(down.row.request).toBe("GET /data?down=1");
      expect(down.row.chips.map((c) => (c.kind === "wait" ? "wait" : c.outcome))).toEqual([
        "Error",
        "wait",
        "Error",
        "wait",
        "Error",
      ]);
      expect(down.row.source).toBe("stale");
      expect(down.row.answerText).toMatch(/^200 · stale copy, age \d+ s/);
      expect(down.row.answerText).toContain("because: error");

      // Every attempt now fails like a dropped connection: a few requests bring the route's breaker to ten
      // attempts, most of them failed (fewer attempts per request than three once the retry budget is spent).
      await Promise.all([
        page.waitForResponse((r) => r.url().includes("/__staunch/outage")),
        page.click("#btn-outage"),
      ]);
      const openBreaker = page.locator(".breaker[data-key] span.state.open");
      for (let i = 0; i < 20 && (await openBreaker.count()) === 0; i++) {
        const during = await send(page, "#btn-ok");
        expect(during.status).toBe(200);
        expect(during.headers["staunch-fallback"]).toBe("stale");
      }
      await expect(openBreaker.textContent()).resolves.toBe("open");
      await expect(page.locator(".breaker[data-key]").getAttribute("data-key")).resolves.toBe(
        "https://demo.origin/data",
      );

      const failFast = await send(page, "#btn-ok");
      expect(failFast.status).toBe(200);
      expect(failFast.headers["staunch-fallback"]).toBe("stale");
      expect(failFast.headers["staunch-attempts"]).toBe("0");
      expect(failFast.row.request).toBe("GET /data");
      expect(failFast.row.chips).toEqual([]);
      expect(failFast.row.attemptsText).toBe("no attempt (failed fast)");
      expect(failFast.row.source).toBe("stale");
      expect(failFast.row.answerText).toContain("because: circuit-open");

      expect(pageErrors).toEqual([]);
    } catch (error) {
      if (dev.reloads() > 0) {
        throw new Error("wrangler reloaded the Worker mid-test (a source file changed): its state started over", {
          cause: error,
        });
      }
      throw error;
    } finally {
      await mkdir(".e2e-artifacts", { recursive: true });
      await page.screenshot({ path: screenshotPath, fullPage: true });
      await page.close();
    }

    await dev.stop();
    expect(dev.unhandledErrors()).toEqual([]);
    expect(dev.reloads(), "wrangler reloaded the Worker (a source file changed) and its state started over").toBe(0);
  });
});
