/**
 * What the fetch that createFetch wraps receives: on every attempt, a request it can read, and every `init`
 * field the caller gave; with one attempt, the caller's very `input` and `init`. And `beforeRetry`, which
 * changes the request between attempts. Runs in Node, workerd, Chromium and Deno.
 */

import { describe, expect, inject, it } from "vitest";
import { consecutiveFailures, createFetch, type FetchFunction, replayStreams } from "../../src/index.ts";
import { FakeClock } from "../support/fake-clock.ts";
import { scenario } from "../support/scenario.ts";

const server = inject("faultServer");
const inBrowser = typeof (globalThis as { document?: unknown }).document !== "undefined";

/** A wrapper that reads each attempt's body, as a request-signing or logging wrapper does, then sends it. */
function readingFetch() {
  const seen: Array<{ body: string; init: RequestInit | undefined; inputUnread: boolean }> = [];
  const fetchImpl: FetchFunction = async (input, init) => {
    // A test double often reads a Request it is given as it is: it must not have been read already.
    const inputUnread = !(input instanceof Request && input.bodyUsed);
    const request = new Request(input, init);
    seen.push({ body: await request.clone().text(), init, inputUnread });
    return globalThis.fetch(request);
  };
  return { fetchImpl, seen };
}

const text = "amount=42&note=ünïcödé";
const bodies: Array<[string, () => BodyInit | Request, boolean?]> = [
  ["a string", () => text],
  ["a Uint8Array", () => new TextEncoder().encode(text)],
  ["a Blob", () => new Blob([text])],
  ["URLSearchParams", () => new URLSearchParams({ amount: "42", note: "ünïcödé" })],
  ["FormData", () => formOf(text)],
  ["a ReadableStream", () => new Blob([text]).stream(), true],
  ["a Request with a body", () => new Request("http://placeholder.invalid/", { method: "PUT", body: text })],
];
function formOf(value: string): FormData {
  const form = new FormData();
  form.append("note", value);
  return form;
}

describe("the wrapped fetch", () => {
  for (const [label, make, isStream] of bodies) {
    it.skipIf(inBrowser && isStream)(`can read the body of every attempt: ${label}`, async () => {
      const { fetchImpl, seen } = readingFetch();
      const fetch = createFetch({ fetch: fetchImpl, env: new FakeClock().instantSleep(), replayStreams });
      const s = scenario(server, "503", "503", "200");
      const body = make();
      const res =
        body instanceof Request
          ? await fetch(new Request(s.url, body))
          : await fetch(s.url, { method: "PUT", body, ...(isStream && { duplex: "half" }) } as RequestInit);
      expect(res.status).toBe(200);
      await res.arrayBuffer();
      expect(seen).toHaveLength(3);
      expect(seen.map((attempt) => attempt.inputUnread)).toEqual([true, true, true]);
      expect(new Set(seen.map((attempt) => attempt.body)).size).toBe(1);
      expect(seen[0]?.body).toMatch(label === "URLSearchParams" ? "amount=42" : "42");
      const received = await s.received();
      expect(new Set(received.map((r) => r.bodySha256)).size).toBe(1);
    });
  }

  it("gets the caller's own input and init with one attempt, but for the signal", async () => {
    const calls: Array<[RequestInfo | URL, RequestInit | undefined]> = [];
    const fetch = createFetch({
      attempts: 1,
      fetch: async (input, init) => {
        calls.push([input, init]);
        return new Response("ok");
      },
    });
    const body = new ReadableStream<Uint8Array>();
    const request = new Request("https://api.example.com/upload", { method: "POST", headers: { "x-a": "1" } });
    const init = { body, duplex: "half", priority: "high", custom: { kept: true } } as RequestInit;
    await fetch(request, init);
    const [input, given] = calls[0] ?? [];
    expect(input).toBe(request);
    expect(given?.body).toBe(body);
    expect(body.locked).toBe(false); // unread: the wrapped fetch streams it
    expect({ ...given, signal: undefined }).toEqual({ ...init, signal: undefined });
    expect(given?.signal).toBeInstanceOf(AbortSignal);
  });

  it("gets every init field the caller gave, known or not, on every attempt", async () => {
    const inits: Array<RequestInit | undefined> = [];
    const dispatcher = { dispatch: () => true };
    const fetch = createFetch({
      env: new FakeClock().instantSleep(),
      fetch: async (_input, init) => {
        inits.push(init);
        return new Response("", { status: inits.length < 3 ? 503 : 200 });
      },
    });
    const fields = {
      priority: "high",
      cache: "no-store",
      keepalive: false,
      integrity: "",
      referrerPolicy: "no-referrer",
      cf: { cacheTtl: 5 },
      dispatcher,
      next: { revalidate: 10 },
    };
    const form = formOf("x");
    await fetch("https://api.example.com/items", { method: "PUT", body: form, ...fields } as RequestInit);
    expect(inits).toHaveLength(3);
    for (const init of inits) expect(init).toMatchObject(fields);
    expect(inits.map((init) => (init as { dispatcher?: unknown }).dispatcher === dispatcher)).toEqual([
      true,
      true,
      true,
    ]);
  });
});

