/**
 * A retry storm on a virtual clock: what each retry strategy does to a dependency that goes down and comes back.
 *
 * `npm run simulate`. 100 clients inside one service each send one request a second (open loop: a slow answer
 * does not delay the next request), each at its own random phase, for 70 s of virtual time. The dependency
 * answers in 20 ms, except from 10 s to 40 s, when every call fails after 5 ms with `TypeError("fetch failed")`
 * (transient to staunch). Every strategy runs fresh on staunch's real policies, with the environment injected:
 * timers on a discrete-event clock, a seeded random source. Same output on every run.
 *
 * Printed: a table, targets as PASS/MISS (informative, never failing the run), checks that look for defects
 * (a budget granting more than its rule, a breaker that never closes, promises or timers left behind), and the
 * path of an SVG chart of dependency calls per second.
 *
 * Then two more scenarios: a fleet told by `Retry-After` to come back at one instant, with and without the
 * jitter on server-asked waits (virtual time, bench/storm/reset-herd.ts), and a flaky origin on loopback that
 * fails 30 % of requests, through createFetch's defaults, the previous default breaker, `breaker: false` and
 * plain fetch (real time: about 4 × SIMULATE_FLAKY_SECONDS, default 10; bench/storm/flaky-origin.ts).
 */

import { mkdirSync, writeFileSync } from "node:fs";
import { relative } from "node:path";
import { fileURLToPath } from "node:url";
import {
  type CircuitStateChange,
  circuitBreaker,
  compose,
  createFetch,
  createPolicy,
  type Environment,
  isCircuitOpenError,
  type Jitter,
  type Operation,
  on,
  type Policy,
  type RetryBudget,
  retry,
  retryBudget,
  type WindowedRetryBudget,
} from "../src/index.ts";
import { lineChartSvg } from "./storm/chart.ts";
import { flakyOrigin } from "./storm/flaky-origin.ts";
import {
  type BudgetEvent,
  peakSecond,
  type RequestRecord,
  type RunLog,
  type Summary,
  summarize,
  worstBudgetExcess,
} from "./storm/metrics.ts";
import { resetHerd } from "./storm/reset-herd.ts";
import { seededRandom, VirtualClock } from "./storm/virtual-clock.ts";

// --- The scenario ------------------------------------------------------------------------------------------------

const CLIENTS = 100;
const REQUEST_INTERVAL_MS = 1_000;
const DURATION_MS = 70_000;
const OUTAGE = { fromMs: 10_000, toMs: 40_000 };
const HEALTHY_LATENCY_MS = 20;
const OUTAGE_LATENCY_MS = 5;
/** Virtual time starts at a wall-clock-like epoch, as `Date.now()` would; a whole second, so slices align. */
const EPOCH_MS = 1_700_000_000_000;
/** Requests stop at 70 s; retries still running may go on, but nothing legitimate runs past this. */
const HORIZON_MS = DURATION_MS + 120_000;
/** Seeds: client phases are the same in every run, so strategies are compared on the same traffic. */
const PHASE_SEED = 0x5eed;
const POLICY_SEED = 0xbac0ff;

/** `retryBudget()`'s defaults, as its TSDoc states them: the rule the budget is checked against. */
const DEFAULT_BUDGET_RULE = { ratio: 0.2, minRetriesPerSecond: 3, windowMs: 1_000, buckets: 10 };

// --- The strategies ----------------------------------------------------------------------------------------------

/** What a strategy's policies may share with the simulation, which only observes. */
interface Instruments {
  readonly env: Environment;
  /** Forwards to `budget`, logging each request recorded and each retry granted. */
  readonly observeBudget: (budget: WindowedRetryBudget) => RetryBudget;
  readonly onBreakerChange: (change: CircuitStateChange) => void;
}

interface Strategy {
  readonly name: string;
  readonly color: string;
  readonly build: (instruments: Instruments) => Policy;
}

/** The AWS variants compared, in the order of the brief. */
const JITTERS: readonly Jitter[] = ["none", "full", "equal", "decorrelated"];
const JITTER_COLORS = ["#ff7f0e", "#2ca02c", "#9467bd", "#8c564b"];

const jitterName = (jitter: Jitter): string => `jitter ${jitter} (5 attempts)`;

const jitterVariant = (jitter: Jitter, color: string): Strategy => ({
  name: jitterName(jitter),
  color,
  build: ({ env }) => retry({ attempts: 5, backoff: { initialMs: 100, maxMs: 5_000, jitter }, env }),
});

const STAUNCH_DEFAULTS = "staunch defaults + budget + breaker";
const FETCH_DEFAULTS = "createFetch defaults (no budget)";

