/**
 * ky with createFetch as its fetch and its own retries off: what runs where, as the README's ky section says,
 * with the real ky against the loopback fault server.
 */

import ky, { HTTPError } from "ky";
import { describe, expect, inject, it } from "vitest";
import { createFetch, DEFAULT_RETRY_STATUSES } from "../../src/index.ts";
import { FakeClock } from "../support/fake-clock.ts";
import type { ReceivedRequest } from "../support/fault-server.ts";
import { refusedUntilOpen, scenario } from "../support/scenario.ts";

const server = inject("faultServer");
const instant = () => new FakeClock().instantSleep();

describe("ky over createFetch, with ky's retry: 0", () => {
  it("staunch retries; ky's beforeRetry and shouldRetry never run, and its other hooks run once per ky call", async () => {
    const ran: string[] = [];
    const api = ky.create({
      fetch: createFetch({ env: instant() }),
      retry: {
        limit: 0,
        shouldRetry: () => {
          ran.push("ky shouldRetry");
          return true;
        },
      },
      hooks: {
        beforeRequest: [() => void ran.push("ky beforeRequest")],
        beforeRetry: [() => void ran.push("ky beforeRetry")],
        afterResponse: [({ response }) => void ran.push(`ky afterResponse ${response.status}`)],
      },
    });
    const s = scenario(server, "503", "reset", "200");
    expect(await api.get(s.url).text()).toBe("200 #3");
    expect(await s.received()).toHaveLength(3);
    expect(ran).toEqual(["ky beforeRequest", "ky afterResponse 200"]);
  });

  it("ky throws its HTTPError for the response staunch ends with", async () => {
    const api = ky.create({ fetch: createFetch({ env: instant(), attempts: 2 }), retry: 0 });
    const s = scenario(server, "503");
    const error = await api
      .get(s.url)
      .text()
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HTTPError);
    expect((error as HTTPError).response.status).toBe(503);
    expect(await s.received()).toHaveLength(2);
  });

  it("refreshes an expired token before staunch's retry (the README's recipe)", async () => {
    let token = "expired";
    const refreshToken = async (): Promise<string> => {
      token = "fresh";
      return token;
    };
    const api = ky.create({
      fetch: createFetch({
        env: instant(),
        retryStatuses: [...DEFAULT_RETRY_STATUSES, 401],
        beforeRetry: async ({ response, headers }) => {
          if (response?.status === 401) headers.set("authorization", `Bearer ${await refreshToken()}`);
        },
      }),
      retry: 0,
      hooks: { beforeRequest: [({ request }) => request.headers.set("authorization", `Bearer ${token}`)] },
    });
    const s = scenario(server, "401", "200");
    expect(await api.get(s.url).text()).toBe("200 #2");
    const later = scenario(server, "200");
    await api.get(later.url).text();
    const seen = [...(await s.received()), ...(await later.received())].map((r) => r.headers.authorization);
    expect(seen).toEqual(["Bearer expired", "Bearer fresh", "Bearer fresh"]);
  });

  it("replays ky's JSON body for a POST with an Idempotency-Key, and sends a POST without one once", async () => {
    const api = ky.create({ fetch: createFetch({ env: instant() }), retry: 0 });
    const keyed = scenario(server, "503", "201");
    await api.post(keyed.url, { json: { id: 7 }, headers: { "idempotency-key": "k" } }).text();
    const bodies = (await keyed.received()).map((r) => Buffer.from(r.bodyBase64, "base64").toString());
    expect(bodies).toEqual(['{"id":7}', '{"id":7}']);
    const unkeyed = scenario(server, "503", "201");
    await expect(api.post(unkeyed.url, { json: { id: 8 } }).text()).rejects.toBeInstanceOf(HTTPError);
    expect(await unkeyed.received()).toHaveLength(1);
  });
});

describe("ky over createFetch: a POST without a key whose connection was refused (ky#692)", () => {
  /** What the server saw of each request: its method, body, and the headers that frame and type it. */
  const seen = (received: ReceivedRequest[]) =>
    received.map((r) => ({
      method: r.method,
      body: atob(r.bodyBase64),
      contentType: r.headers["content-type"],
      contentLength: r.headers["content-length"],
      transferEncoding: r.headers["transfer-encoding"],
    }));
  /** What ky alone sends for `post`, to a server that is up. */
  async function asKySendsIt(post: (api: typeof ky, url: string) => Promise<unknown>) {
    const s = scenario(server, "201");
    await post(ky.create({ retry: 0 }), s.url);
    return seen(await s.received());
  }
  /** Sends `post` through ky and createFetch to a port that opens only after the first attempt was refused. */
  async function refusedThenOpen(post: (api: typeof ky, url: string) => Promise<unknown>) {
    const target = await refusedUntilOpen(server, "201");
    const api = ky.create({ retry: 0, fetch: createFetch({ env: instant(), beforeRetry: () => target.open() }) });
    await post(api, target.url);
    return seen(await target.received());
  }

  it("is sent again, with the same body, headers and content-length", async () => {
    const post = (api: typeof ky, url: string) => api.post(url, { json: { id: 1, note: "ünïcödé" } }).text();
    const received = await refusedThenOpen(post);
    expect(received).toEqual(await asKySendsIt(post));
    expect(received[0]?.contentLength).toBeDefined();
  });

  it("is sent again with FormData's own boundary and bytes", async () => {
    const form = new FormData();
    form.append("name", "staunch");
    form.append("file", new Blob(["file contents"], { type: "text/plain" }), "a.txt");
    const [received, ...more] = await refusedThenOpen((api, url) => api.post(url, { body: form }).text());
    expect(more).toEqual([]);
    const boundary = received?.contentType?.match(/boundary=(.+)$/)?.[1];
    expect(received?.body).toContain(`--${boundary}\r\nContent-Disposition: form-data; name="name"`);
    expect(received?.body).toContain("file contents");
    expect(received?.contentLength).toBe(String(new TextEncoder().encode(received?.body).byteLength));
  });

  it("is sent again chunked, as ky streams a body whose upload progress it reports", async () => {
    const post = (api: typeof ky, url: string) => api.post(url, { json: { id: 2 }, onUploadProgress: () => {} }).text();
    const received = await refusedThenOpen(post);
    expect(received).toEqual(await asKySendsIt(post));
    expect(received[0]?.transferEncoding).toBe("chunked");
  });
});
