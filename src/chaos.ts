/**
 * Fault injection for tests: a policy and a `fetch` wrapper that fail, slow down or answer for the real thing
 * at chosen rates, so that a test can prove the policies above them cope. Put them *under* the policies being
 * tested, in the place of the flaky dependency.
 *
 * Every decision comes from the injected `env.random`, so a seeded source makes a run reproducible. Each call
 * draws exactly three numbers, in this order, at the moment it is made (before any waiting, so concurrent calls
 * draw in the order they were made):
 *
 * 1. whether to delay the call: delayed when the draw is below `latencyRate`;
 * 2. how long: `minMs + draw × (maxMs − minMs)` of the `latencyMs` range;
 * 3. which fault: below `errorRate` an error; then, for `chaosFetch`, the next `resetRate` of the range a
 *    dropped connection and the next `statusRate` an injected status; above all of them the call passes.
 *
 * The count never depends on the options, so adding latency leaves the faults on the calls they were on, and
 * the same seed with the same `errorRate` fails the same calls under `chaos` and under `chaosFetch`. The fault
 * rates share one draw, so each is the exact share of calls that get that fault, and together they are at
 * most 1. The delay, when drawn, comes first; then the fault, or the real call.
 */

import { raceAbort } from "./abort.ts";
import { type Environment, resolveEnvironment } from "./environment.ts";
import { parseRetryAfter } from "./http/retry-after.ts";
import { isRequest } from "./http/send.ts";
import type { FetchFunction } from "./http/types.ts";
import { createPolicy, type Operation, type Policy, type PolicyContext } from "./policy.ts";
import {
  optionalFunction,
  optionError,
  requireFiniteAtLeast,
  requireKnownKeys,
  requireNumber,
  requireOptionsObject,
} from "./validate.ts";

/**
 * Options of {@link chaos}.
 *
 * @example
 * ```ts
 * import type { ChaosOptions } from "staunch/chaos";
 * // A third of the calls fail; every call takes 20–200 ms.
 * const options: ChaosOptions = { errorRate: 1 / 3, latencyMs: [20, 200], env: { random: seededRandom(42) } };
 * ```
 */
export interface ChaosOptions {
  /** The share of calls, in [0, 1], that fail with `error()` without reaching the operation. Default 0. */
  readonly errorRate?: number;
  /**
   * Makes the error an injected failure throws, once per failure. Default `new TypeError("fetch failed")`: the
   * failure of a network request, which staunch treats as transient and retries.
   */
  readonly error?: () => unknown;
  /** The delay added to a call, in ms: a fixed value or a `[minMs, maxMs]` range drawn uniformly. Default none. */
  readonly latencyMs?: number | readonly [minMs: number, maxMs: number];
  /** The share of calls, in [0, 1], that get the delay. Default 1 when `latencyMs` is set. */
  readonly latencyRate?: number;
  /**
   * Randomness and sleep. Give a seeded `random` to make a test reproducible (the default draws from Web
   * Crypto), and a fake `sleep` to keep the delays off the real clock.
   */
  readonly env?: Partial<Environment>;
}

/**
 * Options of {@link chaosFetch}: those of {@link chaos}, plus the faults only HTTP has.
 *
 * @example
 * ```ts
 * import type { ChaosFetchOptions } from "staunch/chaos";
 * // One call in five answered 429 with Retry-After: 2, one in ten dropped.
 * const options: ChaosFetchOptions = { statusRate: 0.2, status: 429, retryAfter: 2, resetRate: 0.1 };
 * ```
 */
export interface ChaosFetchOptions extends ChaosOptions {
  /**
   * The share of calls, in [0, 1], answered with `status` without reaching the real fetch. Default 0.
   */
  readonly statusRate?: number;
  /** The status of an injected answer, 400–599. Default 503. */
  readonly status?: number;
  /**
   * The injected answer's `Retry-After`: delay-seconds (a whole number) or an HTTP-date. Default none.
   */
  readonly retryAfter?: number | string;
  /**
   * The share of calls, in [0, 1], that reject like a dropped connection: `TypeError("fetch failed")` whose
   * `cause.code` is `"ECONNRESET"`, as Node reports a reset socket. Default 0.
   */
  readonly resetRate?: number;
}

/**
 * What a {@link chaos} policy has done so far, so a test can check that the faults it relies on really happened.
 *
 * @example
 * ```ts
 * import { chaos } from "staunch/chaos";
 * const faults = chaos({ errorRate: 0.5 });
 * await compose(retry({ attempts: 5 }), faults).execute(callService);
 * const { errors, passed } = faults.injected(); // errors > 0: the retry was really exercised
 * ```
 */
