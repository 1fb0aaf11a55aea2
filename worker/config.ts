/**
 * The sample Worker's settings, from `wrangler.toml` vars with embedded defaults, so `npm start` needs none.
 */

export interface Env {
  /** The upstream to proxy `/api/*` to; `"demo"` for the built-in demo origin. */
  readonly UPSTREAM_URL?: string;
  readonly ATTEMPTS?: string;
  readonly ATTEMPT_TIMEOUT_MS?: string;
  readonly TOTAL_TIMEOUT_MS?: string;
  readonly MAX_STALE_SECONDS?: string;
  readonly HALF_OPEN_AFTER_MS?: string;
  readonly BREAKER_FAILURES?: string;
  /**
   * The `StaunchSharedState` Durable Object (wrangler.toml binds it by default): breakers and the retry budget
   * are then shared by all of the Worker's isolates. Without it, each isolate keeps its own.
   */
  readonly STAUNCH_STATE?: DurableObjectNamespace;
}

export interface Config {
  readonly upstream: string;
  readonly attempts: number;
  readonly attemptTimeoutMs: number;
  readonly totalTimeoutMs: number;
  readonly maxStaleSeconds: number;
  readonly halfOpenAfterMs: number;
  /** Failed attempts in a row that open an origin's circuit. */
  readonly breakerFailures: number;
}

function positive(value: string | undefined, fallback: number, name: string): number {
  if (value === undefined || value === "") return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0)
    throw new RangeError(`wrangler.toml var ${name} must be a positive number, got ${JSON.stringify(value)}`);
  return n;
}

export function readConfig(env: Env): Config {
  return {
    upstream: env.UPSTREAM_URL || "demo",
    attempts: positive(env.ATTEMPTS, 3, "ATTEMPTS"),
    attemptTimeoutMs: positive(env.ATTEMPT_TIMEOUT_MS, 1_500, "ATTEMPT_TIMEOUT_MS"),
    totalTimeoutMs: positive(env.TOTAL_TIMEOUT_MS, 5_000, "TOTAL_TIMEOUT_MS"),
    maxStaleSeconds: positive(env.MAX_STALE_SECONDS, 300, "MAX_STALE_SECONDS"),
    halfOpenAfterMs: positive(env.HALF_OPEN_AFTER_MS, 10_000, "HALF_OPEN_AFTER_MS"),
    breakerFailures: positive(env.BREAKER_FAILURES, 10, "BREAKER_FAILURES"),
  };
}
