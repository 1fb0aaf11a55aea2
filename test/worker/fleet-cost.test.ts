/**
 * What shared state costs: Durable Object requests per 1,000 proxied requests, counted at the binding, with
 * the sample Worker's settings (3 attempts, consecutiveFailures(5), 10 s half-open, the default retry budget)
 * and the coordinator's defaults (1 s sync interval, batches of 100, 500 ms timeout). Three simulated
 * isolates share the real Durable Object; `Date` is faked so that a simulated minute takes a second, and each
 * isolate's exchange lands before its next request (a Durable Object round trip is a few ms; requests at
 * 1,000 a second per isolate would coalesce some exchanges, so these counts are upper bounds). The table is
 * printed and quoted in docs/fleet.md.
 */

import { env } from "cloudflare:test";
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { type DurableNamespaceLike, durableObjectStore } from "../../src/durable.ts";
import { consecutiveFailures, coordinator, createFetch, retryBudget } from "../../src/index.ts";
import type { Env } from "../../worker/index.ts";

const namespace = (env as Env).STAUNCH_STATE as DurableObjectNamespace;

/** The binding, counting the requests that reach the Durable Object. */
function countingNamespace(): DurableNamespaceLike & { requests: number } {
  const counted = {
    requests: 0,
    idFromName: (name: string) => namespace.idFromName(name),
    get: (id: DurableObjectId) => {
      const stub = namespace.get(id);
      return {
        fetch: (request: Request) => {
          counted.requests++;
          return stub.fetch(request);
        },
      };
    },
  };
  return counted;
}

interface Scenario {
  readonly name: string;
  readonly ratePerIsolate: number;
  readonly seconds: number;
  /** The upstream's answer at a time (seconds since the start): a status, or a dropped connection. */
  readonly upstream: (second: number, draw: number) => number | "down";
  /** `false`: each isolate keeps its own state (the Worker without the binding), for comparison. */
  readonly shared?: boolean;
}

interface Measurement {
  readonly scenario: string;
  readonly traffic: string;
  readonly proxied: number;
  readonly upstreamCalls: number;
  readonly durableObjectRequests: number;
  readonly perThousand: number;
}

const ISOLATES = 3;
const results: Measurement[] = [];
let seed = 1;
/** A deterministic draw in [0, 1), so a failure rate is the same on every run. */
const draw = () => {
  seed = (seed * 16_807) % 2_147_483_647;
  return seed / 2_147_483_647;
};

async function measure(scenario: Scenario): Promise<Measurement> {
  const binding = countingNamespace();
  const origin = `https://cost-${results.length}-${Math.random().toString(36).slice(2)}.test`;
  let upstreamCalls = 0;
  const startMs = Date.now();
  const isolates = Array.from({ length: ISOLATES }, () => {
    const shared = scenario.shared === false ? undefined : coordinator({ store: durableObjectStore(binding) });
    const client = createFetch({
      fetch: async () => {
        upstreamCalls++;
        const answer = scenario.upstream((Date.now() - startMs) / 1_000, draw());
        if (answer === "down") throw new TypeError("Network connection lost.");
        return new Response("upstream", { status: answer });
      },
      attempts: 3,
      breaker: { strategy: () => consecutiveFailures(5), halfOpenAfterMs: 10_000, fleet: shared },
      budget: retryBudget({ fleet: shared?.budget(origin) }),
      env: { sleep: async () => {} },
    });
    return { shared, client };
  });
  const stepMs = 1_000 / scenario.ratePerIsolate;
  let proxied = 0;
  for (let t = 0; t < scenario.seconds * 1_000; t += stepMs) {
    vi.setSystemTime(startMs + t);
    for (const { client, shared } of isolates) {
      proxied++;
      await client(`${origin}/item`).then(
        (response) => response.body?.cancel(),
        () => {},
      );
      await shared?.settled();
    }
  }
  const measurement = {
    scenario: scenario.name,
    traffic: `${ISOLATES} × ${scenario.ratePerIsolate}/s, ${scenario.seconds} s`,
    proxied,
    upstreamCalls,
    durableObjectRequests: binding.requests,
    perThousand: (binding.requests / proxied) * 1_000,
  };
  results.push(measurement);
  return measurement;
}

describe("Durable Object requests per 1,000 proxied requests", () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ["Date"], now: 1_800_000_000_000 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });
  afterAll(() => {
    const rows = results.map((r) =>
      [
        r.scenario.padEnd(34),
        r.traffic.padEnd(20),
        String(r.proxied).padStart(8),
        String(r.upstreamCalls).padStart(9),
        String(r.durableObjectRequests).padStart(8),
        r.perThousand.toFixed(1).padStart(9),
      ].join("  "),
    );
    console.log(
      [
        "",
        `${"scenario".padEnd(34)}  ${"isolates × rate".padEnd(20)}  ${"proxied".padStart(8)}  ${"upstream".padStart(9)}  ${"DO reqs".padStart(8)}  ${"per 1,000".padStart(9)}`,
        ...rows,
        "",
      ].join("\n"),
    );
  });

  const healthy = () => 200;
  for (const rate of [1, 10, 100, 1_000]) {
    it(`steady healthy traffic at ${rate} requests a second per isolate`, async () => {
      const m = await measure({
        name: "steady, healthy",
        ratePerIsolate: rate,
        seconds: rate >= 100 ? 10 : 60,
        upstream: healthy,
      });
      // One exchange a sync interval per isolate, or one per batch of 100 calls, whichever comes first.
      expect(m.perThousand).toBeLessThanOrEqual(Math.max(1_000 / rate, 10) * 1.05 + 1);
    });
  }

  it("steady traffic with 1 % of answers a 503", async () => {
    const m = await measure({
      name: "steady, 1 % 503s",
      ratePerIsolate: 100,
      seconds: 10,
      upstream: (_second, d) => (d < 0.01 ? 503 : 200),
    });
    expect(m.perThousand).toBeLessThan(30); // each retry is reported at once: about 10 more per 1,000
  });

  it("a full outage of the upstream for a minute", async () => {
    const outage = { ratePerIsolate: 100, seconds: 60, upstream: () => "down" as const };
    const shared = await measure({ ...outage, name: "outage (upstream down 60 s)" });
    const alone = await measure({ ...outage, name: "  same, each isolate alone", shared: false });
    expect(shared.perThousand).toBeLessThan(15);
    expect(alone.durableObjectRequests).toBe(0);
    // One fleet-wide probe per half-open period instead of one per isolate, and fewer retries.
    expect(shared.upstreamCalls).toBeLessThan(alone.upstreamCalls);
  });

  it("an outage of 20 s in two minutes of steady traffic", async () => {
    const m = await measure({
      name: "20 s outage in 2 min",
      ratePerIsolate: 100,
      seconds: 120,
      upstream: (second) => (second >= 30 && second < 50 ? "down" : 200),
    });
    expect(m.perThousand).toBeLessThan(15);
  });
});
