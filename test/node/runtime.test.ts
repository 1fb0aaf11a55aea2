import { afterEach, describe, expect, it, vi } from "vitest";
import { compose, cryptoRandom, retry, timeout } from "../../src/index.ts";

/** Active timers and handles of this process, as Node reports them (ref'd timers show as "Timeout"). */
const activeTimers = () => process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;

describe("in Node", () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it("runs the tools on Node 22 from the node@22 package, not the system Node", () => {
    expect(Number(process.versions.node.split(".")[0])).toBeGreaterThanOrEqual(22);
  });

  it("leaves no timer behind after a timed call settles early", async () => {
    const before = activeTimers();
    const policy = compose(timeout(60_000), retry({ attempts: 3 }), timeout(30_000));
    await expect(policy.execute(async ({ signal }) => (signal ? "ok" : "no signal"))).resolves.toBe("ok");
    expect(activeTimers()).toBe(before);
  });

  it("leaves no timer behind when the caller aborts a long backoff sleep", async () => {
    const before = activeTimers();
    const controller = new AbortController();
    const outcome = retry({ backoff: { initialMs: 30_000, jitter: "none" } }).execute(() => {
      throw new TypeError("fetch failed");
    }, controller.signal);
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(activeTimers()).toBe(before + 1); // the sleep
    controller.abort();
    await expect(outcome).rejects.toMatchObject({ name: "AbortError" });
    expect(activeTimers()).toBe(before);
  });

  it("draws jitter from crypto.getRandomValues by default", async () => {
    const spy = vi.spyOn(globalThis.crypto, "getRandomValues");
    // The pool holds 256 values; drawing 300 forces at least one refill.
    const draws = Array.from({ length: 300 }, () => cryptoRandom());
    expect(spy).toHaveBeenCalled();
    expect(draws.every((d) => d >= 0 && d < 1)).toBe(true);
    expect(new Set(draws).size).toBeGreaterThan(290);

    // The delays slept, not the retry events' (whole ms, as logged): the jitter itself must vary.
    const delays: number[] = [];
    const policy = retry({
      attempts: 40,
      backoff: { initialMs: 0.01, maxMs: 0.01 },
      env: { sleep: async (ms) => void delays.push(ms) },
    });
    await expect(policy.execute(() => Promise.reject(new TypeError("fetch failed")))).rejects.toThrow();
    expect(new Set(delays).size).toBeGreaterThan(30);
  });
});
