/**
 * createFetch is fetch where it does not retry. Each case sends the same request through the runtime's own
 * `fetch` and through createFetch — with `attempts: 1`, and with the defaults for a POST without an
 * Idempotency-Key — against the loopback fault server, and compares what a caller and the server see:
 * status and body, or the error's class; the bytes, method and framing (`transfer-encoding`,
 * `content-length`) the server received; and the time to settle, within a margin (a comparison, not a
 * deadline). Written once; runs in Node, workerd, Chromium and Deno, each with its own fetch's behaviour.
 */

import { describe, expect, inject, it } from "vitest";
import { createFetch, replayStreams } from "../../src/index.ts";
import { FakeClock } from "../support/fake-clock.ts";
import { scenario } from "../support/scenario.ts";

const server = inject("faultServer");
const inBrowser = typeof (globalThis as { document?: unknown }).document !== "undefined";
/** A hang, not scheduling noise: the cases settle in milliseconds, and createFetch once hung for 10 s. */
const SETTLE_MARGIN_MS = 1_500;

type Body = () => BodyInit;
const text = "name=staunch&note=ünïcödé ☃";
const bytes = () => new TextEncoder().encode(text);
const form = () => {
  const data = new FormData();
  data.append("name", "staunch");
  data.append("file", new Blob(["file contents"], { type: "text/plain" }), "a.txt");
  return data;
};
const stream = () => new Blob([text]).stream();
const bodies: Array<[string, Body]> = [
  ["a string", () => text],
  ["a Uint8Array", bytes],
  ["an ArrayBuffer", () => bytes().buffer],
  ["a Blob", () => new Blob([text])],
  ["URLSearchParams", () => new URLSearchParams({ name: "staunch", note: "ünïcödé" })],
  ["FormData", form],
  ["a ReadableStream", stream],
];

interface Case {
  /** Fault-server steps, or `closed` for a port where nothing listens. */
  readonly steps: readonly string[] | "closed";
  /** The request, for a URL: fetch's two arguments. */
  readonly request: (url: string) => [RequestInfo | URL, RequestInit | undefined];
}

interface Outcome {
  readonly status: number | undefined;
  readonly body: string | undefined;
  readonly error: string | undefined;
  readonly received: Array<{
    method: string;
    bytes: number;
    /** The body's hash, but for FormData, whose boundary is drawn anew by each send. */
    sha256: string | undefined;
    transferEncoding: string | undefined;
    contentLength: string | undefined;
  }>;
  readonly settledMs: number;
}

async function closedPortUrl(): Promise<{ url: string; received: () => Promise<[]> }> {
  const port = await (await fetch(`${server}/port/${Date.now()}-${Math.random().toString(36).slice(2)}`)).text();
  return { url: `http://127.0.0.1:${port}/s/closed`, received: async () => [] };
}

async function outcomeOf(fetchImpl: typeof fetch, c: Case, isForm: boolean): Promise<Outcome> {
  const target = c.steps === "closed" ? await closedPortUrl() : scenario(server, ...c.steps);
  const [input, init] = c.request(target.url);
  const started = Date.now();
  let status: number | undefined;
  let body: string | undefined;
  let error: string | undefined;
  let settledMs = 0;
  try {
    const res = await fetchImpl(input, init);
    settledMs = Date.now() - started;
    status = res.status;
    body = await res.text();
  } catch (e) {
    settledMs ||= Date.now() - started;
    error = `${(e as Error)?.constructor?.name}/${(e as Error)?.name}`;
  }
  const received = (await target.received()).map((r) => ({
    method: r.method,
    bytes: r.bodyBytes,
    sha256: isForm ? undefined : r.bodySha256,
    transferEncoding: r.headers["transfer-encoding"],
    contentLength: r.headers["content-length"],
  }));
  return { status, body, error, received, settledMs };
}

/** Compares the runtime's fetch with `through` on one case; returns both outcomes. */
async function expectSameAsFetch(through: typeof fetch, c: Case, isForm = false): Promise<void> {
  const plain = await outcomeOf(globalThis.fetch.bind(globalThis), c, isForm);
  const staunch = await outcomeOf(through, c, isForm);
  const { settledMs: plainMs, ...plainSeen } = plain;
  const { settledMs: staunchMs, ...staunchSeen } = staunch;
  expect(staunchSeen).toEqual(plainSeen);
  expect(Math.abs(staunchMs - plainMs)).toBeLessThan(SETTLE_MARGIN_MS);
}