/**
 * createFetch with nothing but its defaults, over the simulated dependency: one client for all 100 callers,
 * its breaker counting calls. The dependency's failure (a TypeError) reaches it as a network error.
 */
const fetchDefaults = (env: Environment, onBreakerChange: (change: CircuitStateChange) => void): Policy => {
  let dependency: Operation<unknown> | undefined;
  const client = createFetch({
    env,
    telemetry: on("circuit-state-change", onBreakerChange),
    fetch: async (_input, init) => {
      await (dependency as Operation<unknown>)({ signal: init?.signal ?? undefined, attempt: 1 });
      return new Response("ok");
    },
  });
  return createPolicy(async <T>(operation: Operation<T>, context: { signal: AbortSignal | undefined }) => {
    dependency = operation;
    const response = await client("https://dependency.example/", { signal: context.signal });
    return (await response.text()) as T;
  });
};
const NAIVE = "naive: 3 attempts, 100 ms constant";
const DEFAULT_JITTER = "jitter default (5 attempts)";

const strategies: readonly Strategy[] = [
  { name: "no retries", color: "#7f7f7f", build: ({ env }) => retry({ attempts: 1, env }) },
  {
    name: NAIVE,
    color: "#d62728",
    build: ({ env }) => retry({ attempts: 3, backoff: () => 100, env }),
  },
  {
    name: STAUNCH_DEFAULTS,
    color: "#1f77b4",
    // One budget and one breaker for all 100 clients; only `env` and an observer are set, everything else is
    // the default (3 attempts, full jitter from 100 ms, 20 % budget, 5 consecutive failures, 10 s open).
    build: ({ env, observeBudget, onBreakerChange }) =>
      compose(
        retry({ attempts: 3, budget: observeBudget(retryBudget({ env })), env }),
        circuitBreaker({ telemetry: on("circuit-state-change", onBreakerChange), env }),
      ),
  },
  {
    name: FETCH_DEFAULTS,
    color: "#e377c2",
    build: ({ env, onBreakerChange }) => fetchDefaults(env, onBreakerChange),
  },
  ...JITTERS.map((jitter, index) => jitterVariant(jitter, JITTER_COLORS[index] as string)),
  {
    name: DEFAULT_JITTER,
    color: "#17becf",
    // The same backoff as the variants, with the jitter left to staunch's default.
    build: ({ env }) => retry({ attempts: 5, backoff: { initialMs: 100, maxMs: 5_000 }, env }),
  },
];

/** Not in the comparison: isolates the budget (which the breaker hides in the defaults run) to check it. */
const budgetOnly: Strategy = {
  name: "staunch defaults + budget, no breaker",
  color: "#17becf",
  build: ({ env, observeBudget }) => retry({ attempts: 3, budget: observeBudget(retryBudget({ env })), env }),
};

// --- One run -----------------------------------------------------------------------------------------------------

interface Run {
  readonly strategy: Strategy;
  readonly summary: Summary;
  readonly budgetEvents: readonly BudgetEvent[];
  /** Breaker transitions, as "12.345 s closed→open". */
  readonly breakerChanges: readonly string[];
  readonly pendingTimers: number;
}

async function simulate(strategy: Strategy): Promise<Run> {
  const clock = new VirtualClock(EPOCH_MS);
  const elapsedMs = (): number => clock.now() - EPOCH_MS;
  const log: RunLog = { requests: [], dependencyCallsMs: [] };
  const budgetEvents: BudgetEvent[] = [];
  const breakerChanges: string[] = [];

  const policy = strategy.build({
    env: clock.environment(seededRandom(POLICY_SEED)),
    observeBudget: (budget) => ({
      recordRequest() {
        budgetEvents.push({ kind: "request", atMs: clock.now() });
        budget.recordRequest();
      },
      tryAcquireRetry() {
        const granted = budget.tryAcquireRetry();
        if (granted) budgetEvents.push({ kind: "retry", atMs: clock.now() });
        return granted;
      },
    }),
    onBreakerChange: ({ from, to }) => breakerChanges.push(`${(elapsedMs() / 1000).toFixed(3)} s ${from}→${to}`),
  });

  const callDependency = (): Promise<string> => {
    const atMs = elapsedMs();
    log.dependencyCallsMs.push(atMs);
    const down = atMs >= OUTAGE.fromMs && atMs < OUTAGE.toMs;
    return new Promise((resolve, reject) => {
      if (down) clock.schedule(() => reject(new TypeError("fetch failed")), OUTAGE_LATENCY_MS);
      else clock.schedule(() => resolve("ok"), HEALTHY_LATENCY_MS);
    });
  };

  const sendRequest = (): void => {
    const request: RequestRecord = { startedMs: elapsedMs(), outcome: undefined };
    log.requests.push(request);
    policy.execute(callDependency).then(
      () => {
        request.outcome = "succeeded";
      },
      (error: unknown) => {
        // A CircuitOpenError is never retried (it is not transient), so each one ends its request: counting
        // requests that end with one counts the calls the breaker failed fast.
        request.outcome = isCircuitOpenError(error) ? "failed fast" : "failed";
      },
    );
  };

  const phases = seededRandom(PHASE_SEED);
  for (let client = 0; client < CLIENTS; client++) {
    const tick = (): void => {
      sendRequest();
      if (elapsedMs() + REQUEST_INTERVAL_MS < DURATION_MS) clock.schedule(tick, REQUEST_INTERVAL_MS);
    };
    clock.schedule(tick, phases() * REQUEST_INTERVAL_MS);
  }
  await clock.runUntilIdle(EPOCH_MS + HORIZON_MS);

  return {
    strategy,
    summary: summarize(log, OUTAGE),
    budgetEvents,
    breakerChanges,
    pendingTimers: clock.pendingTimers,
  };
}

