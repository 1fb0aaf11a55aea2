/**
 * The sample Worker's settings, from `wrangler.toml` vars with embedded defaults, so `npm start` needs none.
 * `wrangler types` writes the same names into `worker-configuration.d.ts` for a project of your own.
 */

export interface Env {
  /**
   * The upstream to proxy `/api/*` to (`https://api.example.com/v1`), or `"demo"` for the built-in demo
   * origin. Credentials in it (`https://user:pw@…`) are dropped (workerd's fetch would not send them) and
   * never shown: set a header of the upstream's credentials in code (worker/README.md, "Control endpoints").
   */
  readonly UPSTREAM_URL?: string;
  readonly ATTEMPTS?: string;
  readonly ATTEMPT_TIMEOUT_MS?: string;
  readonly TOTAL_TIMEOUT_MS?: string;
  readonly MAX_STALE_SECONDS?: string;
  readonly HALF_OPEN_AFTER_MS?: string;
  /** `"route"` (default): a breaker per first path segment; `"origin"`: one breaker for the whole upstream. */
  readonly BREAKER_KEY?: string;
  /** The share of attempts in the last 30 s that must have failed for a circuit to open. Default 0.5. */
  readonly BREAKER_FAILURE_RATE?: string;
  /** No circuit opens before this many attempts are in its 30 s window. Default 20. */
  readonly BREAKER_MIN_THROUGHPUT?: string;
  /**
   * A `wrangler secret put CONTROL_SECRET`: `/__staunch/*` (state, reset, outage) then answer only to
   * `Authorization: Bearer <secret>`. Unset: they are off, but for the demo origin asked on a loopback
   * address (`npm start`).
   */
  readonly CONTROL_SECRET?: string;
  /**
   * The `StaunchSharedState` Durable Object (wrangler.toml binds it by default): breakers and the retry budget
   * are then shared by all of the Worker's isolates. Without it, each isolate keeps its own.
   */
  readonly STAUNCH_STATE?: DurableObjectNamespace;
}

/** What a breaker is kept for: each route of the upstream, or the upstream as a whole. */
export type BreakerKey = "route" | "origin";

export interface Config {
  readonly upstream: string;
  readonly attempts: number;
  readonly attemptTimeoutMs: number;
  readonly totalTimeoutMs: number;
  readonly maxStaleSeconds: number;
  readonly halfOpenAfterMs: number;
  readonly breakerKey: BreakerKey;
  /** The failure ratio, in (0, 1], that opens a circuit once `breakerMinThroughput` attempts were seen. */
  readonly breakerFailureRate: number;
  readonly breakerMinThroughput: number;
}

function positive(value: string | undefined, fallback: number, name: string): number {
  if (value === undefined || value === "") return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0)
    throw new RangeError(`wrangler.toml var ${name} must be a positive number, got ${JSON.stringify(value)}`);
  return n;
}

function upstreamOf(value: string | undefined): string {
  if (value === undefined || value === "" || value === "demo") return "demo";
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    // Not echoed: it may hold credentials.
    throw new RangeError('wrangler.toml var UPSTREAM_URL must be "demo" or an http(s) URL');
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw new RangeError(`wrangler.toml var UPSTREAM_URL must be an http(s) URL, got the scheme ${url.protocol}`);
  }
  return value;
}

export function readConfig(env: Env): Config {
  const breakerKey = env.BREAKER_KEY || "route";
  if (breakerKey !== "route" && breakerKey !== "origin") {
    throw new RangeError(
      `wrangler.toml var BREAKER_KEY must be "route" or "origin", got ${JSON.stringify(breakerKey)}`,
    );
  }
  const breakerFailureRate = positive(env.BREAKER_FAILURE_RATE, 0.5, "BREAKER_FAILURE_RATE");
  if (breakerFailureRate > 1) {
    throw new RangeError(`wrangler.toml var BREAKER_FAILURE_RATE must be a ratio in (0, 1], got ${breakerFailureRate}`);
  }
  return {
    upstream: upstreamOf(env.UPSTREAM_URL),
    attempts: positive(env.ATTEMPTS, 3, "ATTEMPTS"),
    attemptTimeoutMs: positive(env.ATTEMPT_TIMEOUT_MS, 1_500, "ATTEMPT_TIMEOUT_MS"),
    totalTimeoutMs: positive(env.TOTAL_TIMEOUT_MS, 5_000, "TOTAL_TIMEOUT_MS"),
    maxStaleSeconds: positive(env.MAX_STALE_SECONDS, 300, "MAX_STALE_SECONDS"),
    halfOpenAfterMs: positive(env.HALF_OPEN_AFTER_MS, 10_000, "HALF_OPEN_AFTER_MS"),
    breakerKey,
    breakerFailureRate,
    breakerMinThroughput: positive(env.BREAKER_MIN_THROUGHPUT, 20, "BREAKER_MIN_THROUGHPUT"),
  };
}
