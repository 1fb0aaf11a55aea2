/**
 * Per-call overhead of staunch's policies against a raw `await fn()`, cockatiel, p-retry and opossum; the
 * latency `createFetch` adds to a loopback HTTP call, against raw `fetch`, ky and a cockatiel pipeline; and, in
 * a child process (bench/memory.ts), the memory of 10,000 per-origin breakers. All in one run.
 *
 * `npm run bench` (optionally `npm run bench -- <substring>` to run only the cases whose name or group
 * contains it, e.g. `npm run bench -- loopback` or `npm run bench -- memory`).
 *
 * The harness is hand-written so that it has no dependency and its method is visible: every case is warmed up
 * and calibrated to a number of iterations that takes about `ROUND_MS` (or its own `roundMs`), then `ROUNDS`
 * rounds run the cases interleaved, and the median round is reported. A round runs the groups one after the
 * other and the cases of a group back to back, starting at a different group and case each time: no case
 * always runs right after the same neighbour or right after a GC-heavy one, and a case is measured close in
 * time to its baseline. Medians, not means: a GC pause or a neighbouring process lands in a few rounds and
 * should not move the figure. A ratio is the median of the per-round ratios, not a ratio of medians: on a
 * shared machine the speed drifts by tens of percent over seconds, and a case and its baseline measured in the
 * same round see the same drift.
 *
 * Calibration is by time, not by count: an in-memory call gets tens of thousands of calls a round. Loopback
 * calls (~100–300 µs) get shorter rounds of their own (`LOOPBACK_ROUND_MS`, some hundred calls), so that the
 * five cases of their group run within ~100 ms of each other: a neighbouring process that starts or stops
 * mid-group then spoils few pairs of rounds, and the median ratio holds.
 *
 * Targets are printed as PASS/MISS and never fail the run: a benchmark informs, it is not a test.
 *
 * To add a section, push onto `cases` and `targets` and, for anything to tear down, onto `cleanups`.
 */

import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import {
  ConsecutiveBreaker,
  ConstantBackoff,
  circuitBreaker as cockatielCircuitBreaker,
  retry as cockatielRetry,
  timeout as cockatielTimeout,
  handleAll,
  TimeoutStrategy,
  wrap,
} from "cockatiel";
import ky from "ky";
import OpossumBreaker from "opossum";
import pRetry from "p-retry";
import { circuitBreaker, compose, createFetch, type Policy, retry, timeout } from "../src/index.ts";
import { table } from "./table.ts";

/** How long one round of one case should take, once calibrated. */
const ROUND_MS = 50;
/** Rounds per case; the median is reported. Odd, so the median is a measured round. `BENCH_ROUNDS` overrides. */
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 41) | 1;
/** Warm-up per case before calibration: long enough for V8 to optimise the hot path. */
const WARMUP_MS = 250;
/** One round of a loopback `fetch` case: short, so that its group's rounds run close together (see above). */
const LOOPBACK_ROUND_MS = 20;
/** Passes of the loopback group per round: 41 × 5 = 205 samples a case, against rounds that spread by ±50 %. */
const LOOPBACK_PASSES = 5;

/** One thing to measure: `run` is called `N` times in a loop, each call awaited. */
interface Case {
  /** Group heading in the table; cases of a group are compared with its baseline. */
  readonly group: string;
  readonly name: string;
  /** The case every other case of the group is divided by (exactly one per group). */
  readonly baseline?: boolean;
  /** How long one round of this case should take. Default `ROUND_MS`. */
  readonly roundMs?: number;
  /**
   * How many times per round its group is measured (give every case of a group the same value). Loopback
   * rounds spread far more than in-memory ones, so their group takes more samples for a steadier median.
   */
  readonly passes?: number;
  readonly run: () => Promise<unknown>;
}