const oneAttempt = () => createFetch({ attempts: 1 });
/** The defaults, but for backoff sleeps, which are instant: a refused POST may be retried (it never left). */
const defaults = () => createFetch({ env: new FakeClock().instantSleep() });
/** The defaults with the layer that sends a streamed body again. */
const replaying = () => createFetch({ env: new FakeClock().instantSleep(), replayStreams });

const post =
  (body: Body, headers?: HeadersInit) =>
  (url: string): [RequestInfo | URL, RequestInit] => [
    url,
    { method: "POST", body: body(), headers, ...(body === stream && { duplex: "half" }) } as RequestInit,
  ];

const cases: Array<[string, Case, { form?: boolean; post?: boolean }]> = [
  ["a GET answered 200", { steps: ["200"], request: (url) => [url, undefined] }, {}],
  ["a redirect loop", { steps: ["302|loc=self"], request: (url) => [url, undefined] }, {}],
  ["a POST whose redirect loops", { steps: ["307|loc=self"], request: post(() => text) }, { post: true }],
  ["a reply that is not HTTP", { steps: ["garbage"], request: (url) => [url, undefined] }, {}],
  ["a POST answered with bytes that are not HTTP", { steps: ["garbage"], request: post(() => text) }, { post: true }],
  ["a GET to a closed port", { steps: "closed", request: (url) => [url, undefined] }, {}],
  ["a POST to a closed port", { steps: "closed", request: post(() => text) }, { post: true }],
  ["an unsupported scheme", { steps: ["200"], request: () => ["ftp://127.0.0.1/file", undefined] }, {}],
  ["an invalid URL", { steps: ["200"], request: () => ["http://exa mple.com:99999/", undefined] }, {}],
  [
    "a Request whose body disagrees with its content-length",
    {
      steps: ["200"],
      request: (url) => [
        new Request(url, { method: "POST", body: "hello", headers: { "content-length": "0" } }),
        undefined,
      ],
    },
    { post: true },
  ],
  [
    "a PUT Request whose body disagrees with its content-length (sent again if it could be)",
    {
      steps: ["200"],
      request: (url) => [
        new Request(url, { method: "PUT", body: "hello", headers: { "content-length": "0" } }),
        undefined,
      ],
    },
    { post: true },
  ],
  [
    "a server that answers before reading a large upload",
    { steps: ["200|early=1"], request: post(() => new Uint8Array(32_000).fill(120)) },
    { post: true },
  ],
  [
    "a POST with a Request with a body, redirected by 307",
    {
      steps: ["307|loc=self", "200"],
      request: (url) => [new Request(url, { method: "POST", body: text, headers: { "x-kept": "yes" } }), undefined],
    },
    { post: true },
  ],
];
for (const status of ["307", "308"]) {
  for (const [label, body] of bodies) {
    cases.push([
      `a POST with ${label}, redirected by ${status}`,
      { steps: [`${status}|loc=self`, "200"], request: post(body) },
      { form: body === form, post: true },
    ]);
  }
}

describe("createFetch with attempts: 1 is the runtime's fetch", () => {
  for (const [name, c, { form: isForm }] of cases) {
    it(name, () => expectSameAsFetch(oneAttempt(), c, isForm), 30_000);
  }
});

describe("createFetch with its defaults, for a POST without an Idempotency-Key (and a PUT that fails for good), is the runtime's fetch", () => {
  for (const [name, c, { form: isForm, post: isPost }] of cases) {
    if (isPost) it(name, () => expectSameAsFetch(defaults(), c, isForm), 30_000);
  }
});

