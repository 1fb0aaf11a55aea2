import { SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";

describe("in workerd", () => {
  it("really runs in workerd", () => {
    expect(navigator.userAgent).toBe("Cloudflare-Workers");
  });

  it("the sample Worker answers", async () => {
    // The demo's dashboard exists on this machine only: asked by a loopback address.
    const res = await SELF.fetch("http://127.0.0.1:8787/");
    expect(await res.text()).toMatch("staunch");
  });
});