/** A figure the issue asks for. Checked and printed, never enforced. */
interface Target {
  readonly label: string;
  readonly caseName: string;
  /** `ratio`: the case over its group's baseline; `ns`: the case's absolute time per call. */
  readonly kind: "ratio" | "ns";
  readonly limit: number;
}

interface Result {
  readonly testCase: Case;
  readonly iterations: number;
  /** ns per call in each round, in round order (so that round i of two cases ran close together in time). */
  readonly roundsNs: readonly number[];
}

const cases: Case[] = [];
const targets: Target[] = [];
const cleanups: (() => unknown)[] = [];

// --- The operations being protected ---------------------------------------------------------------------------

const value = { id: 42 };

/** The operation of every success-path case: an async function that returns at once. */
const succeed = async (): Promise<typeof value> => value;

/**
 * A fresh operation that fails transiently on its 1st, 3rd, 5th… call and succeeds on the others: one measured
 * call is one failure and one success. Each case gets its own, so interleaving cases cannot shift the parity.
 */
function failEveryOtherCall(): () => Promise<typeof value> {
  let calls = 0;
  return async () => {
    calls++;
    if (calls % 2 === 1) throw new TypeError("fetch failed");
    return value;
  };
}

// --- Success path -------------------------------------------------------------------------------------------

{
  const group = "success path";
  const staunchRetry = retry();
  const staunchTimeoutRetry = compose(timeout(10_000), retry());
  const cockatielRetryPolicy = cockatielRetry(handleAll, { maxAttempts: 2, backoff: new ConstantBackoff(0) });
  const cockatielTimeoutRetry = wrap(
    cockatielTimeout(10_000, TimeoutStrategy.Cooperative),
    cockatielRetry(handleAll, { maxAttempts: 2, backoff: new ConstantBackoff(0) }),
  );
  const cockatielTimeoutRetryBreaker = wrap(
    cockatielTimeout(10_000, TimeoutStrategy.Cooperative),
    cockatielRetry(handleAll, { maxAttempts: 2, backoff: new ConstantBackoff(0) }),
    cockatielCircuitBreaker(handleAll, { halfOpenAfter: 10_000, breaker: new ConsecutiveBreaker(5) }),
  );
  const staunchTimeoutRetryBreaker = compose(timeout(10_000), retry(), circuitBreaker());
  const pRetryOptions = { retries: 1, minTimeout: 0, factor: 1 };
  // opossum's breaker is its own timeout too: by default every fire() arms (and clears) a 10 s setTimeout;
  // `timeout: false` turns that off, making it a breaker alone. Each opossum breaker also runs two interval
  // timers (bucket rotation, snapshots) until shutdown().
  const opossumBreakerOnly = new OpossumBreaker(succeed, { timeout: false });
  const opossumWithTimeout = new OpossumBreaker(succeed);
  cleanups.push(
    () => opossumBreakerOnly.shutdown(),
    () => opossumWithTimeout.shutdown(),
  );

  // The least any retry wrapper bounded by elapsed time does on success: read the clock, attach a rejection
  // handler. Where `Date.now()` costs about as much as the call itself, this alone is ~2.5–3× raw.
  const retryLater = (error: unknown, startedMs: number): Promise<typeof value> =>
    Promise.reject(Object.assign(error as object, { startedMs }));
  cases.push(
    { group, name: "raw await fn()", baseline: true, run: () => succeed() },
    {
      group,
      name: "reference: Date.now() + fn().then(_, onError)",
      run: () => {
        const startedMs = Date.now();
        return succeed().then(undefined, (error: unknown) => retryLater(error, startedMs));
      },
    },
    { group, name: "staunch retry", run: () => staunchRetry.execute(succeed) },
    { group, name: "staunch timeout+retry", run: () => staunchTimeoutRetry.execute(succeed) },
    { group, name: "cockatiel retry", run: () => cockatielRetryPolicy.execute(succeed) },
    { group, name: "cockatiel timeout+retry", run: () => cockatielTimeoutRetry.execute(succeed) },
    { group, name: "staunch timeout+retry+breaker", run: () => staunchTimeoutRetryBreaker.execute(succeed) },
    { group, name: "cockatiel timeout+retry+breaker", run: () => cockatielTimeoutRetryBreaker.execute(succeed) },
    { group, name: "opossum breaker (timeout: false)", run: () => opossumBreakerOnly.fire() },
    { group, name: "opossum breaker (default 10 s timeout)", run: () => opossumWithTimeout.fire() },
    { group, name: "p-retry", run: () => pRetry(succeed, pRetryOptions) },
  );
  targets.push(
    { label: "retry-only success ≤ 2× raw", caseName: "staunch retry", kind: "ratio", limit: 2 },
    { label: "timeout+retry success ≤ 1.5 µs", caseName: "staunch timeout+retry", kind: "ns", limit: 1_500 },
    {
      label: "timeout+retry+breaker success ≤ 1.5 µs",
      caseName: "staunch timeout+retry+breaker",
      kind: "ns",
      limit: 1_500,
    },
  );
}