// --- Report ------------------------------------------------------------------------------------------------------

function table(header: readonly string[], rows: readonly (readonly string[])[], rightAligned: readonly boolean[]) {
  const widths = header.map((cell, column) => Math.max(cell.length, ...rows.map((row) => (row[column] ?? "").length)));
  const pad = (cell: string, column: number): string =>
    rightAligned[column] ? cell.padStart(widths[column] ?? 0) : cell.padEnd(widths[column] ?? 0);
  const line = (row: readonly string[]): string => row.map(pad).join("  ").trimEnd();
  return [line(header), widths.map((width) => "-".repeat(width)).join("  "), ...rows.map(line)].join("\n");
}

const count = (n: number): string => n.toLocaleString("en-US");
/** Three decimals: a breaker's outage amplification is a few calls in thousands, which two would show as 0. */
const times = (ratio: number): string => `${ratio.toFixed(3)}×`;
const seconds = (s: number | undefined): string => (s === undefined ? "never" : `${s.toFixed(1)} s`);
const verdict = (pass: boolean): string => (pass ? "PASS" : "MISS");

function summaryTable(runs: readonly Run[]): string {
  const rows = runs.map(({ strategy, summary: s }) => [
    strategy.name,
    count(s.requests),
    count(s.dependencyCalls),
    times(s.outageAmplification),
    times(s.overallAmplification),
    count(s.failedFast),
    count(s.failed),
    seconds(s.recoverySeconds),
  ]);
  const header = [
    "strategy",
    "requests",
    "dependency calls",
    "outage amp.",
    "overall amp.",
    "failed fast",
    "failed",
    "recovery",
  ];
  return table(header, rows, [false, true, true, true, true, true, true, true]);
}

function targetLines(runs: readonly Run[]): string[] {
  const byName = new Map(runs.map((run) => [run.strategy.name, run.summary]));
  const staunch = byName.get(STAUNCH_DEFAULTS) as Summary;
  const naive = byName.get(NAIVE) as Summary;
  const jitters = JITTERS.map((jitter) => runs.find((run) => run.strategy.name === jitterName(jitter)) as Run);
  const full = byName.get(jitterName("full")) as Summary;
  const defaultJitter = byName.get(DEFAULT_JITTER) as Summary;
  const fewest = Math.min(...jitters.map((run) => run.summary.dependencyCalls));
  const fewestNames = jitters.filter((run) => run.summary.dependencyCalls === fewest).map((run) => run.strategy.name);
  const byCalls = [...jitters]
    .sort((a, b) => a.summary.dependencyCalls - b.summary.dependencyCalls)
    .map(
      (run) => `${run.strategy.name.replace(/^jitter | \(5 attempts\)$/g, "")} ${count(run.summary.dependencyCalls)}`,
    )
    .join(", ");
  const fetchRun = runs.find((run) => run.strategy.name === FETCH_DEFAULTS) as Run;
  const firstOpenS = Number.parseFloat(fetchRun.breakerChanges.find((c) => c.endsWith("closed→open")) ?? "NaN");
  const recovery = fetchRun.summary.recoverySeconds;
  return [
    `${verdict(fetchRun.summary.outageAmplification <= 1.2)}  ${FETCH_DEFAULTS}: outage amplification ` +
      `${times(fetchRun.summary.outageAmplification)} ≤ 1.2×`,
    `${verdict(firstOpenS - OUTAGE.fromMs / 1000 <= 3)}  ${FETCH_DEFAULTS}: the breaker opens ` +
      `${(firstOpenS - OUTAGE.fromMs / 1000).toFixed(3)} s into the outage (≤ 3 s)`,
    `${verdict(recovery !== undefined && recovery <= 10 + 1)}  ${FETCH_DEFAULTS}: recovery ${seconds(recovery)} after ` +
      "the dependency is back (≤ halfOpenAfterMs 10 s + one probe call)",
    `${verdict(staunch.outageAmplification <= 1.2)}  ${STAUNCH_DEFAULTS}: outage amplification ${times(staunch.outageAmplification)} ≤ 1.2× ` +
      `(naive retries: ${times(naive.outageAmplification)}, ≈ 3× expected)`,
    `${verdict(defaultJitter.dependencyCalls <= full.dependencyCalls)}  staunch's default jitter makes no more dependency ` +
      `calls than full jitter: ${count(defaultJitter.dependencyCalls)} vs ${count(full.dependencyCalls)}`,
    `info  all jitters, fewest calls first: ${byCalls}; fewest: ${fewestNames.join(", ")} (in a hard outage every ` +
      "request makes all its attempts; the spread comes from retries that straddle the recovery)",
  ];
}

