/**
 * The checks of createFetch's options that are more than one call to a validator: each turns a bad value into a
 * TypeError or RangeError naming the factory, the option and the value, at construction.
 */

import type { BulkheadPolicy } from "../bulkhead.ts";
import type { CreateFetchOptions } from "../create-fetch.ts";
import { type FetchBreaker, isFetchBreaker } from "../fetch-breaker.ts";
import type { Policy } from "../policy.ts";
import { optionError, requireLimitAtLeast } from "../validate.ts";

/**
 * The statuses retried by default: a timeout, rate limiting and the gateway/overload 5xx family.
 *
 * @example
 * ```ts
 * createFetch({ retryStatuses: [...DEFAULT_RETRY_STATUSES, 409] });
 * ```
 */
export const DEFAULT_RETRY_STATUSES: readonly number[] = [408, 429, 500, 502, 503, 504];

/** The `breaker` option of the pipeline: a breaker layer, or none. */
export function breakerLayer(owner: string, option: CreateFetchOptions["breaker"]): FetchBreaker | undefined {
  if (option === undefined || option === false) return undefined;
  if (isFetchBreaker(option)) return option;
  throw optionError(TypeError, owner, "breaker", "a perOriginBreaker(…) or false", option);
}

/** One bulkhead per origin from a function, or the one given for all origins; checked now. */
export function bulkheadLayer(
  owner: string,
  option: CreateFetchOptions["bulkhead"],
): ((origin: string) => Policy) | undefined {
  if (option === undefined) return undefined;
  const requirement = "a bulkhead(…), or a function (origin) => bulkhead(…)";
  const check = (value: unknown): BulkheadPolicy => {
    const given = value as Partial<BulkheadPolicy> | null;
    if (typeof given?.run !== "function" || typeof given.running !== "number" || typeof given.queued !== "number") {
      throw optionError(TypeError, owner, "bulkhead", requirement, value);
    }
    return value as BulkheadPolicy;
  };
  if (typeof option !== "function") {
    check(option);
    return () => option;
  }
  check(option("https://options.check")); // throws now, at construction, on bad options
  return (origin) => check(option(origin));
}

/** A deadline option: a duration > 0, or Infinity for none. */
export function validTimeout(owner: string, name: string, value: unknown, fallback: number): number {
  const ms = requireLimitAtLeast(owner, name, value ?? fallback);
  if (ms === 0) throw optionError(RangeError, owner, name, "a number > 0 (Infinity for none)", value);
  return ms;
}

/** The `retryStatuses` option as a set, each an HTTP status. */
export function statusSet(owner: string, statuses: Iterable<number> | undefined): ReadonlySet<number> {
  if (statuses === undefined) return new Set(DEFAULT_RETRY_STATUSES);
  // A string is iterable too, and "503" would be read as the statuses "5", "0" and "3".
  if (typeof statuses === "string" || typeof (statuses as Iterable<number> | null)?.[Symbol.iterator] !== "function") {
    throw optionError(TypeError, owner, "retryStatuses", "an iterable of status codes", statuses);
  }
  const set = new Set<number>();
  for (const status of statuses) {
    if (!Number.isInteger(status) || status < 100 || status > 599) {
      throw optionError(RangeError, owner, "retryStatuses", "status codes from 100 to 599", status);
    }
    set.add(status);
  }
  return set;
}