// --- One transient failure, then success, no delay --------------------------------------------------------------

{
  const group = "one failure, then success (zero delay)";
  const rawFn = failEveryOtherCall();
  const staunchFn = failEveryOtherCall();
  const cockatielFn = failEveryOtherCall();
  const pRetryFn = failEveryOtherCall();
  const staunchRetry = retry({ backoff: { initialMs: 0 } });
  const cockatielRetryPolicy = cockatielRetry(handleAll, { maxAttempts: 2, backoff: new ConstantBackoff(0) });
  // "fetch failed" is a network TypeError to p-retry's is-network-error, so p-retry retries it; `shouldRetry`
  // says so explicitly. (p-retry never retries any other TypeError, whatever `shouldRetry` answers.)
  const pRetryOptions = {
    retries: 1,
    minTimeout: 0,
    factor: 1,
    shouldRetry: ({ error }: { error: Error }) => error instanceof TypeError,
  };

  const rawTryAgain = async (): Promise<typeof value> => {
    try {
      return await rawFn();
    } catch {
      return await rawFn();
    }
  };

  cases.push(
    { group, name: "raw try/catch, call again", baseline: true, run: rawTryAgain },
    { group, name: "staunch retry (initialMs 0)", run: () => staunchRetry.execute(staunchFn) },
    { group, name: "cockatiel retry (ConstantBackoff 0)", run: () => cockatielRetryPolicy.execute(cockatielFn) },
    { group, name: "p-retry (minTimeout 0)", run: () => pRetry(pRetryFn, pRetryOptions) },
  );
  targets.push({
    label: "zero-delay retry ≤ 10 µs",
    caseName: "staunch retry (initialMs 0)",
    kind: "ns",
    limit: 10_000,
  });
}

// --- createFetch over an in-memory fetch: its own work per call, without the network's noise ---------------------

{
  const group = "createFetch over an in-memory fetch";
  const JSON_HEADERS = { "content-type": "application/json" };
  const response = new Response("ok");
  const inMemoryFetch = (_input: RequestInfo | URL, _init?: RequestInit): Promise<Response> =>
    Promise.resolve(response);
  const url = "http://127.0.0.1:9/items";
  const defaults = createFetch({ fetch: inMemoryFetch });
  const withDeadline = createFetch({ fetch: inMemoryFetch, totalTimeoutMs: 30_000 });
  const caller = new AbortController(); // one long-lived signal for every call, as an app-wide one
  cases.push(
    { group, name: "in-memory fetch", baseline: true, run: () => inMemoryFetch(url) },
    { group, name: "createFetch (defaults)", run: () => defaults(url) },
    { group, name: "createFetch + 30 s total timeout", run: () => withDeadline(url) },
    {
      group,
      name: "createFetch + total timeout + caller signal",
      run: () => withDeadline(url, { signal: caller.signal }),
    },
    // A body that may be sent again: bytes are sent as they are, not as a Blob (which costs ~3.5 µs in Node).
    {
      group,
      name: "createFetch, PUT of a 64-byte Uint8Array",
      run: () => defaults(url, { method: "PUT", body: new Uint8Array(64) }),
    },
    // What ky hands fetch: a Request with a body. A POST without a key is sent again only if it never left,
    // for which a clone of the Request is kept while the attempt is under way.
    {
      group,
      name: "createFetch, POST of a Request with a JSON body (as ky sends it)",
      run: () => defaults(new Request(url, { method: "POST", body: '{"id":1}', headers: JSON_HEADERS })),
    },
  );
}