function checkLines(runs: readonly Run[], budgetRun: Run): string[] {
  const lines: string[] = [];
  const rule = DEFAULT_BUDGET_RULE;
  const allowance = 1 + Math.max(rule.ratio, rule.minRetriesPerSecond / (CLIENTS * (1000 / REQUEST_INTERVAL_MS)));
  const isolated = budgetRun.summary;
  lines.push(
    `${verdict(isolated.outageAmplification <= allowance + 0.005)}  budget alone (${budgetRun.strategy.name}): ` +
      `outage amplification ${times(isolated.outageAmplification)}; the documented rule allows ` +
      `1 + max(${rule.ratio}, ${rule.minRetriesPerSecond}/s ÷ ${CLIENTS} requests/s) = ${times(allowance)}`,
  );
  // The documented promise is about load ("sends about (1 + ratio)× its normal load"), so look at it per second
  // too: a budget that spends a whole window's allowance at once keeps the average and still sends a burst.
  const peak = peakSecond(isolated, OUTAGE);
  const bursts = isolated.callsPerSecond
    .map((calls, second) => ({ calls, second }))
    .filter(
      ({ calls, second }) =>
        second >= OUTAGE.fromMs / 1000 &&
        second < OUTAGE.toMs / 1000 &&
        calls > allowance * (isolated.requestsPerSecond[second] ?? 0) * 1.5,
    )
    .map(({ calls, second }) => `${second}–${second + 1} s ${count(calls)} calls`)
    .join(", ");
  lines.push(
    `${verdict(peak.amplification <= allowance * 1.5)}  budget alone, per second: every second of the outage under ` +
      `1.5 × the ${times(allowance)} allowance; peak ${times(peak.amplification)} in ${peak.second}–${peak.second + 1} s ` +
      `(seconds over: ${bursts || "none"}; ~${CLIENTS} requests a second)`,
  );
  for (const run of [...runs, budgetRun]) {
    if (run.budgetEvents.length === 0) continue;
    const worst = worstBudgetExcess(run.budgetEvents, rule);
    const at = worst.atMs === undefined ? "" : ` at ${((worst.atMs - EPOCH_MS) / 1000).toFixed(3)} s`;
    lines.push(
      `${verdict(worst.excess <= 0)}  budget in "${run.strategy.name}": ${count(worst.grants)} retries granted; at ` +
        `every grant, retries in the window ≤ max(${rule.minRetriesPerSecond}/s × ${rule.windowMs / 1000} s, ` +
        `${rule.ratio} × requests in it) (headroom at the tightest grant: ${(-worst.excess).toFixed(1)} retries${at})`,
    );
  }
  for (const run of runs) {
    if (run.breakerChanges.length === 0) continue;
    const last = run.breakerChanges.at(-1) ?? "";
    lines.push(
      `${verdict(last.endsWith("→closed"))}  breaker in "${run.strategy.name}" closes after the outage: ` +
        run.breakerChanges.join(", "),
    );
  }
  const leaks = [...runs, budgetRun].filter((run) => run.summary.unsettled > 0 || run.pendingTimers > 0);
  lines.push(
    `${verdict(leaks.length === 0)}  no leaks: every request of every run settled and no timer was left pending` +
      leaks
        .map((run) => ` — ${run.strategy.name}: ${run.summary.unsettled} unsettled, ${run.pendingTimers} timers`)
        .join(""),
  );
  return lines;
}

