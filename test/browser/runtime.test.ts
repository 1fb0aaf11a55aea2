import { describe, expect, it } from "vitest";
import { retry } from "../../src/index.ts";

describe("in Chromium", () => {
  it("really runs in headless Chromium", () => {
    expect(navigator.userAgent).toMatch(/Chrome\/\d+/);
  });

  it("treats the browser's own network failure as transient and retries it", async () => {
    let calls = 0;
    const policy = retry({ attempts: 2, backoff: { initialMs: 0 } });
    // Port 9 (discard) is closed on loopback: Chromium rejects with its own "Failed to fetch".
    const outcome = policy.execute(() => {
      calls++;
      return fetch("http://127.0.0.1:9/");
    });
    await expect(outcome).rejects.toThrow("Failed to fetch");
    expect(calls).toBe(2);
  });
});
