import { afterEach, describe, expect, it } from "vitest";
import { originOf } from "../../src/http/send.ts";

// Node has no `location`; a test DOM (jsdom, happy-dom) installs one, and may change it between tests.
const scope = globalThis as { location?: { href: string } };

describe("originOf without a document, then with one", () => {
  afterEach(() => {
    delete scope.location;
  });

  it("resolves a relative URL against a location that appeared after an earlier lookup", () => {
    expect(originOf("/api/items")).toBe("unknown");
    scope.location = { href: "https://app.example/page" };
    expect(originOf("/api/items")).toBe("https://app.example");
    scope.location = { href: "https://other.example/" };
    expect(originOf("/api/items")).toBe("https://other.example");
  });
});
