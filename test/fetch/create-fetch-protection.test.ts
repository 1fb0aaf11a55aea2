/**
 * createFetch's protection of each origin: a circuit breaker per origin, shared backpressure from
 * Retry-After, a retry budget, and a bounded registry. Runs in Node, workerd, Chromium and Deno.
 */

import { describe, expect, inject, it } from "vitest";
import {
  bulkhead,
  type CircuitStateChange,
  circuitBreaker,
  consecutiveFailures,
  createFetch,
  type FetchFailure,
  type FetchFunction,
  fetchFallback,
  isBulkheadRejectedError,
  isCircuitOpenError,
  isNetworkError,
  isRateLimitedError,
  logTo,
  metricsTo,
  on,
  perOriginBreaker,
  retry,
  retryBudget,
} from "../../src/index.ts";
import { FakeClock } from "../support/fake-clock.ts";
import { scenario, statusOf } from "../support/scenario.ts";

const server = inject("faultServer");

describe("createFetch: a circuit breaker per origin", () => {
  it("counts each call once, after its retries, then fails fast without touching the server", async () => {
    const clock = new FakeClock();
    const changes: CircuitStateChange[] = [];
    const fetch = createFetch({
      env: clock.instantSleep(),
      attempts: 2,
      backoff: { initialMs: 0 },
      breaker: { strategy: () => consecutiveFailures(3), halfOpenAfterMs: 30_000 },
      telemetry: on("circuit-state-change", (c) => changes.push(c)),
    });
    const s = scenario(server, "503");
    for (let call = 1; call <= 3; call++) expect(await statusOf(fetch(s.url))).toBe(503); // the third opens it
    expect(await s.received()).toHaveLength(6);
    await expect(fetch(s.url)).rejects.toSatisfy(isCircuitOpenError);
    expect(await s.received()).toHaveLength(6);
    expect(changes.map((c) => `${c.key} ${c.from}→${c.to}`)).toEqual([`${server} closed→open`]);
    expect(fetch.origins()).toEqual([{ origin: server, circuit: "open", circuitRetryAfterMs: 30_000, pausedForMs: 0 }]);
  });

  it("never opens on one call's own retries: eight attempts at a constant 503 end with the 503", async () => {
    const fetch = createFetch({ env: new FakeClock().instantSleep(), attempts: 8 });
    const s = scenario(server, "503");
    expect(await statusOf(fetch(s.url))).toBe(503);
    expect(await s.received()).toHaveLength(8);
    expect(fetch.origins()[0]?.circuit).toBe("closed");
  });

  it("by default stays closed on a few failing calls (ky's own retries of one request, say)", async () => {
    const fetch = createFetch({ env: new FakeClock().instantSleep(), attempts: 1 });
    const s = scenario(server, "500");
    for (let call = 0; call < 9; call++) expect(await statusOf(fetch(s.url))).toBe(500);
    expect(fetch.origins()[0]?.circuit).toBe("closed");
  });

  it("by default opens once half the calls of the window failed, ten calls in", async () => {
    const fetch = createFetch({ env: new FakeClock().instantSleep(), attempts: 1 });
    const s = scenario(server, "500");
    for (let call = 0; call < 10; call++) expect(await statusOf(fetch(s.url))).toBe(500);
    expect(fetch.origins()[0]?.circuit).toBe("open");
    await expect(fetch(s.url)).rejects.toSatisfy(isCircuitOpenError);
  });

  it("a call whose circuit opens during its retry's wait sends no retry and keeps its last response; later calls fail fast", async () => {
    const clock = new FakeClock();
    const base = clock.instantSleep();
    let opening: Promise<unknown> = Promise.resolve();
    const giveUps: string[] = [];
    const fetch = createFetch({
      // The retry's wait lasts until another call has failed and opened the circuit.
      env: { ...base, sleep: (ms, signal) => opening.then(() => base.sleep(ms, signal)) },
      attempts: 4,
      breaker: { strategy: () => consecutiveFailures(1) },
      telemetry: [
        on("fetch-retry", () => {
          opening = fetch(scenario(server, "500").url, { method: "POST" }).then((r) => r.arrayBuffer());
        }),
        on("fetch-give-up", (event) => giveUps.push(`${event.status} ${event.reason}`)),
      ],
    });
    const s = scenario(server, "503|ra=0", "502");
    const response = await fetch(s.url);
    expect(response.status).toBe(503);
    expect(response.headers.get("retry-after")).toBe("0");
    expect(await response.text()).toBe(""); // its body was let go before the wait, as every retried response's is
    expect(await s.received()).toHaveLength(1);
    expect(giveUps).toEqual(["503 circuit-open"]);
    await expect(fetch(s.url)).rejects.toSatisfy(isCircuitOpenError);
  });

  it("a call retrying on errors whose circuit opens during the wait ends with its last error, not CircuitOpenError", async () => {
    const clock = new FakeClock();
    const base = clock.instantSleep();
    let opening: Promise<unknown> = Promise.resolve();
    const fetch = createFetch({
      env: { ...base, sleep: (ms, signal) => opening.then(() => base.sleep(ms, signal)) },
      attempts: 4,
      breaker: { strategy: () => consecutiveFailures(1) },
      telemetry: on("fetch-retry", () => {
        opening = fetch(scenario(server, "500").url, { method: "POST" }).then((r) => r.arrayBuffer());
      }),
    });
    const s = scenario(server, "reset");
    const error = await fetch(s.url).catch((e: unknown) => e);
    expect(isCircuitOpenError(error)).toBe(false);
    expect(isNetworkError(error)).toBe(true);
    expect(await s.received()).toHaveLength(1);
  });

  it("probes after halfOpenAfterMs and closes when the origin is back", async () => {
    const clock = new FakeClock();
    const fetch = createFetch({
      env: clock.instantSleep(),
      attempts: 1,
      breaker: { strategy: () => consecutiveFailures(1), halfOpenAfterMs: 5_000 },
    });
    const s = scenario(server, "502", "200");
    expect(await statusOf(fetch(s.url))).toBe(502);
    await expect(fetch(s.url)).rejects.toSatisfy(isCircuitOpenError);
    clock.nowMs += 5_000;
    expect(fetch.origins()[0]?.circuit).toBe("half-open");
    expect(await statusOf(fetch(s.url))).toBe(200);
    expect(fetch.origins()[0]?.circuit).toBe("closed");
  });

  it("keeps origins apart: one origin's open circuit does not stop another", async () => {
    const fetch = createFetch({
      env: new FakeClock().instantSleep(),
      attempts: 1,
      breaker: { strategy: () => consecutiveFailures(1) },
    });
    const broken = scenario(server, "500");
    expect(await statusOf(fetch(broken.url))).toBe(500);
    await expect(fetch(broken.url)).rejects.toSatisfy(isCircuitOpenError);
    const other = scenario(server.replace("127.0.0.1", "localhost"), "200");
    expect(await statusOf(fetch(other.url))).toBe(200);
  });

  it("does not count 4xx answers against the origin", async () => {
    const fetch = createFetch({
      env: new FakeClock().instantSleep(),
      breaker: { strategy: () => consecutiveFailures(1) },
    });
    const s = scenario(server, "404");
    for (let i = 0; i < 3; i++) expect(await statusOf(fetch(s.url))).toBe(404);
    expect(fetch.origins()[0]?.circuit).toBe("closed");
  });

  it("exposes each origin's breaker for isolate() and reset()", async () => {
    const fetch = createFetch({ env: new FakeClock().instantSleep() });
    const s = scenario(server, "200");
    const release = fetch.breaker(s.url)?.isolate();
    await expect(fetch(s.url)).rejects.toSatisfy(isCircuitOpenError);
    release?.();
    expect(await statusOf(fetch(s.url))).toBe(200);
    expect(await s.received()).toHaveLength(1);
  });

  it("logs breaker transitions through logTo(logger)", async () => {
    const lines: string[] = [];
    const logger = { warn: (m: string) => lines.push(m), error: (m: string) => lines.push(m) };
    const fetch = createFetch({
      env: new FakeClock().instantSleep(),
      attempts: 1,
      telemetry: logTo(logger),
      breaker: { strategy: () => consecutiveFailures(1), halfOpenAfterMs: 1_000 },
    });
    await statusOf(fetch(scenario(server, "503").url));
    expect(lines).toContain(`staunch: circuit for ${server} opened; calls fail fast for 1000 ms`);
  });

  it("rejects a strategy instance, which all origins would share", () => {
    expect(() => createFetch({ breaker: { strategy: consecutiveFailures(3) as never } })).toThrow(
      /createFetch\.breaker: option "strategy" must be a function that makes a strategy per origin/,
    );
    expect(() => createFetch({ breaker: { halfOpenProbes: 0 } })).toThrow(/"halfOpenProbes" must be an integer ≥ 1/);
  });
});

