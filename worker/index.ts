/**
 * Placeholder for the sample Worker: proxies /api/* to UPSTREAM_URL through staunch's retry and timeout.
 * The full demo (cached fallback, breakers, dashboard) builds on this.
 */

import { compose, retry, timeout } from "../src/index.ts";

export interface Env {
  UPSTREAM_URL: string;
}

const policy = compose(timeout(10_000), retry({ attempts: 3 }), timeout(3_000));

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    const url = new URL(request.url);
    if (url.pathname.startsWith("/api/") && env.UPSTREAM_URL !== "demo") {
      const target = new URL(url.pathname.slice(4) + url.search, env.UPSTREAM_URL);
      return policy.execute(({ signal }) => fetch(target, { signal }), request.signal);
    }
    return new Response("staunch sample Worker\n", { headers: { "content-type": "text/plain" } });
  },
} satisfies ExportedHandler<Env>;