export interface ChaosCounts {
  /** Calls made through it. */
  readonly calls: number;
  /** Calls it delayed (counted as the delay starts, so a call aborted in its delay counts here only). */
  readonly delayed: number;
  /** Calls it failed with `error()`. */
  readonly errors: number;
  /** Calls it let through to the real operation, whatever that then did. */
  readonly passed: number;
}

/**
 * What a {@link chaosFetch} has done so far: {@link ChaosCounts} plus the HTTP faults.
 *
 * @example
 * ```ts
 * import { chaosFetch } from "staunch/chaos";
 * const flaky = chaosFetch(fetch, { statusRate: 0.3, resetRate: 0.3 });
 * await createFetch({ fetch: flaky })("https://api.example.com/items");
 * console.log(flaky.injected()); // e.g. { calls: 3, delayed: 0, errors: 0, resets: 1, statuses: 1, passed: 1 }
 * ```
 */
export interface ChaosFetchCounts extends ChaosCounts {
  /** Calls it rejected like a dropped connection. */
  readonly resets: number;
  /** Calls it answered with the injected status. */
  readonly statuses: number;
}

/**
 * A {@link Policy} that injects faults, with the count of what it injected.
 *
 * @example
 * ```ts
 * import { chaos } from "staunch/chaos";
 * const faults = chaos({ errorRate: 0.5, env: { random: seededRandom(1) } });
 * await compose(retry({ attempts: 5 }), faults).execute(callService);
 * console.log(faults.injected().errors);
 * ```
 */
export interface ChaosPolicy extends Policy {
  /** A snapshot of what has been injected so far. */
  injected(): ChaosCounts;
}

/**
 * A `fetch` that injects faults, with the count of what it injected.
 *
 * @example
 * ```ts
 * import { chaosFetch } from "staunch/chaos";
 * const flaky = chaosFetch(fetch, { statusRate: 0.3 });
 * await createFetch({ fetch: flaky })("https://api.example.com/items");
 * console.log(flaky.injected().statuses);
 * ```
 */
export interface ChaosFetch extends FetchFunction {
  /** A snapshot of what has been injected so far. */
  injected(): ChaosFetchCounts;
}

type Fault = "error" | "reset" | "status" | undefined;

/** What one call gets: a delay or none, then a fault or none. */
interface Plan {
  readonly delayMs: number | undefined;
  readonly fault: Fault;
}

/** The options both wrappers share, checked. */
interface FaultSettings {
  readonly errorRate: number;
  readonly resetRate: number;
  readonly statusRate: number;
  readonly latency: { readonly minMs: number; readonly maxMs: number } | undefined;
  readonly latencyRate: number;
  readonly makeError: () => unknown;
  readonly env: Environment;
}

const CHAOS_KEYS = /* @__PURE__ */ Object.keys({
  errorRate: true,
  error: true,
  latencyMs: true,
  latencyRate: true,
  env: true,
} satisfies Record<keyof ChaosOptions, true>);
const CHAOS_FETCH_KEYS = /* @__PURE__ */ Object.keys({
  errorRate: true,
  error: true,
  latencyMs: true,
  latencyRate: true,
  env: true,
  statusRate: true,
  status: true,
  retryAfter: true,
  resetRate: true,
} satisfies Record<keyof ChaosFetchOptions, true>);

/** The rates are shares of one draw; rounding in `0.1 + 0.2 + 0.7` must not reject a sum that is really 1. */
const RATE_SUM_SLACK = 1e-9;

/** The pure decision for one call. Always three draws: see the module comment for why. */
function planCall(settings: FaultSettings): Plan {
  const { random } = settings.env;
  const latencyDraw = random();
  const lengthDraw = random();
  const faultDraw = random();
  const { latency } = settings;
  const delayMs =
    latency !== undefined && latencyDraw < settings.latencyRate
      ? latency.minMs + lengthDraw * (latency.maxMs - latency.minMs)
      : undefined;
  const resetFrom = settings.errorRate;
  const statusFrom = resetFrom + settings.resetRate;
  const passFrom = statusFrom + settings.statusRate;
  const fault: Fault =
    faultDraw < resetFrom ? "error" : faultDraw < statusFrom ? "reset" : faultDraw < passFrom ? "status" : undefined;
  return { delayMs, fault };
}

/** Sleeps on the environment, rejecting at the abort even if a hand-written fake `sleep` ignores the signal. */
function delay(env: Environment, ms: number, signal: AbortSignal | undefined): Promise<void> {
  if (signal === undefined) return env.sleep(ms);
  // Checked before sleeping: raceAbort would reject at once and leave a rejected sleep nobody handles.
  if (signal.aborted) return Promise.reject(signal.reason);
  return raceAbort(env.sleep(ms, signal), signal);
}

function requireRate(owner: string, name: string, value: unknown): number {
  const rate = requireNumber(owner, name, value);
  if (!(rate >= 0 && rate <= 1)) throw optionError(RangeError, owner, name, "a number in [0, 1]", value);
  return rate;
}

