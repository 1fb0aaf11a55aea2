/**
 * A bounded loopback load run against a real `wrangler dev`: 2,000 GETs, at most 50 in flight, to twenty
 * primed paths whose demo origin fails 30% of attempts with 503. Every answer must be fresh or a marked stale
 * copy, never a 5xx, and the Worker must raise no unhandled error.
 */

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { DashboardState } from "../../worker/timeline.ts";
import { startWranglerDev, type WranglerDev } from "./support/wrangler-dev.ts";

const paths = Array.from({ length: 20 }, (_, i) => `/api/item/${i}`);
const totalRequests = 2_000;
const maxInFlight = 50;
/** Everything still in flight is aborted after this; the test then fails on the count. */
const deadlineMs = 120_000;

interface Outcome {
  readonly path: string;
  readonly status: number | undefined;
  /** The `staunch-fallback` header. */
  readonly fallback: string | null;
  readonly age: string | null;
  /** The `staunch-attempts` header: attempts sent to the origin; "0" means the open circuit failed it fast. */
  readonly attempts: string | null;
  /** The `path` the JSON body says it is for (a stale copy must be the copy of the path asked for). */
  readonly bodyPath: string | undefined;
  readonly latencyMs: number;
  readonly error: string | undefined;
}

let dev: WranglerDev | undefined;

beforeAll(async () => {
  dev = await startWranglerDev();
});

afterAll(async () => {
  await dev?.stop();
});

async function get(url: string, signal: AbortSignal): Promise<Omit<Outcome, "path" | "latencyMs">> {
  try {
    const res = await fetch(url, { signal });
    const text = await res.text();
    let bodyPath: string | undefined;
    try {
      bodyPath = (JSON.parse(text) as { path?: string }).path;
    } catch {
      bodyPath = undefined;
    }
    return {
      status: res.status,
      fallback: res.headers.get("staunch-fallback"),
      age: res.headers.get("age"),
      attempts: res.headers.get("staunch-attempts"),
      bodyPath,
      error: undefined,
    };
  } catch (error) {
    return { status: undefined, fallback: null, age: null, attempts: null, bodyPath: undefined, error: String(error) };
  }
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
}

function tally(values: ReadonlyArray<string | number | null | undefined>): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const value of values) counts[String(value)] = (counts[String(value)] ?? 0) + 1;
  return counts;
}

describe("a loopback load run", () => {
  it("answers 2,000 GETs at 30% origin failure with fresh or marked stale copies only", async () => {
    if (!dev) throw new Error("beforeAll did not start wrangler dev");
    const base = dev.url;

    // Prime: one fresh answer a path, stored in the Cache API for max-age=5 plus stale-if-error=300 s.
    for (const path of paths) {
      const res = await fetch(`${base}${path}`);
      expect(await res.json()).toMatchObject({ path: path.slice("/api".length) });
      expect(res.status).toBe(200);
      expect(res.headers.get("staunch-fallback")).toBeNull();
    }
    // The copies are stored in ctx.waitUntil, after the answer: give those writes a moment to land.
    await new Promise((resolve) => setTimeout(resolve, 500));

    // One controller a request, aborted together at the deadline (listeners on one shared signal would pile up:
    // fetch removes its abort listener only when the request is garbage-collected).
    const inFlight = new Set<AbortController>();
    let timedOut = false;
    const deadline = setTimeout(() => {
      timedOut = true;
      for (const request of inFlight) request.abort(new Error(`load run deadline of ${deadlineMs} ms`));
    }, deadlineMs);
    const outcomes: Outcome[] = [];
    let nextIndex = 0;
    const startedAt = performance.now();
    const client = async () => {
      while (nextIndex < totalRequests && !timedOut) {
        const path = paths[nextIndex++ % paths.length] ?? "";
        const request = new AbortController();
        inFlight.add(request);
        const sentAt = performance.now();
        const result = await get(`${base}${path}?fail=0.3`, request.signal);
        outcomes.push({ path, ...result, latencyMs: performance.now() - sentAt });
        inFlight.delete(request);
      }
    };
    try {
      await Promise.all(Array.from({ length: maxInFlight }, client));
    } finally {
      clearTimeout(deadline);
    }
    const elapsedMs = performance.now() - startedAt;

    const fresh = outcomes.filter((o) => o.status === 200 && o.fallback === null);
    const stale = outcomes.filter((o) => o.status === 200 && o.fallback === "stale" && /^\d+$/.test(o.age ?? ""));
    const other = outcomes.filter((o) => !fresh.includes(o) && !stale.includes(o));
    const staleFailedFast = stale.filter((o) => o.attempts === "0");
    const latencies = outcomes.map((o) => o.latencyMs).sort((a, b) => a - b);
    const state = (await (await fetch(`${base}/__staunch/state`)).json()) as DashboardState;

    await dev.stop(); // all of the Worker's output, to the last line
    const log = dev.output();
    const breakerOpenings = log.match(/staunch: circuit for \S+ opened/g)?.length ?? 0;
    const giveUpReasons = tally(
      [...log.matchAll(/staunch: giving up on .* \(attempt \d+, ([a-z-]+)\)/g)].map((m) => m[1]),
    );

    console.log(
      [
        `load run: ${outcomes.length} of ${totalRequests} requests, ${maxInFlight} in flight, ${paths.length} paths, fail=0.3`,
        `  fresh 200: ${fresh.length}   attempts: ${JSON.stringify(tally(fresh.map((o) => o.attempts)))}`,
        `  stale 200: ${stale.length}   failed fast by the open circuit (0 attempts): ${staleFailedFast.length}, after ≥ 1 attempt (503s, then the budget, the attempt cap or the opening breaker ended the retries): ${stale.length - staleFailedFast.length}   attempts: ${JSON.stringify(tally(stale.map((o) => o.attempts)))}`,
        `  other: ${other.length}   ${JSON.stringify(tally(other.map((o) => o.status ?? o.error)))}`,
        `  total ${(elapsedMs / 1000).toFixed(2)} s, ${(outcomes.length / (elapsedMs / 1000)).toFixed(0)} requests/s`,
        `  latency p50 ${percentile(latencies, 50).toFixed(1)} ms, p95 ${percentile(latencies, 95).toFixed(1)} ms, p99 ${percentile(latencies, 99).toFixed(1)} ms, max ${percentile(latencies, 100).toFixed(1)} ms`,
        `  Worker log: breaker opened ${breakerOpenings} times; give-ups by reason ${JSON.stringify(giveUpReasons)}`,
        `  breaker at the end: ${JSON.stringify(state.breakers)}`,
        // A source file edited during the run makes wrangler reload the Worker: breakers and budget start over.
        `  Worker reloaded by wrangler during the run: ${dev.reloads()} times`,
      ].join("\n"),
    );

    expect(outcomes).toHaveLength(totalRequests);
    expect(
      other.map((o) => ({ path: o.path, status: o.status, fallback: o.fallback, age: o.age, error: o.error })),
    ).toEqual([]);
    expect(fresh.length + stale.length).toBe(totalRequests);
    // Fresh or stale, each answer is for the path that was asked for.
    expect(outcomes.filter((o) => o.bodyPath !== o.path.slice("/api".length))).toEqual([]);
    expect(dev.unhandledErrors()).toEqual([]);
  });
});