describe("createFetch streams an upload as the caller made it", () => {
  /** The pull under way of each slow stream: a test ends when none is, or Deno reports a leaked timer. */
  const pulling = new Set<Promise<unknown>>();
  /** 20 chunks, 30 ms apart: a stream that a read-it-all-first client would take 600 ms to send. */
  const slowStream = () => {
    let sent = 0;
    return new ReadableStream<Uint8Array>({
      pull(controller) {
        const pull = new Promise((resolve) => setTimeout(resolve, 30)).then(() => {
          if (sent++ < 20) controller.enqueue(new Uint8Array(1_000).fill(97));
          else controller.close();
        });
        pulling.add(pull);
        return pull.finally(() => pulling.delete(pull));
      },
    });
  };
  const slowUpload = (steps: string[], method = "POST"): Case => ({
    steps,
    request: (url) => [url, { method, body: slowStream(), duplex: "half" } as RequestInit],
  });
  const quiet = async () => {
    while (pulling.size > 0) await Promise.allSettled(pulling);
  };

  it.skipIf(inBrowser)(
    "chunked, as the caller made it",
    async () => {
      await expectSameAsFetch(defaults(), slowUpload(["200"]));
      await quiet();
    },
    30_000,
  );

  it.skipIf(inBrowser)(
    "answered by a server that does not wait for the whole upload",
    async () => {
      await expectSameAsFetch(defaults(), slowUpload(["200|early=1"]));
      await quiet();
    },
    30_000,
  );

  // A PUT may be sent again: its stream is copied as the first attempt sends it, never read ahead of it.
  it.skipIf(inBrowser)(
    "a PUT that may be sent again: chunked, as the caller made it",
    async () => {
      await expectSameAsFetch(replaying(), slowUpload(["200"], "PUT"));
      await quiet();
    },
    30_000,
  );

  it.skipIf(inBrowser)(
    "a PUT that may be sent again, answered before the upload ends",
    async () => {
      await expectSameAsFetch(replaying(), slowUpload(["200|early=1"], "PUT"));
      await quiet();
    },
    30_000,
  );
});

describe("a request that may be sent again is replayed byte for byte, redirects included", () => {
  // Two attempts: the retry's redirect must succeed, not be papered over by a third attempt.
  const twoAttempts = () => createFetch({ attempts: 2, env: new FakeClock().instantSleep(), replayStreams });
  for (const [label, body] of bodies) {
    it.skipIf(inBrowser && body === stream)(`${label}: 503, then 307, then 200`, async () => {
      const fetch = twoAttempts();
      const s = scenario(server, "503", "307|loc=self", "200");
      const [input, init] = post(body, { "idempotency-key": "k-1" })(s.url);
      const res = await fetch(input, init);
      expect([res.status, await res.text()]).toEqual([200, "200 #3"]);
      const received = await s.received();
      expect(received).toHaveLength(3);
      expect(new Set(received.map((r) => r.bodySha256)).size).toBe(1);
      expect(new Set(received.map((r) => r.headers["content-type"])).size).toBe(1);
      expect(received[0]?.bodyBytes).toBeGreaterThan(0);
    });
  }

  it.skipIf(inBrowser)("a ReadableStream cut off mid-upload: the retry sends the copy and then the rest", async () => {
    const fetch = twoAttempts();
    const s = scenario(server, "reset|early=1", "200");
    let sent = 0;
    const chunks = new ReadableStream<Uint8Array>({
      async pull(controller) {
        await new Promise((resolve) => setTimeout(resolve, 5));
        if (sent < 10) controller.enqueue(new TextEncoder().encode(`chunk ${sent++};`));
        else controller.close();
      },
    });
    const res = await fetch(s.url, { method: "PUT", body: chunks, duplex: "half" } as RequestInit);
    expect([res.status, await res.text()]).toEqual([200, "200 #2"]);
    const received = await s.received();
    const whole = Array.from({ length: 10 }, (_, i) => `chunk ${i};`).join("");
    expect(received.map((r) => atob(r.bodyBase64)).at(-1)).toBe(whole);
  });

  it("a Request with a body: 503, then 307, then 200", async () => {
    const fetch = twoAttempts();
    const s = scenario(server, "503", "307|loc=self", "200");
    const res = await fetch(new Request(s.url, { method: "PUT", body: text, headers: { "x-kept": "yes" } }));
    expect([res.status, await res.text()]).toEqual([200, "200 #3"]);
    const received = await s.received();
    expect(received.map((r) => [r.method, r.headers["x-kept"], r.bodySha256])).toEqual(
      Array.from({ length: 3 }, () => ["PUT", "yes", received[0]?.bodySha256]),
    );
  });
});