/** A fetch that never answers but honours its signal, as a stalled connection does. */
const stalled: FetchFunction = (_input, init) =>
  new Promise((_resolve, reject) => {
    init?.signal?.addEventListener("abort", () => reject(init.signal?.reason), { once: true });
  });

/** An origin in memory that answers every request with `status`. */
const answering =
  (status: number): FetchFunction =>
  async () =>
    new Response(null, { status });

describe("createFetch: the breaker counts what a call says of the origin", () => {
  it("counts an attempt the deadline cut after it had its time, not one let out of the queue just before", async () => {
    const clock = new FakeClock();
    const fetch = createFetch({
      fetch: stalled,
      env: clock,
      bulkhead: () => bulkhead({ limit: 1, queue: 10 }),
      totalTimeoutMs: 100,
      breaker: { strategy: () => consecutiveFailures(2) },
    });
    const calls = [fetch("https://api.test/a"), fetch("https://api.test/b")].map((p) => p.catch((e: unknown) => e));
    await clock.advance(150);
    expect((await Promise.all(calls)).map((e) => (e as Error).name)).toEqual(["TimeoutError", "TimeoutError"]);
    expect(fetch.origins()[0]?.circuit).toBe("closed"); // the second call's attempt had no time at all
    const alone = fetch("https://api.test/c").catch((e: unknown) => e);
    await clock.advance(150);
    await alone;
    expect(fetch.origins()[0]?.circuit).toBe("open"); // a hanging origin still opens it
  });

  it("counts an attempt the attempt timeout cut, with no total deadline: it had its whole time", async () => {
    const clock = new FakeClock();
    const fetch = createFetch({
      fetch: stalled,
      env: clock,
      attempts: 1,
      attemptTimeoutMs: 100,
      breaker: { strategy: () => consecutiveFailures(1) },
    });
    const call = fetch("https://api.test/a").catch((e: unknown) => e);
    await clock.advance(150);
    expect(((await call) as Error).name).toBe("TimeoutError");
    expect(fetch.origins()[0]?.circuit).toBe("open");
  });

  it("counts a call whose deadline ends its backoff as what its last attempt got: a 503 counts, a 429 does not", async () => {
    for (const [status, circuit] of [
      [429, "closed"],
      [503, "open"],
    ] as const) {
      const clock = new FakeClock();
      const fetch = createFetch({
        fetch: answering(status),
        env: clock,
        totalTimeoutMs: 250,
        backoff: { initialMs: 200, jitter: "none" },
        breaker: { strategy: () => consecutiveFailures(1) },
      });
      await clock.run(fetch("https://api.test/items").catch((e: unknown) => e));
      expect(fetch.origins()[0]?.circuit).toBe(circuit);
    }
  });

  it("does not count a call ended by a backoff function that throws or returns NaN, whatever the breaker's form", async () => {
    for (const backoff of [
      () => {
        throw "a bug in the caller's backoff";
      },
      () => Number.NaN,
    ]) {
      const breaker = circuitBreaker({ strategy: consecutiveFailures(1) });
      for (const option of [breaker, () => breaker, { strategy: () => consecutiveFailures(1) }]) {
        const fetch = createFetch({
          fetch: answering(503),
          env: new FakeClock().instantSleep(),
          backoff,
          breaker: option,
        });
        await expect(fetch("https://api.test/items")).rejects.toBeDefined();
        expect(fetch.origins()[0]?.circuit).toBe("closed");
      }
    }
  });

  it("does not count what beforeRetry throws against a breaker made by a function", async () => {
    const breaker = circuitBreaker({ strategy: consecutiveFailures(1) });
    const fetch = createFetch({
      fetch: answering(503),
      env: new FakeClock().instantSleep(),
      breaker: () => breaker,
      beforeRetry: () => {
        throw new Error("token refresh failed");
      },
    });
    await expect(fetch("https://api.test/items")).rejects.toThrow("token refresh failed");
    expect(breaker.state).toBe("closed");
  });

  it("sends a half-open probe once, unretried, and closes the circuit when it succeeds", async () => {
    const clock = new FakeClock();
    let requests = 0;
    const fetch = createFetch({
      fetch: async () => new Response(null, { status: ++requests <= 4 ? 503 : 200 }),
      env: clock.instantSleep(),
      breaker: { strategy: () => consecutiveFailures(1), halfOpenAfterMs: 1_000 },
    });
    expect((await fetch("https://api.test/items")).status).toBe(503); // three attempts; opens the circuit
    clock.nowMs += 1_000;
    expect((await fetch("https://api.test/items")).status).toBe(503); // the probe: one attempt
    expect(requests).toBe(4);
    clock.nowMs += 1_000;
    expect((await fetch("https://api.test/items")).status).toBe(200);
    expect(fetch.origins()[0]?.circuit).toBe("closed");
  });
});

