/**
 * createFetch's events, built only when a listener is there to receive them (the client holds an
 * `Emit | undefined` and calls these only when it is defined): a call nobody listens to builds nothing.
 */

import type { CircuitStateChange } from "../circuit-breaker.ts";
import { fallbackReason } from "../outcome.ts";
import type { RetryState } from "../retry.ts";
import type { Emit } from "../telemetry/emit.ts";
import { errorName } from "../transient.ts";
import type { DelaySource, FetchEventBase, FetchGiveUpReason, RequestSummary } from "./types.ts";

/** What createFetch's events say of a call: its request, where it went, when it began. */
export interface ReportedCall {
  readonly request: RequestSummary;
  readonly origin: string;
  readonly startedMs: number;
  /** The URL as events show it, redacted once per call (a call reports at least two events). */
  redactedUrl: string | undefined;
}

/** A client's reporting: its listeners, how URLs appear, its clock and its attempts cap. */
export interface FetchReporter {
  readonly emit: Emit;
  readonly redact: (url: string) => string;
  readonly now: () => number;
  readonly maxAttempts: number;
}

const urlOf = (reporter: FetchReporter, call: ReportedCall): string =>
  (call.redactedUrl ??= reporter.redact(call.request.url));

function describe(reporter: FetchReporter, call: ReportedCall, state: RetryState<Response>): FetchEventBase {
  return {
    method: call.request.method,
    url: urlOf(reporter, call),
    origin: call.origin,
    attempt: state.attempt,
    status: state.threw ? undefined : state.result?.status,
    errorName: state.threw ? (errorName(state.error) ?? "Error") : undefined,
    error: state.error,
    elapsedMs: Math.round(reporter.now() - call.startedMs),
  };
}

/** One attempt ended, with a response (`threw` false) or an error, `durationMs` after it started. */
export function reportAttempt(
  reporter: FetchReporter,
  call: ReportedCall,
  attempt: number,
  outcome: unknown,
  threw: boolean,
  durationMs: number,
): void {
  reporter.emit({
    type: "fetch-attempt",
    method: call.request.method,
    url: urlOf(reporter, call),
    origin: call.origin,
    attempt,
    status: threw ? undefined : (outcome as Response).status,
    errorName: threw ? (errorName(outcome) ?? "Error") : undefined,
    error: threw ? outcome : undefined,
    durationMs: Math.round(durationMs),
  });
}

export function reportRetry(
  reporter: FetchReporter,
  call: ReportedCall,
  state: RetryState<Response>,
  delayMs: number,
  delaySource: DelaySource,
): void {
  reporter.emit({
    type: "fetch-retry",
    ...describe(reporter, call, state),
    delayMs: Math.round(delayMs),
    delaySource,
    maxAttempts: reporter.maxAttempts,
  });
}

export function reportGiveUp(
  reporter: FetchReporter,
  call: ReportedCall,
  state: RetryState<Response>,
  reason: FetchGiveUpReason,
): void {
  reporter.emit({ type: "fetch-give-up", ...describe(reporter, call, state), reason });
}

/** The call ended: resolved with `outcome` (`threw` false) or rejected with it. */
export function reportEnd(reporter: FetchReporter, call: ReportedCall, outcome: unknown, threw: boolean): void {
  reporter.emit({
    type: "fetch-end",
    method: call.request.method,
    url: urlOf(reporter, call),
    origin: call.origin,
    status: threw ? undefined : (outcome as Response).status,
    errorName: threw ? (errorName(outcome) ?? "Error") : undefined,
    error: threw ? outcome : undefined,
    durationMs: Math.round(reporter.now() - call.startedMs),
  });
}

/**
 * A breaker's transition, named by the origin it guards: the one it was made for, else its key (a breaker
 * shared by all origins has its own).
 */
export function reportBreakerChange(emit: Emit, change: CircuitStateChange): void {
  emit({ ...change, origin: change.origin ?? change.key ?? "unknown" });
}

/** The fallback answered for a call that threw (`response` undefined) or ended with a retryable status. */
export function reportFallback(
  reporter: FetchReporter,
  call: ReportedCall,
  error: unknown,
  response: Response | undefined,
): void {
  reporter.emit({
    type: "fetch-fallback",
    method: call.request.method,
    url: urlOf(reporter, call),
    origin: call.origin,
    reason: response === undefined ? fallbackReason({ ok: false, error }) : "result",
    status: response?.status,
    errorName: response === undefined ? (errorName(error) ?? "Error") : undefined,
    error,
  });
}
