/**
 * Offline is not the origin's fault: with the browser context really offline (Playwright's setOffline), calls
 * fail with the network error a page shows as "you are offline", never open the origin's circuit, and coming
 * back online lets an open circuit probe at once.
 */

import { afterEach, describe, expect, inject, it } from "vitest";
import { server as browser } from "vitest/browser";
import { consecutiveFailures, createFetch, isCircuitOpenError, isNetworkError } from "../../src/index.ts";
import { scenario } from "../support/scenario.ts";

const server = inject("faultServer");
const { goOfflineFor } = browser.commands as unknown as { goOfflineFor(ms: number): Promise<void> };

/** Resolves on the window's next `event` ("online" or "offline"). */
const next = (event: string): Promise<void> =>
  new Promise((resolve) => window.addEventListener(event, () => resolve(), { once: true }));

/** Waits until the loopback server answers again: the `online` event may come before the network is back. */
async function reachable(): Promise<void> {
  for (let tries = 0; tries < 100; tries++) {
    const ok = await fetch(`${server}/log/reachable`).then(
      () => true,
      () => false,
    );
    if (ok) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error("the loopback server stayed unreachable after going back online");
}

/** Every test that goes offline waits until it is back, so that the next test starts online. */
let back: Promise<void> = Promise.resolve();

afterEach(async () => {
  await back;
});

/**
 * Takes the page offline for a while and resolves once it is; `online` resolves when it is back. Offline, the
 * page cannot talk to vitest either, so the way back is scheduled by the command, not asked for.
 */
async function goOffline(): Promise<{ online: Promise<void> }> {
  const offline = next("offline");
  const online = offline.then(() => next("online"));
  back = online.then(reachable);
  await goOfflineFor(1_500);
  await offline;
  return { online: back };
}

describe("createFetch in a browser that is offline", () => {
  it("rejects concurrent calls with the network error and does not open the origin's circuit", async () => {
    const fetch = createFetch({
      attempts: 2,
      backoff: { initialMs: 0 },
      breaker: { strategy: () => consecutiveFailures(1) },
    });
    await goOffline();
    expect(navigator.onLine).toBe(false);
    const outcomes = await Promise.all(
      Array.from({ length: 4 }, () => fetch(scenario(server, "200").url).catch((error: unknown) => error)),
    );
    for (const outcome of outcomes) {
      expect(isCircuitOpenError(outcome)).toBe(false);
      expect(isNetworkError(outcome)).toBe(true);
    }
    expect(fetch.breaker(server)?.state).toBe("closed");
  });

  it("lets calls through an already open circuit, so the caller sees the network error", async () => {
    const fetch = createFetch({
      attempts: 1,
      breaker: { strategy: () => consecutiveFailures(1), halfOpenAfterMs: 60_000 },
    });
    await (await fetch(scenario(server, "503").url)).arrayBuffer();
    expect(fetch.breaker(server)?.state).toBe("open");
    await goOffline();
    const error = await fetch(scenario(server, "200").url).catch((e: unknown) => e);
    expect(isNetworkError(error)).toBe(true);
  });

  it("probes an open circuit at once when the browser comes back online", async () => {
    const fetch = createFetch({
      attempts: 1,
      breaker: { strategy: () => consecutiveFailures(1), halfOpenAfterMs: 60_000 },
    });
    await (await fetch(scenario(server, "503").url)).arrayBuffer();
    await expect(fetch(scenario(server, "200").url)).rejects.toSatisfy(isCircuitOpenError);
    const { online } = await goOffline();
    await online;
    const back = scenario(server, "200");
    const response = await fetch(back.url);
    expect(response.status).toBe(200);
    await response.arrayBuffer();
    expect(await back.received()).toHaveLength(1);
    expect(fetch.breaker(server)?.state).toBe("closed");
  });
});
