/**
 * createLeanFetch: createFetch with only the layers it is given. Its breaker and bulkhead are values the
 * caller passes in. Runs in Node, workerd, Chromium and Deno.
 */

import { describe, expect, inject, it } from "vitest";
import {
  bulkhead,
  consecutiveFailures,
  createLeanFetch,
  isBulkheadRejectedError,
  isCircuitOpenError,
  perOriginBreaker,
} from "../../src/index.ts";
import { FakeClock } from "../support/fake-clock.ts";
import { scenario, statusOf } from "../support/scenario.ts";

const server = inject("faultServer");

describe("createLeanFetch", () => {
  it("has no breaker unless given one: failing calls keep reaching the origin", async () => {
    const fetch = createLeanFetch({ env: new FakeClock().instantSleep(), attempts: 1 });
    const s = scenario(server, "500");
    for (let call = 1; call <= 25; call++) expect(await statusOf(fetch(s.url))).toBe(500);
    expect(await s.received()).toHaveLength(25);
    expect(fetch.breaker(s.url)).toBeUndefined();
    expect(fetch.origins()[0]?.circuit).toBeUndefined();
  });

  it("does not read the clock at each attempt under a total deadline when no breaker weighs attempt times", async () => {
    // The time an attempt started is what a breaker weighs a cut attempt by; without one, reading it at every
    // attempt cost ~7 % of an in-memory call (bench "createFetch over an in-memory fetch").
    const clock = new FakeClock();
    let reads = 0;
    const env = {
      ...clock.instantSleep(),
      now: () => {
        reads++;
        return clock.nowMs;
      },
    };
    const fetch = createLeanFetch({ env, totalTimeoutMs: 30_000, fetch: async () => new Response("ok") });
    await (await fetch("https://api.example/items")).text();
    const first = reads;
    await (await fetch("https://api.example/items")).text();
    // When the call started (the deadline's decisions, maxElapsedMs): a first answer that is not retried reads
    // nothing more.
    expect(reads - first).toBe(1);
  });

  it("guards each origin with the breaker perOriginBreaker makes", async () => {
    const fetch = createLeanFetch({
      env: new FakeClock().instantSleep(),
      attempts: 1,
      breaker: perOriginBreaker({ strategy: () => consecutiveFailures(2) }),
    });
    const s = scenario(server, "500");
    expect(await statusOf(fetch(s.url))).toBe(500);
    expect(await statusOf(fetch(s.url))).toBe(500); // opens it
    await expect(fetch(s.url)).rejects.toSatisfy(isCircuitOpenError);
    expect(await s.received()).toHaveLength(2);
    expect(fetch.origins()[0]?.circuit).toBe("open");
  });

  it("refuses breaker options it would have to bundle the breaker for, naming perOriginBreaker", () => {
    expect(() => createLeanFetch({ breaker: { halfOpenAfterMs: 1_000 } })).toThrow(
      'createLeanFetch: option "breaker" must be a perOriginBreaker(…) or false, got [object Object]',
    );
  });

  it("checks perOriginBreaker's options when it is called", () => {
    expect(() => perOriginBreaker({ halfOpenProbes: 0 })).toThrow(
      'perOriginBreaker: option "halfOpenProbes" must be an integer ≥ 1, got 0',
    );
  });

  it("makes a bulkhead per origin from a function, so one busy origin does not hold up another", async () => {
    const fetch = createLeanFetch({ attempts: 1, bulkhead: () => bulkhead({ limit: 1 }) });
    const slow = scenario(server, "200|delay=200");
    const first = fetch(slow.url);
    await expect(fetch(slow.url)).rejects.toSatisfy(isBulkheadRejectedError);
    const other = scenario(server.replace("127.0.0.1", "localhost"), "200");
    expect(await statusOf(fetch(other.url))).toBe(200);
    expect(await statusOf(first)).toBe(200);
  });

  it("refuses bulkhead options, which would bundle the bulkhead, and says what it takes", () => {
    expect(() => createLeanFetch({ bulkhead: { limit: 1 } as never })).toThrow(
      'createLeanFetch: option "bulkhead" must be a bulkhead(…), or a function (origin) => bulkhead(…), got [object Object]',
    );
    expect(() => createLeanFetch({ bulkhead: (() => ({ limit: 1 })) as never })).toThrow(
      'createLeanFetch: option "bulkhead" must be a bulkhead(…), or a function (origin) => bulkhead(…), got [object Object]',
    );
  });
});