function latencyRange(owner: string, value: unknown): FaultSettings["latency"] {
  if (value === undefined) return undefined;
  if (!Array.isArray(value)) {
    const ms = requireFiniteAtLeast(owner, "latencyMs", value);
    return { minMs: ms, maxMs: ms };
  }
  if (value.length !== 2) {
    throw new TypeError(
      `${owner}: option "latencyMs" must be a number of ms or a [minMs, maxMs] pair, got an array of ${value.length}`,
    );
  }
  const minMs = requireFiniteAtLeast(owner, "latencyMs[0]", value[0]);
  const maxMs = requireFiniteAtLeast(owner, "latencyMs[1]", value[1]);
  if (minMs > maxMs) {
    throw new RangeError(
      `${owner}: option "latencyMs" must be [minMs, maxMs] with minMs ≤ maxMs, got [${minMs}, ${maxMs}]`,
    );
  }
  return { minMs, maxMs };
}

function faultSettings(owner: string, o: ChaosFetchOptions): FaultSettings {
  const env = resolveEnvironment(o.env, owner);
  const errorRate = requireRate(owner, "errorRate", o.errorRate ?? 0);
  const resetRate = requireRate(owner, "resetRate", o.resetRate ?? 0);
  const statusRate = requireRate(owner, "statusRate", o.statusRate ?? 0);
  // Only chaosFetch has more than one fault rate, so only it can get here.
  if (errorRate + resetRate + statusRate > 1 + RATE_SUM_SLACK) {
    throw new RangeError(
      `${owner}: options errorRate + resetRate + statusRate must add up to at most 1, ` +
        `got ${errorRate} + ${resetRate} + ${statusRate}`,
    );
  }
  const latency = latencyRange(owner, o.latencyMs);
  return {
    errorRate,
    resetRate,
    statusRate,
    latency,
    latencyRate: requireRate(owner, "latencyRate", o.latencyRate ?? (latency === undefined ? 0 : 1)),
    makeError: optionalFunction<() => unknown>(owner, "error", o.error) ?? (() => new TypeError("fetch failed")),
    env,
  };
}

/**
 * A policy that injects faults into the calls it runs: it fails a share of them (`errorRate`) without running
 * the operation, and delays a share (`latencyMs`, `latencyRate`) on `env.sleep`, abortably. Put it innermost,
 * where the unreliable dependency would be, and check with `injected()` that the faults really happened.
 *
 * Decisions come only from `env.random`, three draws a call in a fixed order (delay?, how long, fault?), so a
 * seeded random source replays the same run; the module comment gives the order. The caller's abort ends a
 * delay at once with `signal.reason`. A call that is not delayed never reads `context.signal`, so an enclosing
 * `timeout` does not build a signal for it.
 *
 * @example
 * ```ts
 * import { chaos } from "staunch/chaos";
 * // Prove the retry copes with a dependency that fails half the time.
 * const env = { random: seededRandom(7), sleep: async () => {} };
 * const faults = chaos({ errorRate: 0.5, env });
 * const user = await compose(retry({ attempts: 5, env }), faults).execute(() => db.users.get("42"));
 * console.log(faults.injected().errors); // > 0: the retry was really exercised
 * ```
 *
 * @example
 * ```ts
 * import { chaos } from "staunch/chaos";
 * // A slow dependency: every call takes 1–3 s, so the 2 s attempt timeout fires on about half of them.
 * const slow = chaos({ latencyMs: [1_000, 3_000] });
 * const policy = compose(retry({ attempts: 3 }), timeout(2_000), slow);
 * ```
 */
export function chaos(options?: ChaosOptions): ChaosPolicy {
  const o = requireOptionsObject("chaos", options) as ChaosOptions;
  requireKnownKeys("chaos", o, CHAOS_KEYS);
  const settings = faultSettings("chaos", o);
  const counts = { calls: 0, delayed: 0, errors: 0, passed: 0 };

  async function run<T>(operation: Operation<T>, context: PolicyContext): Promise<T> {
    const plan = planCall(settings);
    counts.calls++;
    if (plan.delayMs !== undefined) {
      counts.delayed++;
      await delay(settings.env, plan.delayMs, context.signal);
    }
    if (plan.fault === "error") {
      counts.errors++;
      throw settings.makeError();
    }
    counts.passed++;
    return await operation(context);
  }

  return { ...createPolicy(run), injected: () => ({ ...counts }) };
}

/** The signal `fetch` itself would obey: `init.signal` when `init` has one, else the `Request`'s own. */
function signalOf(input: RequestInfo | URL, init: RequestInit | undefined): AbortSignal | undefined {
  if (init !== undefined && "signal" in init) return init.signal ?? undefined;
  return isRequest(input) ? input.signal : undefined;
}

