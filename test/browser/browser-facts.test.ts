/**
 * What a frontend meets in Chromium that no other runtime shows, as the README's "In the browser" says.
 */

import { describe, expect, inject, it } from "vitest";
import { createFetch } from "../../src/index.ts";
import { FakeClock } from "../support/fake-clock.ts";
import { scenario } from "../support/scenario.ts";

const server = inject("faultServer");

describe("in Chromium, cross-origin", () => {
  it("a Retry-After is invisible unless the server exposes it: the backoff is used instead", async () => {
    const sleepsFor = async (step: string) => {
      const clock = new FakeClock();
      const fetch = createFetch({ env: clock.instantSleep(), backoff: { initialMs: 100, jitter: "none" } });
      await (await fetch(scenario(server, step, "200").url)).arrayBuffer();
      return clock.sleeps;
    };
    // As asked, plus up to 20 % of jitter so that a fleet told the same instant does not return in step.
    const [exposed] = await sleepsFor("503|ra=2");
    expect(exposed).toBeGreaterThanOrEqual(2_000);
    expect(exposed).toBeLessThanOrEqual(2_400);
    expect(await sleepsFor("503|ra=2|expose=0")).toEqual([100]);
  });

  it("a CORS refusal is a 'Failed to fetch', retried although every attempt reached the server", async () => {
    const fetch = createFetch({ env: new FakeClock().instantSleep() });
    const s = scenario(server, "500|cors=0");
    await expect(fetch(s.url)).rejects.toThrow("Failed to fetch");
    expect(await s.received()).toHaveLength(3);
  });
});
