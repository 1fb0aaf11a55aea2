/**
 * The built-in demo origin: an upstream that lives inside the Worker and fails on request, so the sample
 * shows retries, breakers and stale answers with nothing else running. It is called as `fetch` would be.
 *
 * Query parameters of the proxied URL choose the failure for that request:
 * - `fail=0.5`: answer 503 with that probability
 * - `status=503`: always answer that status
 * - `retryAfter=2`: add `Retry-After: 2` to failure answers
 * - `stall=1`: never answer (the attempt timeout must end it)
 * - `down=1`: fail like a dropped connection
 * - `delay=300`: answer after that many ms
 * An outage set with `outage.until` fails every request like `down=1` until then.
 */

/** The query parameters that choose a failure; the cache key leaves them out. */
export const FAILURE_PARAMS = ["fail", "status", "retryAfter", "stall", "down", "delay"] as const;

/** A forced outage of the whole demo origin (the dashboard's "take it down" button). */
export const outage = { until: 0 };

let served = 0;

function abortable(signal: AbortSignal | null | undefined, ms: number | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = ms === undefined ? undefined : setTimeout(resolve, ms);
    signal?.addEventListener(
      "abort",
      () => {
        if (timer !== undefined) clearTimeout(timer);
        reject(signal.reason);
      },
      { once: true },
    );
  });
}

/** Answers like an origin that fails as the request's query asks. */
export async function demoOrigin(input: RequestInfo | URL, init?: RequestInit): Promise<Response> {
  const request = input instanceof Request ? input : undefined;
  const url = new URL(request ? request.url : String(input));
  const signal = init?.signal ?? request?.signal;
  const q = url.searchParams;
  const delayMs = Number(q.get("delay") ?? 0);
  if (delayMs > 0) await abortable(signal, Math.min(delayMs, 30_000));
  if (q.get("stall") === "1") await abortable(signal, undefined);
  if (q.get("down") === "1" || Date.now() < outage.until) {
    // What workerd throws when an upstream drops the connection.
    throw new Error("Network connection lost.");
  }
  const retryAfter = q.get("retryAfter");
  const failHeaders: Record<string, string> = retryAfter ? { "retry-after": retryAfter } : {};
  const status = Number(q.get("status") ?? 200);
  if (status !== 200) return new Response(`demo origin: status ${status}\n`, { status, headers: failHeaders });
  const failRate = Number(q.get("fail") ?? 0);
  if (failRate > 0 && (crypto.getRandomValues(new Uint32Array(1))[0] ?? 0) / 2 ** 32 < failRate) {
    return new Response("demo origin: overloaded\n", { status: 503, headers: failHeaders });
  }
  served++;
  const body = { path: url.pathname, servedAt: new Date().toISOString(), served };
  return Response.json(body, { headers: { "cache-control": "public, max-age=5, stale-if-error=300" } });
}
