import { describe, expect, it } from "vitest";
import { isNetworkError, isTransientError } from "../../src/index.ts";

describe("what counts as transient", () => {
  const network: Array<[string, unknown]> = [
    ["Chromium", new TypeError("Failed to fetch")],
    ["Firefox", new TypeError("NetworkError when attempting to fetch resource.")],
    ["Safari", new TypeError("Load failed")],
    [
      "Node (undici)",
      new TypeError("fetch failed", { cause: Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" }) }),
    ],
    ["Deno", new TypeError("error sending request for url (http://127.0.0.1:1/): client error (Connect)")],
    ["Workers (a TypeError)", new TypeError("Network connection lost.")],
    ["Workers (a plain Error, as workerd throws on a reset)", new Error("Network connection lost.")],
    ["a node:http socket error", Object.assign(new Error("socket hang up"), { code: "ECONNRESET" })],
    ["a refused connection in a cause", new Error("wrapped", { cause: { code: "ECONNREFUSED" } })],
  ];
  for (const [runtime, error] of network) {
    it(`recognises a network failure from ${runtime}`, () => {
      expect(isNetworkError(error)).toBe(true);
      expect(isTransientError(error)).toBe(true);
    });
  }

  it("treats a TimeoutError as transient", () => {
    expect(isTransientError(new DOMException("late", "TimeoutError"))).toBe(true);
  });

  const notTransient: Array<[string, unknown]> = [
    ["a TypeError from a bug", new TypeError("undefined is not a function")],
    ["a ReferenceError", new ReferenceError("x is not defined")],
    ["an AbortError", new DOMException("The operation was aborted.", "AbortError")],
    ["an application error", new Error("insufficient funds")],
    ["a plain Error that merely says fetch failed", new Error("fetch failed")],
    ["a thrown string", "fetch failed"],
    ["undefined", undefined],
  ];
  for (const [label, error] of notTransient) {
    it(`does not treat ${label} as transient`, () => {
      expect(isTransientError(error)).toBe(false);
    });
  }
});