describe("createFetch: the breaker option takes what users pass", () => {
  it("honours a circuitBreaker instance, one circuit for every origin, reported to the client's listeners", async () => {
    const breaker = circuitBreaker({ strategy: consecutiveFailures(1), env: new FakeClock() });
    const changes: string[] = [];
    const fetch = createFetch({
      env: new FakeClock().instantSleep(),
      attempts: 1,
      breaker,
      telemetry: on("circuit-state-change", (c) => changes.push(`${c.from}→${c.to}`)),
    });
    expect(await statusOf(fetch(scenario(server, "503").url))).toBe(503);
    expect(breaker.state).toBe("open");
    const other = scenario(server.replace("127.0.0.1", "localhost"), "200");
    await expect(fetch(other.url)).rejects.toSatisfy(isCircuitOpenError);
    expect(await other.received()).toHaveLength(0);
    expect(fetch.breaker(other.url)).toBe(breaker);
    expect(changes).toEqual(["closed→open"]);
  });

  it("honours a function that makes each origin's breaker, called once now to check it, then once per new origin", async () => {
    const made: string[] = [];
    const fetch = createFetch({
      env: new FakeClock().instantSleep(),
      attempts: 1,
      breaker: (origin) => {
        made.push(origin);
        return circuitBreaker({ key: origin, strategy: consecutiveFailures(1) });
      },
    });
    expect(await statusOf(fetch(scenario(server, "500").url))).toBe(500);
    await expect(fetch(scenario(server, "200").url)).rejects.toSatisfy(isCircuitOpenError);
    const other = server.replace("127.0.0.1", "localhost");
    expect(await statusOf(fetch(scenario(other, "200").url))).toBe(200);
    expect(made).toEqual(["https://options.check", server, other]);
    expect(fetch.breaker(server)?.state).toBe("open");
  });

  it("refuses at construction a breaker function that returns something else than a breaker, saying what to return", () => {
    expect(() => createFetch({ breaker: (() => ({ open: false })) as never })).toThrow(
      /createFetch: option "breaker" must be a function that returns a circuitBreaker\(…\) for each origin, got \[object Object\]/,
    );
    expect(() => createFetch({ breaker: (() => "x") as never })).toThrow(/createFetch: option "breaker" .* got "x"/);
  });

  it("refuses at construction the circuitBreaker factory itself given to perOriginBreaker, naming the option", () => {
    expect(() => perOriginBreaker(circuitBreaker as never)).toThrow(/perOriginBreaker: option "breaker"/);
  });

  it("refuses another policy passed as the breaker, saying what to pass", () => {
    expect(() => createFetch({ breaker: retry() as never })).toThrow(
      /createFetch: option "breaker" must be breaker options, a circuitBreaker\(…\), a function \(origin\) => circuitBreaker\(…\), or false/,
    );
    expect(() => createFetch({ breaker: true as never })).toThrow(
      /createFetch\.breaker: options must be an object, got true/,
    );
  });

  it("honours a bulkhead instance as one bulkhead for every origin", async () => {
    const shared = bulkhead({ limit: 1 });
    const fetch = createFetch({ attempts: 1, breaker: false, bulkhead: shared });
    const slow = fetch(scenario(server, "200|delay=300").url);
    const other = scenario(server.replace("127.0.0.1", "localhost"), "200");
    await expect(fetch(other.url)).rejects.toSatisfy(isBulkheadRejectedError);
    expect(await statusOf(slow)).toBe(200);
  });
});