describe("beforeRetry", () => {
  it("changes the headers of the retry and of every later attempt (a refreshed token)", async () => {
    let token = "expired";
    const fetch = createFetch({
      env: new FakeClock().instantSleep(),
      attempts: 3,
      retryStatuses: [401, 503],
      beforeRetry: ({ response, headers }) => {
        if (response?.status === 401) {
          token = "fresh";
          headers.set("authorization", `Bearer ${token}`);
        }
      },
    });
    const s = scenario(server, "401", "503", "200");
    const res = await fetch(s.url, { headers: { authorization: "Bearer expired", "x-kept": "yes" } });
    expect(res.status).toBe(200);
    await res.arrayBuffer();
    const received = await s.received();
    expect(received.map((r) => [r.headers.authorization, r.headers["x-kept"]])).toEqual([
      ["Bearer expired", "yes"],
      ["Bearer fresh", "yes"],
      ["Bearer fresh", "yes"],
    ]);
  });

  it("sees the attempt about to be sent, the previous outcome and the request", async () => {
    const seen: string[] = [];
    const fetch = createFetch({
      env: new FakeClock().instantSleep(),
      beforeRetry: ({ attempt, response, error, request }) => {
        seen.push(`${request.method} ${attempt} ${response?.status ?? (error as Error).constructor.name}`);
      },
    });
    const s = scenario(server, "503", "reset", "200");
    await (await fetch(s.url, { method: "DELETE" })).arrayBuffer();
    expect(seen).toHaveLength(2);
    expect(seen[0]).toBe("DELETE 2 503");
    expect(seen[1]).toMatch(/^DELETE 3 (TypeError|Error)$/); // workerd's reset is a plain Error
  });

  it("keeps a FormData body's content-type (its boundary) when it changes headers", async () => {
    const fetch = createFetch({
      env: new FakeClock().instantSleep(),
      beforeRetry: ({ headers }) => headers.set("x-signature", "re-signed"),
    });
    const s = scenario(server, "503", "200");
    await (await fetch(s.url, { method: "PUT", body: formOf("signed"), headers: { "x-a": "1" } })).arrayBuffer();
    const [first, second] = await s.received();
    expect(second?.headers["content-type"]).toBe(first?.headers["content-type"]);
    expect(second?.headers["x-signature"]).toBe("re-signed");
    expect(second?.bodySha256).toBe(first?.bodySha256);
  });

  it("ends the call with what it throws, unretried, and not against the origin", async () => {
    const failure = new TypeError("fetch failed"); // looks transient: must still end the call
    let calls = 0;
    const fetch = createFetch({
      env: new FakeClock().instantSleep(),
      attempts: 5,
      // One failed call would open it: the call counts once, and the hook's failure is not the origin's.
      breaker: { strategy: () => consecutiveFailures(1) },
      beforeRetry: () => {
        calls++;
        throw failure;
      },
    });
    const t = scenario(server, "503");
    await expect(fetch(t.url)).rejects.toBe(failure);
    expect(calls).toBe(1);
    expect(await t.received()).toHaveLength(1);
    expect(fetch.origins()[0]?.circuit).toBe("closed");
  });
});
