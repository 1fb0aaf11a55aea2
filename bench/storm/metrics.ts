/**
 * What a storm run is judged by: pure functions of the run's log (times in ms of virtual time since the run
 * started), kept apart from the simulation so that each figure's definition reads in one place.
 */

/** How a client's request ended. `"failed fast"`: a circuit breaker refused it without calling the dependency. */
export type Outcome = "succeeded" | "failed" | "failed fast";

export interface RequestRecord {
  readonly startedMs: number;
  /** `undefined` while the request is still running. */
  outcome: Outcome | undefined;
}

/** Everything a run records. */
export interface RunLog {
  /** In order of start. */
  readonly requests: RequestRecord[];
  /** When each call reached the dependency, in order. */
  readonly dependencyCallsMs: number[];
}

/** A half-open span of virtual time, [fromMs, toMs). */
export interface Span {
  readonly fromMs: number;
  readonly toMs: number;
}

const within = (ms: number, span: Span): boolean => ms >= span.fromMs && ms < span.toMs;

export interface Summary {
  readonly requests: number;
  readonly dependencyCalls: number;
  /** Dependency calls during the outage ÷ client requests started during it. */
  readonly outageAmplification: number;
  /** All dependency calls ÷ all client requests. */
  readonly overallAmplification: number;
  readonly failedFast: number;
  /** Requests that finally failed, fast or not. */
  readonly failed: number;
  /** Requests that never settled: a leaked promise, or a timer that never fired. */
  readonly unsettled: number;
  /** Seconds after the outage until the first healthy window (see {@link recoverySeconds}); undefined: never. */
  readonly recoverySeconds: number | undefined;
  /** Dependency calls in each second of the run, from 0. */
  readonly callsPerSecond: readonly number[];
  /** Client requests started in each second of the run, from 0. */
  readonly requestsPerSecond: readonly number[];
}

/** How many of `timesMs` fall in each second, from 0. */
function perSecond(timesMs: readonly number[]): number[] {
  const counts: number[] = [];
  for (const ms of timesMs) {
    const second = Math.floor(ms / 1000);
    while (counts.length <= second) counts.push(0);
    counts[second] = (counts[second] as number) + 1;
  }
  return counts;
}

/** Summarises a run whose dependency was down during `outage`. */
export function summarize(log: RunLog, outage: Span): Summary {
  const outageRequests = log.requests.filter((r) => within(r.startedMs, outage)).length;
  const outageCalls = log.dependencyCallsMs.filter((ms) => within(ms, outage)).length;
  const count = (outcome: Outcome | undefined): number => log.requests.filter((r) => r.outcome === outcome).length;
  return {
    requests: log.requests.length,
    dependencyCalls: log.dependencyCallsMs.length,
    outageAmplification: outageCalls / outageRequests,
    overallAmplification: log.dependencyCallsMs.length / log.requests.length,
    failedFast: count("failed fast"),
    failed: count("failed") + count("failed fast"),
    unsettled: count(undefined),
    recoverySeconds: recoverySeconds(log.requests, outage.toMs),
    callsPerSecond: perSecond(log.dependencyCallsMs),
    requestsPerSecond: perSecond(log.requests.map((r) => r.startedMs)),
  };
}

/**
 * The second of `span` (whole seconds) with the highest dependency calls ÷ requests started in it: an average
 * over a long window can hide a burst.
 */
export function peakSecond(summary: Summary, span: Span): { second: number; amplification: number } {
  let peak = { second: Math.floor(span.fromMs / 1000), amplification: 0 };
  for (let second = Math.floor(span.fromMs / 1000); second < Math.ceil(span.toMs / 1000); second++) {
    const amplification = (summary.callsPerSecond[second] ?? 0) / (summary.requestsPerSecond[second] ?? 0);
    if (amplification > peak.amplification) peak = { second, amplification };
  }
  return peak;
}

/** Width of the window judged healthy or not. */
const RECOVERY_WINDOW_MS = 1_000;
/** Windows start every 100 ms: aligned whole seconds would round every recovery up to the next second. */
const RECOVERY_STEP_MS = 100;
/** Share of the requests started in a window that must succeed for it to count as healthy. */
const HEALTHY_SUCCESS_RATIO = 0.99;

/**
 * Seconds from `afterMs` to the start of the first 1-second window (windows start every 100 ms) in which at least
 * 99 % of the requests that started in it succeeded; undefined if no window after `afterMs` is healthy.
 */
export function recoverySeconds(requests: readonly RequestRecord[], afterMs: number): number | undefined {
  const lastStartMs = Math.max(...requests.map((r) => r.startedMs));
  for (let fromMs = afterMs; fromMs + RECOVERY_WINDOW_MS <= lastStartMs; fromMs += RECOVERY_STEP_MS) {
    const window = { fromMs, toMs: fromMs + RECOVERY_WINDOW_MS };
    const started = requests.filter((r) => within(r.startedMs, window));
    const succeeded = started.filter((r) => r.outcome === "succeeded").length;
    if (started.length > 0 && succeeded >= HEALTHY_SUCCESS_RATIO * started.length) {
      return (fromMs - afterMs) / 1000;
    }
  }
  return undefined;
}

/** A retry budget's settings, as `retryBudget` documents them. */
export interface BudgetRule {
  readonly ratio: number;
  readonly minRetriesPerSecond: number;
  readonly windowMs: number;
  readonly buckets: number;
}

/** What a shared budget was asked, in order: a call recorded, or a retry granted. */
export interface BudgetEvent {
  readonly kind: "request" | "retry";
  /** The budget's own clock reading. */
  readonly atMs: number;
}

/**
 * Checks a budget's grants against its rule, recomputed from the raw log: at each grant, the retries granted in
 * the window must not exceed `max(minRetriesPerSecond × windowMs/1000, ratio × requests)` in that window. The window
 * is the one `retryBudget` documents: whole slices of windowMs/buckets, the current one included. Returns the
 * largest excess over the allowance (≤ 0: the budget held) and when it happened.
 */
export function worstBudgetExcess(
  events: readonly BudgetEvent[],
  rule: BudgetRule,
): { excess: number; atMs: number | undefined; grants: number } {
  const sliceMs = rule.windowMs / rule.buckets;
  const minimum = (rule.minRetriesPerSecond * rule.windowMs) / 1000;
  let worst = { excess: Number.NEGATIVE_INFINITY, atMs: undefined as number | undefined };
  const seen: BudgetEvent[] = [];
  let oldestIndex = 0;
  let grants = 0;
  for (const event of events) {
    seen.push(event);
    if (event.kind !== "retry") continue;
    grants++;
    const windowStartMs = Math.floor(event.atMs / sliceMs) * sliceMs - rule.windowMs + sliceMs;
    while ((seen[oldestIndex] as BudgetEvent).atMs < windowStartMs) oldestIndex++;
    let requests = 0;
    let retries = 0;
    for (let i = oldestIndex; i < seen.length; i++) {
      if ((seen[i] as BudgetEvent).kind === "request") requests++;
      else retries++;
    }
    const excess = retries - Math.max(minimum, rule.ratio * requests);
    if (excess > worst.excess) worst = { excess, atMs: event.atMs };
  }
  return { ...worst, grants };
}