describe("createFetch: shared backpressure", () => {
  it("a 503 with Retry-After pauses the origin's next calls until the delay has passed", async () => {
    const clock = new FakeClock();
    const fetch = createFetch({ env: clock.instantSleep(), attempts: 1 });
    const first = scenario(server, "503|ra=3");
    expect(await statusOf(fetch(first.url))).toBe(503);
    const second = scenario(server, "200");
    expect(await statusOf(fetch(second.url))).toBe(200);
    expect(clock.sleeps).toEqual([3_300]); // the second call waited out the first one's pause, plus its jitter
    expect(fetch.origins()[0]?.pausedForMs).toBe(0);
  });

  it("fails fast with RateLimitedError when the pause ends past the call's own deadline", async () => {
    const clock = new FakeClock();
    const fetch = createFetch({ env: clock.instantSleep(), attempts: 1 });
    expect(await statusOf(fetch(scenario(server, "503|ra=30").url))).toBe(503);
    const s = scenario(server, "200");
    const paused = await fetch(s.url, { signal: undefined }).catch((e: unknown) => e);
    expect(paused).toBeInstanceOf(Response); // no deadline: it waits the pause out
    await (paused as Response).text();
    const tight = createFetch({ env: clock.instantSleep(), attempts: 1, totalTimeoutMs: 5_000 });
    expect(await statusOf(tight(scenario(server, "503|ra=30").url))).toBe(503);
    const refused = await tight(s.url).catch((e: unknown) => e);
    expect(isRateLimitedError(refused)).toBe(true);
    expect((refused as { retryAfterMs: number }).retryAfterMs).toBeGreaterThan(29_000);
    expect(clock.sleeps).toEqual([32_500]); // only the client without a deadline slept (30 s + jitter)
  });

  it("a retry that another call's pause would push past the deadline is not tried: the call keeps its response", async () => {
    const clock = new FakeClock();
    const giveUps: string[] = [];
    let requests = 0;
    let client: ReturnType<typeof createFetch>;
    client = createFetch({
      fetch: async (input) => {
        if (String(input).endsWith("/limited"))
          return new Response(null, { status: 429, headers: { "retry-after": "30" } });
        // While this request is answered, another call to the origin learns that it wants 30 s of quiet.
        if (requests++ === 0) await client("https://api.test/limited");
        return new Response("busy", { status: 503 });
      },
      env: clock.instantSleep(),
      totalTimeoutMs: 5_000,
      telemetry: on("fetch-give-up", (event) => giveUps.push(`${event.status} ${event.reason}`)),
    });
    const response = await client("https://api.test/items");
    expect(response.status).toBe(503);
    expect(await response.text()).toBe("busy"); // ended before the wait: its body is whole
    expect(requests).toBe(1);
    expect(giveUps).toEqual(["429 retry-after", "503 retry-after"]);
  });

  it("does not pause on a delay the client would not honour", async () => {
    const clock = new FakeClock();
    const fetch = createFetch({ env: clock.instantSleep(), attempts: 1, maxRetryAfterMs: 1_000 });
    expect(await statusOf(fetch(scenario(server, "429|ra=3600").url))).toBe(429);
    expect(fetch.origins()[0]?.pausedForMs).toBe(0);
  });
});