function methodOf(input: RequestInfo | URL, init: RequestInit | undefined): string {
  return (init?.method ?? (isRequest(input) ? input.method : "GET")).toUpperCase();
}

function requireStatus(owner: string, value: unknown): number {
  const status = requireNumber(owner, "status", value);
  if (!Number.isInteger(status) || status < 400 || status > 599) {
    throw optionError(RangeError, owner, "status", "an integer from 400 to 599", value);
  }
  return status;
}

function requireRetryAfter(owner: string, value: unknown, env: Environment): string | undefined {
  if (value === undefined) return undefined;
  const header = typeof value === "number" ? String(value) : value;
  // Checked with staunch's own parser: a value it would ignore would quietly test the backoff instead.
  if (typeof header !== "string" || parseRetryAfter(header, env.now()) === undefined) {
    throw optionError(
      typeof value === "number" || typeof value === "string" ? RangeError : TypeError,
      owner,
      "retryAfter",
      "whole seconds ≥ 0 or an HTTP-date",
      value,
    );
  }
  return header;
}

/**
 * Wraps a `fetch` function so that it injects the faults HTTP clients meet: an answer with an error status
 * (`statusRate`, `status`, `retryAfter`), a dropped connection (`resetRate`), any other error (`errorRate`,
 * `error`) and latency (`latencyMs`, `latencyRate`). A call that draws no fault goes to the wrapped fetch with
 * its arguments untouched; a call that draws one never reaches it — an injected status is the answer, with a
 * short text body (none for HEAD) and `Retry-After` when configured.
 *
 * Decisions come only from `env.random`, three draws a call in a fixed order (delay?, how long, fault?), so a
 * seeded random source replays the same run; the module comment gives the order. Like `fetch`, it rejects with
 * the signal's reason when `init.signal` (or the `Request`'s signal) has aborted, and an abort during an
 * injected delay rejects at once.
 *
 * @example
 * ```ts
 * import { chaosFetch } from "staunch/chaos";
 * // Prove that createFetch rides out an origin that answers 503 half the time, honouring its Retry-After.
 * const flaky = chaosFetch(async () => new Response("ok"), { statusRate: 0.5, retryAfter: 1, env: { random: seededRandom(3) } });
 * const res = await createFetch({ fetch: flaky })("https://api.example.com/items");
 * console.log(res.status, flaky.injected().statuses); // 200, after at least one 503
 * ```
 *
 * @example
 * ```ts
 * import { chaosFetch } from "staunch/chaos";
 * // In a browser or Worker test: a real origin behind one dropped connection in ten and 50–500 ms of latency.
 * const flaky = chaosFetch(globalThis.fetch, { resetRate: 0.1, latencyMs: [50, 500] });
 * ```
 */
export function chaosFetch(fetch: FetchFunction, options?: ChaosFetchOptions): ChaosFetch {
  if (typeof fetch !== "function") throw optionError(TypeError, "chaosFetch", "fetch", "a function", fetch);
  const o = requireOptionsObject("chaosFetch", options) as ChaosFetchOptions;
  requireKnownKeys("chaosFetch", o, CHAOS_FETCH_KEYS);
  const settings = faultSettings("chaosFetch", o);
  const status = requireStatus("chaosFetch", o.status ?? 503);
  const retryAfter = requireRetryAfter("chaosFetch", o.retryAfter, settings.env);
  const counts = { calls: 0, delayed: 0, errors: 0, resets: 0, statuses: 0, passed: 0 };

  const answer = (method: string): Response => {
    const headers = new Headers({ "content-type": "text/plain;charset=UTF-8" });
    if (retryAfter !== undefined) headers.set("retry-after", retryAfter);
    // A body as small as a real error page's, so a client that reads it has something to read; HEAD has none.
    return new Response(method === "HEAD" ? null : `${status} injected by staunch chaos`, { status, headers });
  };

  async function chaotic(input: RequestInfo | URL, init?: RequestInit): Promise<Response> {
    // Drawn before the first await, so that calls made together draw in the order they were made.
    const plan = planCall(settings);
    counts.calls++;
    const signal = signalOf(input, init);
    if (signal?.aborted) throw signal.reason;
    if (plan.delayMs !== undefined) {
      counts.delayed++;
      await delay(settings.env, plan.delayMs, signal);
    }
    switch (plan.fault) {
      case "error":
        counts.errors++;
        throw settings.makeError();
      case "reset":
        counts.resets++;
        throw new TypeError("fetch failed", { cause: { code: "ECONNRESET" } });
      case "status":
        counts.statuses++;
        return answer(methodOf(input, init));
    }
    counts.passed++;
    return await fetch(input, init);
  }

  return Object.assign(chaotic, { injected: () => ({ ...counts }) });
}
