/**
 * ky with createFetch as its fetch and its own retries off: what runs where, as the README's ky section says,
 * with the real ky against the loopback fault server.
 */

import ky, { HTTPError } from "ky";
import { describe, expect, inject, it } from "vitest";
import { createFetch, DEFAULT_RETRY_STATUSES } from "../../src/index.ts";
import { FakeClock } from "../support/fake-clock.ts";
import { scenario } from "../support/scenario.ts";

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