describe("createFetch: retry budget", () => {
  it("skips retries once a shared budget is spent and returns the failure as is", async () => {
    const clock = new FakeClock();
    const budget = retryBudget({ ratio: 0, minRetriesPerSecond: 0.1, windowMs: 10_000, env: clock }); // one retry
    const reasons: string[] = [];
    const fetch = createFetch({
      env: clock.instantSleep(),
      budget,
      breaker: false,
      telemetry: on("fetch-give-up", (e) => reasons.push(e.reason)),
    });
    const s = scenario(server, "503");
    expect(await statusOf(fetch(s.url))).toBe(503);
    expect(await statusOf(fetch(s.url))).toBe(503);
    expect(await s.received()).toHaveLength(3); // 2 calls + the 1 retry the budget held
    expect(reasons).toEqual(["budget", "budget"]);
  });
});

describe("createFetch: bounded per-origin state", () => {
  it("keeps at most maxOrigins origins, dropping the least recently used", async () => {
    const fetch = createFetch({ maxOrigins: 2, fetch: async () => new Response("ok") });
    for (const host of ["a.test", "b.test", "a.test", "c.test"]) await statusOf(fetch(`https://${host}/x`));
    expect(fetch.origins().map((o) => o.origin)).toEqual(["https://a.test", "https://c.test"]);
  });
});

