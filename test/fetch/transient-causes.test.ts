/**
 * What each runtime's fetch really throws, and what staunch makes of it: the README's table of transient
 * causes, as a test. Every error here is the runtime's own, from a real request to the loopback fault server
 * (or a closed port, or a name that does not resolve); none is made by hand. Runs in Node, workerd, Chromium
 * and Deno, each against its own row.
 */

import { describe, expect, inject, it } from "vitest";
import {
  consecutiveFailures,
  createFetch,
  isCircuitOpenError,
  isNeverSentError,
  isPermanentFetchError,
  isTransientError,
} from "../../src/index.ts";
import { FakeClock } from "../support/fake-clock.ts";
import { scenario } from "../support/scenario.ts";

const server = inject("faultServer");

type Runtime = "node" | "deno" | "workerd" | "chromium";
const runtime: Runtime =
  typeof (globalThis as { Deno?: unknown }).Deno !== "undefined"
    ? "deno"
    : typeof (globalThis as { document?: unknown }).document !== "undefined"
      ? "chromium"
      : globalThis.navigator?.userAgent === "Cloudflare-Workers"
        ? "workerd"
        : "node";

/**
 * `never-sent`: transient, and certain the request never left (retried whatever its method); `transient`:
 * retried when the request may be sent again; `permanent`: never retried, not the origin's failure; `other`:
 * neither retried nor excused (a failure staunch does not recognise); `response`: fetch resolved.
 */
type Verdict = "never-sent" | "transient" | "permanent" | "other" | "response";
type Expected = Verdict | "skip";

async function closedPort(): Promise<string> {
  return (await fetch(`${server}/port/${Date.now()}-${Math.random().toString(36).slice(2)}`)).text();
}

const causes: Array<[string, () => Promise<Response>, Record<Runtime, Expected>]> = [
  [
    "a refused connection (closed port)",
    async () => fetch(`http://127.0.0.1:${await closedPort()}/`),
    { node: "never-sent", deno: "never-sent", workerd: "transient", chromium: "transient" },
  ],
  [
    "a name that does not resolve",
    () => fetch("http://no-such-host.invalid/"),
    // Node's ENOTFOUND is an answer, not a hiccup (EAI_AGAIN is); workerd says only "internal error". Deno's
    // tests may reach only loopback; given the network, it says "client error (Connect): dns error": never-sent.
    { node: "other", deno: "skip", workerd: "other", chromium: "transient" },
  ],
  [
    "a connection reset before the reply",
    () => fetch(scenario(server, "reset").url, { method: "POST", body: "x" }),
    { node: "transient", deno: "transient", workerd: "transient", chromium: "transient" },
  ],
  [
    "a reply that is not HTTP",
    () => fetch(scenario(server, "garbage").url),
    { node: "permanent", deno: "permanent", workerd: "transient", chromium: "transient" },
  ],
  [
    "a redirect loop",
    () => fetch(scenario(server, "302|loc=self").url),
    { node: "permanent", deno: "permanent", workerd: "permanent", chromium: "transient" },
  ],
  [
    "an unsupported scheme",
    () => fetch("ftp://127.0.0.1/file"),
    { node: "permanent", deno: "permanent", workerd: "permanent", chromium: "transient" },
  ],
  [
    "an invalid URL",
    () => fetch("http://exa mple.com:99999/"),
    { node: "permanent", deno: "permanent", workerd: "permanent", chromium: "permanent" },
  ],
  [
    "a body that disagrees with its content-length",
    () => fetch(scenario(server, "200").url, { method: "POST", body: "hello", headers: { "content-length": "9" } }),
    // Only undici checks; Deno and workerd send the body's own length, Chromium drops the forbidden header.
    { node: "permanent", deno: "response", workerd: "response", chromium: "response" },
  ],
];