// --- Telemetry: what events cost, with and without a listener (and, with BENCH_BEFORE, before the change) ---------

/** What the telemetry cases use of a staunch build: the same calls in this tree and in an older one. */
interface StaunchUnderTest {
  createFetch(options: { fetch: (input: RequestInfo | URL) => Promise<Response> }): (url: string) => Promise<Response>;
  retry(options: { backoff: { initialMs: number } }): Policy;
}

/**
 * The sources of the git ref in BENCH_BEFORE (`BENCH_BEFORE=main npm run bench telemetry`), extracted to a
 * temporary directory and imported beside this tree's: a change and its base measured in one run, interleaved,
 * since on a shared machine two runs minutes apart differ by more than the change.
 */
async function sourcesBefore(): Promise<{ ref: string; staunch: StaunchUnderTest } | undefined> {
  const ref = process.env.BENCH_BEFORE;
  if (!ref) return undefined;
  const archive = spawnSync("git", ["archive", ref, "src"], { maxBuffer: 256 * 1024 * 1024 });
  if (archive.status !== 0) throw new Error(`BENCH_BEFORE=${ref}: git archive failed: ${archive.stderr}`);
  const dir = mkdtempSync(join(tmpdir(), "staunch-before-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  spawnSync("tar", ["-x", "-C", dir], { input: archive.stdout });
  writeFileSync(join(dir, "package.json"), '{ "type": "module" }\n');
  const staunch = (await import(pathToFileURL(join(dir, "src/index.ts")).href)) as StaunchUnderTest;
  return { ref, staunch };
}

{
  const before = await sourcesBefore();
  const noop = (): void => {};
  const response = new Response("ok");
  const inMemoryFetch = (_input: RequestInfo | URL): Promise<Response> => Promise.resolve(response);
  const url = "http://127.0.0.1:9/items";

  // Each call makes one attempt and ends: two events (fetch-attempt, fetch-end) when someone listens.
  const group = "telemetry: createFetch over an in-memory fetch";
  const silent = createFetch({ fetch: inMemoryFetch });
  const heard = createFetch({ fetch: inMemoryFetch, telemetry: noop });
  cases.push(
    { group, name: "in-memory fetch", baseline: true, run: () => inMemoryFetch(url) },
    { group, name: "createFetch, no listener", run: () => silent(url) },
    { group, name: "createFetch + a no-op listener (2 events a call)", run: () => heard(url) },
  );
  if (before !== undefined) {
    const old = before.staunch.createFetch({ fetch: inMemoryFetch });
    cases.push({ group, name: `createFetch, before (${before.ref})`, run: () => old(url) });
  }

  // Each call is one failure, one retry and a success: one retry event when someone listens.
  const retryGroup = "telemetry: retry, one failure then a success";
  const rawFn = failEveryOtherCall();
  const rawTryAgain = async (): Promise<typeof value> => {
    try {
      return await rawFn();
    } catch {
      return await rawFn();
    }
  };
  const silentRetry = retry({ backoff: { initialMs: 0 } });
  const heardRetry = retry({ backoff: { initialMs: 0 }, telemetry: noop });
  const silentFn = failEveryOtherCall();
  const heardFn = failEveryOtherCall();
  cases.push(
    { group: retryGroup, name: "raw try/catch, call again", baseline: true, run: rawTryAgain },
    { group: retryGroup, name: "retry, no listener", run: () => silentRetry.execute(silentFn) },
    { group: retryGroup, name: "retry + a no-op listener (1 event a call)", run: () => heardRetry.execute(heardFn) },
  );
  if (before !== undefined) {
    const oldRetry = before.staunch.retry({ backoff: { initialMs: 0 } });
    const oldFn = failEveryOtherCall();
    cases.push({ group: retryGroup, name: `retry, before (${before.ref})`, run: () => oldRetry.execute(oldFn) });
  }
}

// --- Loopback fetch, one request in flight -----------------------------------------------------------------------

{
  const group = "loopback fetch, 1 in flight";
  // In this process, so that client and server share one event loop and no other process's scheduling gets in
  // between: every case pays the same server cost, and a ratio is client overhead over a whole round trip.
  // HTTP/1.1 keep-alive is Node's default on both sides; the longer server timeout keeps the one connection
  // open across rounds (undici's pool reuses it), so no case pays a TCP handshake the others do not.
  let connections = 0;
  let requests = 0;
  const server = createServer((_request, response) => {
    requests++;
    response.end("ok");
  });
  server.keepAliveTimeout = 60_000;
  server.on("connection", () => connections++);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        // A check that keep-alive held: a connection per request would make every case a TCP handshake.
        if (requests > 0) {
          console.log(`\nloopback server: ${requests.toLocaleString("en-US")} requests on ${connections} connections`);
        }
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;

  // createFetch's defaults: 3 attempts, 10 s per attempt, a breaker per origin; plus a 30 s deadline per call.
  const staunchFetch = createFetch({ totalTimeoutMs: 30_000 });
  const kyOverStaunch = ky.create({ fetch: createFetch({ totalTimeoutMs: 30_000 }), retry: 0 });
  const cockatielPipeline = wrap(
    cockatielTimeout(10_000, TimeoutStrategy.Cooperative),
    cockatielRetry(handleAll, { maxAttempts: 3 }),
    cockatielCircuitBreaker(handleAll, { halfOpenAfter: 10_000, breaker: new ConsecutiveBreaker(5) }),
  );

  const roundMs = LOOPBACK_ROUND_MS;
  const passes = LOOPBACK_PASSES;
  cases.push(
    {
      group,
      name: "raw fetch + text()",
      baseline: true,
      roundMs,
      passes,
      run: async () => (await fetch(url)).text(),
    },
    {
      // What any client with a per-attempt timeout pays at least: undici's Request alone costs ~3 µs more
      // with a signal (a WeakRef and a FinalizationRegistry entry per request), plus the timer.
      group,
      name: "reference: raw fetch + 10 s AbortController timer",
      roundMs,
      passes,
      run: async () => {
        const controller = new AbortController();
        const timer = setTimeout(() => controller.abort(), 10_000);
        try {
          return await (await fetch(url, { signal: controller.signal })).text();
        } finally {
          clearTimeout(timer);
        }
      },
    },
    {
      group,
      name: "staunch createFetch + text()",
      roundMs,
      passes,
      run: async () => (await staunchFetch(url)).text(),
    },
    { group, name: "ky.get().text() (ky defaults)", roundMs, passes, run: () => ky.get(url).text() },
    { group, name: "ky + createFetch (retry: 0)", roundMs, passes, run: () => kyOverStaunch.get(url).text() },
    {
      group,
      name: "ky + createFetch (retry: 0), POST of JSON",
      roundMs,
      passes,
      run: () => kyOverStaunch.post(url, { json: { id: 1 } }).text(),
    },
    {
      group,
      name: "cockatiel timeout+retry+breaker + fetch",
      roundMs,
      passes,
      // The body is read inside: cockatiel's timeout aborts its signal as soon as the operation returns
      // (`abortOnReturn`, on by default), which would cancel a body read after it.
      run: () => cockatielPipeline.execute(async ({ signal }) => (await fetch(url, { signal })).text()),
    },
  );
  targets.push({
    label: "createFetch loopback ≤ 1.05× raw fetch",
    caseName: "staunch createFetch + text()",
    kind: "ratio",
    limit: 1.05,
  });
}

// --- Harness ---------------------------------------------------------------------------------------------------

/** Runs `testCase` `iterations` times, one call at a time; returns ns per call. */
async function measure(testCase: Case, iterations: number): Promise<number> {
  const { run } = testCase;
  const started = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) await run();
  return Number(process.hrtime.bigint() - started) / iterations;
}

/**
 * Warms `testCase` up for about `WARMUP_MS`, then returns the iterations that take about its round. The batch
 * size doubles until a batch takes 10 ms; the time per call is the median of the batches of that size, not the
 * last one, so that one slow batch (a GC, a neighbouring process) does not shrink every round of the case.
 */
async function calibrate(testCase: Case): Promise<number> {
  const deadline = performance.now() + WARMUP_MS;
  let iterations = 1;
  let nsPerCall = await measure(testCase, iterations);
  const fullBatches: number[] = [];
  while (performance.now() < deadline) {
    nsPerCall = await measure(testCase, iterations);
    if (nsPerCall * iterations < 10e6) iterations *= 2;
    else fullBatches.push(nsPerCall);
  }
  if (fullBatches.length > 0) nsPerCall = median(fullBatches);
  return Math.max(1, Math.round(((testCase.roundMs ?? ROUND_MS) * 1e6) / nsPerCall));
}

async function runAll(selected: readonly Case[]): Promise<Result[]> {
  const iterations = selected.map(() => 0);
  for (const [index, testCase] of selected.entries()) iterations[index] = await calibrate(testCase);
  const roundsNs = selected.map((): number[] => []);
  // Indices into `selected`, group by group.
  const groups = [...new Set(selected.map((testCase) => testCase.group))].map((group) =>
    selected.flatMap((testCase, index) => (testCase.group === group ? [index] : [])),
  );
  for (let round = 0; round < ROUNDS; round++) {
    for (let g = 0; g < groups.length; g++) {
      const members = groups[(round + g) % groups.length] as number[];
      const passes = selected[members[0] as number]?.passes ?? 1;
      for (let pass = 0; pass < passes; pass++) {
        for (let k = 0; k < members.length; k++) {
          const index = members[(round + pass + k) % members.length] as number;
          roundsNs[index]?.push(await measure(selected[index] as Case, iterations[index] as number));
        }
      }
    }
    if (process.stderr.isTTY) process.stderr.write(`\rround ${round + 1}/${ROUNDS}`);
  }
  if (process.stderr.isTTY) process.stderr.write("\r\x1b[K");
  return selected.map((testCase, index) => ({
    testCase,
    iterations: iterations[index] as number,
    roundsNs: roundsNs[index] as number[],
  }));
}

function quantile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const position = (sorted.length - 1) * q;
  const below = sorted[Math.floor(position)] as number;
  const above = sorted[Math.ceil(position)] as number;
  return below + (above - below) * (position - Math.floor(position));
}