/** Charts the compared runs, and `reference` dashed. */
function writeChart(runs: readonly Run[], reference: Run): string {
  const charted = [...runs, reference];
  const seconds = Math.max(...charted.map((run) => run.summary.callsPerSecond.length));
  const svg = lineChartSvg({
    title: `Dependency calls per second: ${CLIENTS} clients × 1 request/s, dependency down 10–40 s`,
    xLabel: "virtual time (s)",
    yLabel: "dependency calls per second",
    band: { fromX: OUTAGE.fromMs / 1000, toX: OUTAGE.toMs / 1000, label: "dependency down" },
    series: charted.map((run) => ({
      name: run === reference ? `(check) ${run.strategy.name}` : run.strategy.name,
      color: run.strategy.color,
      emphasis: run.strategy.name === STAUNCH_DEFAULTS,
      dashed: run === reference,
      values: Array.from({ length: seconds }, (_, second) => run.summary.callsPerSecond[second] ?? 0),
    })),
  });
  const directory = new URL("./results/", import.meta.url);
  mkdirSync(directory, { recursive: true });
  const file = new URL("storm.svg", directory);
  writeFileSync(file, svg);
  return relative(process.cwd(), fileURLToPath(file));
}

const runs: Run[] = [];
for (const strategy of strategies) runs.push(await simulate(strategy));
const budgetRun = await simulate(budgetOnly);

console.log(
  `retry storm: ${CLIENTS} clients × 1 request/s (random phases) for ${DURATION_MS / 1000} s of virtual time; ` +
    `dependency answers in ${HEALTHY_LATENCY_MS} ms, down ${OUTAGE.fromMs / 1000}–${OUTAGE.toMs / 1000} s ` +
    `(fails in ${OUTAGE_LATENCY_MS} ms with TypeError("fetch failed"))`,
);
console.log(
  "outage amp. = dependency calls in [10 s, 40 s) ÷ requests started then; recovery = seconds after 40 s to the " +
    "first 1 s window (windows every 0.1 s) in which ≥ 99 % of the requests started succeeded\n",
);
console.log(summaryTable(runs));
console.log("\ntargets (informative, not enforced)");
for (const line of targetLines(runs)) console.log(line);
console.log("\nchecks for defects");
for (const line of checkLines(runs, budgetRun)) console.log(line);
console.log(`\nchart: ${writeChart(runs, budgetRun)}`);

const herd = await resetHerd();
console.log(
  `\nreset herd: ${herd.fleet} clients (one createFetch each) told by Retry-After (an HTTP date) to come back at ` +
    "the same instant; origin requests per 100 ms from that instant on (virtual time)",
);
for (const run of herd.runs) {
  console.log(
    `${run.name.padEnd(30)} ${run.perSliceFromReset.join(", ")}  (first 100 ms: ${run.perSliceFromReset[0]}; ` +
      `last return ${Math.round(run.lastReturnMs)} ms after the reset; ${run.succeeded} of ${herd.fleet} succeeded)`,
  );
}

const flakySeconds = Number(process.env.SIMULATE_FLAKY_SECONDS ?? 10);
const flakyOptions = { callers: 50, durationMs: flakySeconds * 1_000, failureRate: 0.3 };
const flaky = await flakyOrigin(flakyOptions);
console.log(
  `\nflaky origin (loopback, real time): 30 % of requests fail (503, reset, stall), ${flakyOptions.callers} ` +
    `callers calling in a loop for ${flakySeconds} s each; 200 ms per attempt, 3 s per call`,
);
const rate = (run: { succeeded: number; calls: number }): number => (100 * run.succeeded) / run.calls;
console.log(
  table(
    ["client", "calls", "succeeded", "success rate", "failed fast", "origin requests"],
    flaky.map((run) => [
      run.name,
      count(run.calls),
      count(run.succeeded),
      `${rate(run).toFixed(1)} %`,
      count(run.failedFast),
      count(run.originRequests),
    ]),
    [false, true, true, true, true, true],
  ),
);
const [defaults, , noBreaker] = flaky as [(typeof flaky)[0], (typeof flaky)[0], (typeof flaky)[0]];
console.log(
  `${verdict(rate(defaults) >= rate(noBreaker) - 1)}  defaults ${rate(defaults).toFixed(1)} % ≥ breaker: false ` +
    `${rate(noBreaker).toFixed(1)} % − 1 point`,
);
