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
import { runtimeTellsNeverSent } from "../../src/transient.ts";
import { FakeClock } from "../support/fake-clock.ts";
import type { ReceivedRequest } from "../support/fault-server.ts";
import { refusedUntilOpen, scenario } from "../support/scenario.ts";

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

describe("which runtimes keep a Request's body for a retry of a request that never left", () => {
  // Where the runtime cannot say so, createFetch keeps no copy: every keyless POST would pay for nothing.
  it(`${knowsNeverSent ? "keeps it" : "keeps none"} in ${runtime}`, () => {
    expect(runtimeTellsNeverSent()).toBe(knowsNeverSent);
  });
});

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
    const target = await refusedUntilOpen(server, "201");
    const fetch = createFetch({
      env: new FakeClock().instantSleep(),
      // The server comes up only after the first attempt was refused.
      beforeRetry: () => target.open(),
    });
    const outcome = await fetch(target.url, { method: "POST", body: "charge once" }).then(
      async (res) => `${res.status} ${await res.text()}`,
      (error: unknown) => (isTransientError(error) ? "network error" : String(error)),
    );
    if (knowsNeverSent) {
      expect(outcome).toBe("201 201 #1");
      expect(await target.received()).toHaveLength(1);
    } else {
      expect(outcome).toBe("network error");
    }
  });

  describe("a POST Request without a key (as ky sends it) whose connection was refused", () => {
    const json = JSON.stringify({ id: 1, note: "ünïcödé ☃" });
    const order = (url: string) =>
      new Request(url, { method: "POST", body: json, headers: { "content-type": "application/json" } });
    /** What the server saw of each request: all but the body's framing is what the runtime's fetch decides. */
    const seen = (received: ReceivedRequest[]) =>
      received.map((r) => ({
        method: r.method,
        sha256: r.bodySha256,
        contentType: r.headers["content-type"],
        contentLength: r.headers["content-length"],
        transferEncoding: r.headers["transfer-encoding"],
      }));
    /** Sends `order` through createFetch to a port that opens after the first attempt, counting attempts. */
    async function refusedThenOpen(...steps: string[]) {
      const target = await refusedUntilOpen(server, ...steps);
      let attempts = 0;
      const fetch = createFetch({
        env: new FakeClock().instantSleep(),
        fetch: (input, init) => {
          attempts++;
          return globalThis.fetch(input, init);
        },
        beforeRetry: () => target.open(),
      });
      const outcome = await fetch(order(target.url)).then(
        async (res) => `${res.status} ${await res.text()}`,
        (error: unknown) => (isTransientError(error) ? "network error" : String(error)),
      );
      // A port never opened (the runtime could not tell, so nothing was retried) has no log to read.
      return { outcome, attempts, received: async () => seen(await target.received()) };
    }
    /** What the runtime's own fetch sends for `order`, the same request to a server that is up. */
    async function asFetchSendsIt(...steps: string[]) {
      const s = scenario(server, ...steps);
      await (await globalThis.fetch(order(s.url))).arrayBuffer();
      return seen(await s.received());
    }

    it(`${knowsNeverSent ? "is sent again with the same bytes, headers and framing" : "is sent once: the runtime cannot tell"}`, async () => {
      const { outcome, attempts, received } = await refusedThenOpen("201");
      if (knowsNeverSent) {
        expect([outcome, attempts]).toEqual(["201 201 #1", 2]);
        expect(await received()).toEqual(await asFetchSendsIt("201"));
      } else {
        expect([outcome, attempts]).toEqual(["network error", 1]);
      }
    });

    it.skipIf(!knowsNeverSent)("is sent again such that it follows a 307, as the original would", async () => {
      const { outcome, received } = await refusedThenOpen("307|loc=self", "201");
      expect(outcome).toBe("201 201 #2");
      expect(await received()).toEqual(await asFetchSendsIt("307|loc=self", "201"));
    });
  });

  it("never retries a POST without a key whose connection dropped after it was sent", async () => {
    const fetch = createFetch({ env: new FakeClock().instantSleep() });
    const s = scenario(server, "reset", "201");
    await expect(fetch(s.url, { method: "POST", body: "x" })).rejects.toSatisfy(isTransientError);
    expect(await s.received()).toHaveLength(1);
  });
});