function verdictOf(error: unknown): Verdict {
  if (isPermanentFetchError(error)) return "permanent";
  if (!isTransientError(error)) return "other";
  return isNeverSentError(error) ? "never-sent" : "transient";
}

describe(`what ${runtime}'s fetch throws, and what staunch makes of it`, () => {
  for (const [cause, send, verdicts] of causes) {
    it.skipIf(verdicts[runtime] === "skip")(`${cause}: ${verdicts[runtime]}`, async () => {
      let verdict: Verdict = "response";
      try {
        await (await send()).arrayBuffer();
      } catch (error) {
        verdict = verdictOf(error);
      }
      expect(verdict).toBe(verdicts[runtime]);
    });
  }
});

const knowsPermanent = runtime !== "chromium";
const knowsNeverSent = runtime === "node" || runtime === "deno";

describe("createFetch retries only what can succeed", () => {
  it.skipIf(!knowsPermanent)(
    "sends a redirect loop's request once per call, and keeps the origin's circuit closed",
    async () => {
      const fetch = createFetch({
        env: new FakeClock().instantSleep(),
        breaker: { strategy: () => consecutiveFailures(1) },
      });
      const loop = scenario(server, "302|loc=self");
      const plainError = await globalThis.fetch(loop.url).catch((e: unknown) => e);
      const plainHits = (await loop.received()).length;
      const first = await fetch(loop.url).catch((e: unknown) => e);
      const second = await fetch(loop.url).catch((e: unknown) => e);
      expect([first, second].map((e) => (e as Error).constructor)).toEqual([
        (plainError as Error).constructor,
        (plainError as Error).constructor,
      ]);
      expect((await loop.received()).length).toBe(3 * plainHits);
      const healthy = await fetch(scenario(server, "200").url);
      expect(healthy.status).toBe(200);
      await healthy.arrayBuffer();
    },
  );

  it.skipIf(runtime === "chromium" || runtime === "workerd")(
    "does not retry a reply that is not HTTP, nor count it against the origin",
    async () => {
      const fetch = createFetch({
        env: new FakeClock().instantSleep(),
        breaker: { strategy: () => consecutiveFailures(1) },
      });
      const s = scenario(server, "garbage");
      const error = await fetch(s.url).catch((e: unknown) => e);
      expect(isCircuitOpenError(error)).toBe(false);
      expect(await s.received()).toHaveLength(1);
      expect(fetch.origins()[0]?.circuit).toBe("closed");
    },
  );

  it(`${knowsNeverSent ? "retries" : "cannot tell, so does not retry"} a POST without a key whose connection was refused`, async () => {
    const id = `${Date.now()}-${Math.random().toString(36).slice(2)}`;
    const port = await (await globalThis.fetch(`${server}/port/${id}`)).text();
    const url = `http://127.0.0.1:${port}/s/${id}?s=201`;
    const fetch = createFetch({
      env: new FakeClock().instantSleep(),
      // The server comes up only after the first attempt was refused.
      beforeRetry: async () => void (await (await globalThis.fetch(`${server}/open/${id}`)).text()),
    });
    const outcome = await fetch(url, { method: "POST", body: "charge once" }).then(
      async (res) => `${res.status} ${await res.text()}`,
      (error: unknown) => (isTransientError(error) ? "network error" : String(error)),
    );
    if (knowsNeverSent) {
      expect(outcome).toBe("201 201 #1");
      const received = (await (await globalThis.fetch(`http://127.0.0.1:${port}/log/${id}`)).json()) as unknown[];
      expect(received).toHaveLength(1);
    } else {
      expect(outcome).toBe("network error");
    }
  });

  it("never retries a POST without a key whose connection dropped after it was sent", async () => {
    const fetch = createFetch({ env: new FakeClock().instantSleep() });
    const s = scenario(server, "reset", "201");
    await expect(fetch(s.url, { method: "POST", body: "x" })).rejects.toSatisfy(isTransientError);
    expect(await s.received()).toHaveLength(1);
  });
});
