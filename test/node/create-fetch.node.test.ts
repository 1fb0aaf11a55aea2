import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import ky from "ky";
import { afterEach, describe, expect, inject, it } from "vitest";
import { circuitBreaker, createFetch, on } from "../../src/index.ts";
import { FakeClock } from "../support/fake-clock.ts";
import { scenario } from "../support/scenario.ts";

const server = inject("faultServer");
const activeTimers = () => process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;

describe("createFetch in Node", () => {
  const realFetch = globalThis.fetch;
  afterEach(() => {
    globalThis.fetch = realFetch;
  });

  it("serves as ky's fetch, with ky's own retries off", async () => {
    const api = ky.create({ fetch: createFetch({ env: new FakeClock().instantSleep() }), retry: 0 });
    const s = scenario(server, "503", "reset", "200");
    expect(await api.get(s.url).text()).toBe("200 #3");
    expect(await s.received()).toHaveLength(3);
  });

  it("under ky with its own retries, a persistent 500 ends in ky's HTTPError and leaves the circuit closed", async () => {
    const fetch = createFetch({ env: new FakeClock().instantSleep() });
    const api = ky.create({ fetch, retry: { limit: 2, delay: () => 0 } });
    const s = scenario(server, "500");
    const error = await api
      .get(s.url)
      .text()
      .catch((e: unknown) => e);
    expect((error as Error).name).toBe("HTTPError");
    expect(await s.received()).toHaveLength(9); // 3 ky tries × 3 attempts each
    expect(fetch.breaker(server)?.state).toBe("closed");
  });

  it("serves ky's POST with an Idempotency-Key, replaying the JSON body", async () => {
    const api = ky.create({ fetch: createFetch({ env: new FakeClock().instantSleep() }), retry: 0 });
    const s = scenario(server, "503", "200");
    await api.post(s.url, { json: { id: 7 }, headers: { "idempotency-key": "k" } }).text();
    const received = await s.received();
    expect(received.map((r) => Buffer.from(r.bodyBase64, "base64").toString())).toEqual(['{"id":7}', '{"id":7}']);
  });

  it("looks up globalThis.fetch at call time, so a later replacement is used", async () => {
    const fetch = createFetch();
    const seen: string[] = [];
    globalThis.fetch = async (input, init) => {
      seen.push(String(input));
      return realFetch(input, init);
    };
    const s = scenario(server, "200");
    await (await fetch(s.url)).text();
    expect(seen).toEqual([s.url]);
  });

  it("leaves no timer running after calls settle, success or failure", async () => {
    const before = activeTimers();
    const fetch = createFetch({ totalTimeoutMs: 30_000, attemptTimeoutMs: 10_000, backoff: { initialMs: 1 } });
    await (await fetch(scenario(server, "503", "200").url)).text();
    await fetch(scenario(server, "reset").url).catch(() => {});
    const controller = new AbortController();
    const aborted = fetch(scenario(server, "stall").url, { signal: controller.signal });
    setTimeout(() => controller.abort(), 50);
    await aborted.catch(() => {});
    // ≤, not =: undici may have closed a keep-alive socket timer of an earlier test meanwhile.
    expect(activeTimers()).toBeLessThanOrEqual(before);
  });

  // The attempt timeout rejects at its deadline and the retry decides (fetch-retry, or fetch-give-up on the last
  // attempt) at once, before undici's fetch rejects on the abort: the attempt is reported when its deadline
  // fires, not when fetch settles. Here, not in test/fetch/: when fetch rejects on an abort differs by runtime.
  it("reports a stalled attempt's fetch-attempt, as a TimeoutError, before the fetch-retry that follows it", async () => {
    const order: string[] = [];
    const fetch = createFetch({
      env: new FakeClock().instantSleep(),
      attempts: 2,
      attemptTimeoutMs: 100,
      telemetry: (event) => {
        if (event.type === "fetch-attempt" || event.type === "fetch-retry")
          order.push(`${event.type} ${event.attempt} ${event.status ?? event.errorName}`);
      },
    });
    const s = scenario(server, "stall", "200");
    await (await fetch(s.url)).text();
    expect(order).toEqual(["fetch-attempt 1 TimeoutError", "fetch-retry 1 TimeoutError", "fetch-attempt 2 200"]);
  });

  it("rejects bad options at construction, naming the option", () => {
    expect(() => createFetch({ attemptTimeoutMs: 0 })).toThrow(
      /createFetch: option "attemptTimeoutMs" must be a number > 0/,
    );
    expect(() => createFetch({ totalTimeoutMs: -1 })).toThrow(RangeError);
    expect(() => createFetch({ retryStatuses: [200, 700] })).toThrow(
      /"retryStatuses" must be status codes from 100 to 599, got 700/,
    );
    expect(() => createFetch({ maxRetryAfterMs: 2 ** 31 })).toThrow(/"maxRetryAfterMs" must be from 0 to 2147483647/);
    expect(() => createFetch({ maxBufferedBodyBytes: -1 })).toThrow(/"maxBufferedBodyBytes"/);
    expect(() => createFetch({ telemetry: {} as never })).toThrow(
      /createFetch: option "telemetry" must be a listener function or an array of them, got \[object Object\]/,
    );
    expect(() => createFetch({ retryNonIdempotent: "yes" as never })).toThrow(TypeError);
    expect(() => createFetch({ attempts: 0 })).toThrow(/createFetch: option "attempts"/);
    expect(() => createFetch({ retries: 3 } as never)).toThrow(/createFetch: unknown option "retries"/);
  });
});

describe("createFetch: a breaker shared by clients", () => {
  it("does not keep, nor call on its transitions, the clients dropped since", async () => {
    setFlagsFromString("--expose-gc");
    const gc = runInNewContext("gc") as () => void;
    const breaker = circuitBreaker();
    let heard = 0;
    const kept = createFetch({ breaker, telemetry: on("circuit-state-change", () => heard++) });
    kept.breaker("https://api.test"); // each client watches the breaker from its first use of an origin
    for (let i = 0; i < 1_000; i++) {
      createFetch({ breaker, telemetry: on("circuit-state-change", () => heard++) }).breaker("https://api.test"); // one per request
    }
    await new Promise((resolve) => setTimeout(resolve, 0)); // a WeakRef holds its target until the job ends
    gc();
    breaker.isolate();
    expect(heard).toBe(1);
    expect(kept.breaker("https://api.test")).toBe(breaker); // the live client, kept alive to here
  });
});
