/**
 * The `fallback` layer of createFetch, outermost: the fail-safe answer when a call fails. A value the user
 * imports (`fallback: fetchFallback(…)`), so that a bundle without a fallback carries none of its code.
 */

import { raceAbort } from "../abort.ts";
import { requireFunction } from "../validate.ts";
import { discardBody } from "./discard-body.ts";
import { type FetchReporter, type ReportedCall, reportFallback } from "./telemetry.ts";
import type { RequestSummary } from "./types.ts";

/** What a createFetch `fallback` receives. */
export interface FetchFailure {
  readonly request: RequestSummary;
  /** What the call threw, or `undefined` when it ended with a retryable status. */
  readonly error: unknown;
  /** The last response, when the call ended with a retryable status (body already cancelled). */
  readonly response: Response | undefined;
}

/** A fallback layer, made by {@link fetchFallback}. */
export interface FetchFallback {
  /**
   * Answers for a call that rejected (but for the caller's abort) or ended with a status in `retryStatuses`,
   * whose body is cancelled first. createFetch's own step: its shape may change in any release.
   *
   * @internal
   */
  around(
    pending: Promise<Response>,
    signal: AbortSignal | undefined,
    call: ReportedCall,
    retryStatuses: ReadonlySet<number>,
    reporter: FetchReporter | undefined,
  ): Promise<Response>;
}

/**
 * The fail-safe answer of a createFetch call that fails: it rejected (but for the caller's abort), or ended with
 * a retryable status. Pass it as the `fallback` option.
 *
 * @example
 * ```ts
 * const fetch = createFetch({ fallback: fetchFallback(() => new Response("[]", { status: 200 })) });
 * ```
 */
export function fetchFallback(answer: (failure: FetchFailure) => Response | PromiseLike<Response>): FetchFallback {
  requireFunction("fetchFallback", "answer", answer);
  return {
    async around(pending, signal, call, retryStatuses, reporter) {
      const { request } = call;
      let failure: FetchFailure;
      try {
        const response = await raceAbort(pending, signal);
        if (!retryStatuses.has(response.status)) return response;
        discardBody(response);
        failure = { request, error: undefined, response };
      } catch (error) {
        if (signal?.aborted) throw signal.reason;
        failure = { request, error, response: undefined };
      }
      if (reporter !== undefined) reportFallback(reporter, call, failure.error, failure.response);
      try {
        return await raceAbort(answer(failure), signal);
      } catch (answerError) {
        throw signal?.aborted ? signal.reason : answerError;
      }
    },
  };
}
