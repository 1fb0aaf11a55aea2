import { describe, expect, it } from "vitest";
import { originOf } from "../../src/http/send.ts";

describe("originOf", () => {
  // First in the file, so that it meets the last-URL memory empty, as the first call of a page does.
  it("answers an empty URL as the document's own, even as the first URL it is asked about", () => {
    expect(originOf("")).not.toBe("");
    expect(originOf("")).toBe(originOf("/"));
  });

  it("normalises scheme, host case, default ports and credentials", () => {
    expect(originOf("HTTPS://API.Example.com:443/v1?x=1")).toBe("https://api.example.com");
    expect(originOf("http://user:pw@127.0.0.1:8080/a")).toBe("http://127.0.0.1:8080");
  });

  it("gives the same answer from its cache as from a fresh parse", () => {
    const first = originOf("https://cache.example:8443/a?b=c");
    expect(originOf("https://cache.example:8443/other#frag")).toBe(first);
    expect(first).toBe("https://cache.example:8443");
  });

  it("keeps apart URLs that share a prefix but not an authority", () => {
    expect(originOf("https://a.example/x")).toBe("https://a.example");
    expect(originOf("https://a.example.evil/x")).toBe("https://a.example.evil");
  });

  it("resolves a relative URL against the page, and says unknown where there is no page", () => {
    const page = (globalThis as { location?: { origin: string } }).location;
    expect(originOf("not a url")).toBe(page ? page.origin : "unknown");
  });
});