const median = (values: readonly number[]): number => quantile(values, 0.5);

// --- Report ----------------------------------------------------------------------------------------------------

const formatNs = (ns: number): string => Math.round(ns).toLocaleString("en-US");
const formatUs = (ns: number): string => (ns / 1000).toFixed(ns < 10_000 ? 3 : 1);

function report(results: readonly Result[]): void {
  const baselineOf = new Map<string, Result>();
  for (const result of results) if (result.testCase.baseline) baselineOf.set(result.testCase.group, result);
  /** The median over rounds of this case's time over its baseline's time in the same round. */
  const ratio = (result: Result): number | undefined => {
    const baseline = baselineOf.get(result.testCase.group);
    if (baseline === undefined) return undefined;
    return median(result.roundsNs.map((ns, round) => ns / (baseline.roundsNs[round] as number)));
  };

  const groups = [...new Set(results.map((result) => result.testCase.group))];
  for (const group of groups) {
    const baseline = baselineOf.get(group);
    console.log(`\n${group}${baseline ? ` — ratio against "${baseline.testCase.name}"` : ""}`);
    const rows = results
      .filter((result) => result.testCase.group === group)
      .map((result) => {
        const r = ratio(result);
        const medianNs = median(result.roundsNs);
        const spread = (quantile(result.roundsNs, 0.75) - quantile(result.roundsNs, 0.25)) / medianNs;
        return [
          result.testCase.name,
          formatNs(medianNs),
          formatUs(medianNs),
          r === undefined ? "—" : `${r.toFixed(2)}×`,
          `${(100 * spread).toFixed(0)}%`,
          result.iterations.toLocaleString("en-US"),
        ];
      });
    const header = ["case", "ns/op", "µs/op", "ratio", "IQR", "calls/round"];
    console.log(table(header, rows, [false, true, true, true, true, true]));
  }

  const byName = new Map(results.map((result) => [result.testCase.name, result]));
  const rows: string[][] = [];
  for (const target of targets) {
    const result = byName.get(target.caseName);
    if (result === undefined) continue;
    const measured = target.kind === "ratio" ? (ratio(result) ?? Number.NaN) : median(result.roundsNs);
    const shown = target.kind === "ratio" ? `${measured.toFixed(2)}×` : `${formatUs(measured)} µs`;
    rows.push([target.label, target.caseName, shown, measured <= target.limit ? "PASS" : "MISS"]);
  }
  if (rows.length > 0) {
    console.log("\ntargets (informative, not enforced)");
    console.log(table(["target", "case", "measured", ""], rows, [false, false, true, false]));
  }
}

