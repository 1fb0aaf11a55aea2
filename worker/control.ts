/**
 * Who may use the sample Worker's control endpoints (`/__staunch/*`: the state view, reset, the demo's
 * outage) and its dashboard. They can close the fleet's circuits and show what others asked for, so:
 * - with `CONTROL_SECRET` set (a `wrangler secret`), only a request with `Authorization: Bearer <secret>`;
 * - without it, nobody when the Worker proxies a real upstream; with the built-in demo origin, anybody who
 *   asks it by a loopback address (`npm start` on this machine), and nobody once it is deployed;
 * - never a request sent by another site's page: a browser marks those (`Sec-Fetch-Site`, `Origin`).
 */

/** How a control request is answered. */
export type ControlAccess = "open" | "off" | "unauthorized" | "cross-site";

/**
 * Whether a request may use the control endpoints. `secret` is the configured one (empty or missing: none);
 * `demo` whether the Worker runs on the built-in demo origin.
 */
export async function controlAccess(
  request: Request,
  secret: string | undefined,
  demo: boolean,
): Promise<ControlAccess> {
  if (!controlsOn(request, secret, demo)) return "off";
  if (isCrossSite(request)) return "cross-site";
  if (!secret) return "open";
  const presented = /^Bearer +(\S+)\s*$/i.exec(request.headers.get("authorization") ?? "")?.[1];
  return presented !== undefined && (await sameSecret(presented, secret)) ? "open" : "unauthorized";
}

/**
 * Whether the control endpoints and the dashboard exist for this request: with a secret, or for the demo
 * asked on this machine. A deployed Worker is asked by its own host names only, never `localhost`; and a page
 * of another site that a DNS record points at 127.0.0.1 (DNS rebinding) is asked by that site's name.
 */
export function controlsOn(request: Request, secret: string | undefined, demo: boolean): boolean {
  if (secret) return true;
  return demo && LOOPBACK.test(new URL(request.url).hostname);
}

const LOOPBACK = /^(?:localhost|127(?:\.\d{1,3}){3}|\[::1\])$/;

/** The answer to a request that may not use the control endpoints, by why. */
export function refusal(access: Exclude<ControlAccess, "open">): Response {
  if (access === "off") return new Response("Not found.\n", { status: 404 });
  if (access === "cross-site") return new Response("Cross-site requests are refused.\n", { status: 403 });
  return new Response("Unauthorized: send Authorization: Bearer <CONTROL_SECRET>.\n", {
    status: 401,
    headers: { "www-authenticate": 'Bearer realm="staunch"' },
  });
}

/**
 * A request another site's page made: the browser says so in `Sec-Fetch-Site`, or in an `Origin` that is not
 * this Worker's. Tools such as curl send neither, and are let through to the secret check.
 */
function isCrossSite(request: Request): boolean {
  const site = request.headers.get("sec-fetch-site");
  if (site !== null && site !== "same-origin" && site !== "none") return true;
  const origin = request.headers.get("origin");
  return origin !== null && origin !== new URL(request.url).origin;
}

/**
 * Compares two secrets in constant time: both are hashed first, so neither their lengths nor the position of
 * the first difference shows in how long the comparison takes.
 */
async function sameSecret(presented: string, secret: string): Promise<boolean> {
  const encoder = new TextEncoder();
  const [a, b] = await Promise.all([
    crypto.subtle.digest("SHA-256", encoder.encode(presented)),
    crypto.subtle.digest("SHA-256", encoder.encode(secret)),
  ]);
  const x = new Uint8Array(a);
  const y = new Uint8Array(b);
  let difference = 0;
  for (let i = 0; i < x.length; i++) difference |= (x[i] ?? 0) ^ (y[i] ?? 0);
  return difference === 0;
}