describe("createFetch: bulkhead per origin", () => {
  it("rejects an attempt beyond limit + queue at once, and that rejection does not open the circuit", async () => {
    const fetch = createFetch({
      env: new FakeClock().instantSleep(),
      bulkhead: () => bulkhead({ limit: 1, queue: 0 }),
      breaker: { strategy: () => consecutiveFailures(1) },
    });
    const slow = scenario(server, "200|delay=200");
    const first = fetch(slow.url);
    const second = await fetch(slow.url).catch((e: unknown) => e);
    expect(isBulkheadRejectedError(second)).toBe(true);
    expect(await statusOf(first)).toBe(200);
    expect(await slow.received()).toHaveLength(1);
    expect(fetch.origins()[0]?.circuit).toBe("closed");
  });

  it("queues inside the attempt timeout's reach: time spent waiting for a slot is not an attempt's time", async () => {
    const fetch = createFetch({
      attemptTimeoutMs: 350,
      bulkhead: () => bulkhead({ limit: 1, queue: 1 }),
      breaker: false,
    });
    const s = scenario(server, "200|delay=200");
    const [a, b] = await Promise.all([statusOf(fetch(s.url)), statusOf(fetch(s.url))]);
    // b waited ~200 ms for a's slot, then took ~200 ms itself: 400 ms > 350 ms, yet no attempt timed out.
    expect([a, b]).toEqual([200, 200]);
    expect(await s.received()).toHaveLength(2);
  });
});