function versionOf(packageName: string): string {
  const url = new URL(`../node_modules/${packageName}/package.json`, import.meta.url);
  return (JSON.parse(readFileSync(url, "utf8")) as { version: string }).version;
}

// A filter keeps the baselines of the groups it selects from, so that ratios still mean something.
const filter = process.argv[2];
const matches = (testCase: Case): boolean =>
  filter === undefined || testCase.name.includes(filter) || testCase.group.includes(filter);
const chosenGroups = new Set(cases.filter(matches).map((testCase) => testCase.group));
const selected = cases.filter(
  (testCase) => matches(testCase) || (testCase.baseline === true && chosenGroups.has(testCase.group)),
);
if (selected.length > 0) {
  console.log(
    `node ${process.version}, cockatiel ${versionOf("cockatiel")}, p-retry ${versionOf("p-retry")}, ` +
      `opossum ${versionOf("opossum")}, ky ${versionOf("ky")}; ` +
      `${ROUNDS} interleaved rounds of ~${ROUND_MS} ms per case (loopback: ${LOOPBACK_PASSES} passes of ~${LOOPBACK_ROUND_MS} ms); ` +
      "medians over rounds, IQR as % of the median",
  );
}
try {
  if (selected.length > 0) report(await runAll(selected));
} finally {
  for (const cleanup of cleanups) await cleanup();
}

// Memory is measured in a fresh process, after the timings: heap readings need `--expose-gc`, and a heap
// that has just run millions of calls holds too much unrelated garbage and optimised code to read a delta on.
const memory = spawnSync(
  process.execPath,
  ["--expose-gc", fileURLToPath(new URL("memory.ts", import.meta.url)), ...(filter === undefined ? [] : [filter])],
  { stdio: "inherit" },
);
if (memory.status !== 0) process.exitCode = memory.status ?? 1;