describe("createFetch: fallback", () => {
  it("refuses a bare function, which would bundle the fallback into every client, and says what to pass", () => {
    expect(() => createFetch({ fallback: (() => new Response("x")) as never })).toThrow(
      'createFetch: option "fallback" must be a fetchFallback((failure) => Response), got a function',
    );
  });

  it("answers with the fallback when every attempt fails to connect", async () => {
    const failures: FetchFailure[] = [];
    const fetch = createFetch({
      env: new FakeClock().instantSleep(),
      attempts: 2,
      fallback: fetchFallback((failure) => {
        failures.push(failure);
        return new Response("cached copy", { headers: { "staunch-fallback": "1" } });
      }),
    });
    const s = scenario(server, "reset");
    const res = await fetch(s.url);
    expect(await res.text()).toBe("cached copy");
    expect(failures).toHaveLength(1);
    expect(failures[0]?.request.method).toBe("GET");
    expect(failures[0]?.response).toBeUndefined();
    expect(await s.received()).toHaveLength(2); // retries came first: fallback is the outermost layer
  });

  it("answers with the fallback when the call ends with a retryable status, and hands it that response", async () => {
    const fetch = createFetch({
      env: new FakeClock().instantSleep(),
      attempts: 2,
      fallback: fetchFallback(({ response }) => new Response(`fallback after ${response?.status}`)),
    });
    const res = await fetch(scenario(server, "503").url);
    expect(await res.text()).toBe("fallback after 503");
  });

  it("reports each fallback as a fetch-fallback event, counted by metricsTo", async () => {
    const events: string[] = [];
    const counts: string[] = [];
    const fetch = createFetch({
      env: new FakeClock().instantSleep(),
      attempts: 1,
      fallback: fetchFallback(() => new Response("fallback")),
      telemetry: [
        on("fetch-fallback", (e) =>
          events.push(
            `${e.method} ${e.reason} ${e.status ?? (e.errorName ? "error-name" : "none")} ${e.url.includes("?") ? "redacted" : "plain"}`,
          ),
        ),
        metricsTo({ count: (name, _v, tags) => counts.push(`${name} ${tags.reason}`), timing: () => {} }),
      ],
    });
    await (await fetch(`${scenario(server, "502").url}&secret=1`)).text();
    await (await fetch(scenario(server, "reset").url)).text();
    expect(events).toEqual(["GET result 502 redacted", "GET error error-name redacted"]);
    expect(counts.filter((c) => c.startsWith("staunch.fetch.fallbacks"))).toEqual([
      "staunch.fetch.fallbacks result",
      "staunch.fetch.fallbacks error",
    ]);
  });

  it("reports a fallback for an open circuit with the reason circuit-open", async () => {
    const reasons: string[] = [];
    const fetch = createFetch({
      env: new FakeClock().instantSleep(),
      attempts: 1,
      breaker: { strategy: () => consecutiveFailures(1) },
      fallback: fetchFallback(() => new Response("fallback")),
      telemetry: on("fetch-fallback", (e) => reasons.push(e.reason)),
    });
    const s = scenario(server, "500");
    await (await fetch(s.url)).text();
    await (await fetch(s.url)).text();
    expect(reasons).toEqual(["result", "circuit-open"]);
  });

  it("answers with the fallback when the circuit is open", async () => {
    const fetch = createFetch({
      env: new FakeClock().instantSleep(),
      attempts: 1,
      breaker: { strategy: () => consecutiveFailures(1) },
      fallback: fetchFallback(({ error }) => new Response(isCircuitOpenError(error) ? "circuit open" : "other")),
    });
    const s = scenario(server, "500");
    expect(await (await fetch(s.url)).text()).toBe("other"); // a 500, which opens the circuit
    expect(await (await fetch(s.url)).text()).toBe("circuit open");
    expect(await s.received()).toHaveLength(1);
  });

  it("does not answer a 4xx or a success with the fallback", async () => {
    const fetch = createFetch({
      env: new FakeClock().instantSleep(),
      fallback: fetchFallback(() => new Response("fallback")),
    });
    expect(await (await fetch(scenario(server, "404").url)).text()).toBe("404 #1");
    expect(await (await fetch(scenario(server, "200").url)).text()).toBe("200 #1");
  });

  it("never turns the caller's abort into a fallback", async () => {
    const controller = new AbortController();
    const fetch = createFetch({ fallback: fetchFallback(() => new Response("fallback")) });
    const pending = fetch(scenario(server, "stall").url, { signal: controller.signal });
    setTimeout(() => controller.abort(new Error("user cancelled")), 50);
    await expect(pending).rejects.toThrow("user cancelled");
  });

  it("answers with the fallback at the total deadline", async () => {
    const fetch = createFetch({
      totalTimeoutMs: 200,
      fallback: fetchFallback(({ error }) => new Response(String((error as Error).name))),
    });
    expect(await (await fetch(scenario(server, "stall").url)).text()).toBe("TimeoutError");
  });
});
