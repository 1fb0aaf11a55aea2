import { describe, expect, it } from "vitest";
import { isNetworkError, isNeverSentError, isPermanentFetchError, isTransientError } from "../../src/index.ts";

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

describe("every recognised network message and error code", () => {
  // One row per entry, so that a change in how the lists are written cannot drop one unnoticed.
  const typeErrorMessages = [
    "Failed to fetch",
    "NetworkError when attempting to fetch resource.",
    "Load failed",
    "The network connection was lost.",
    "fetch failed",
    "error sending request for url (https://example.com/)",
    "connection error: connection reset",
    "Network connection lost.",
    "Connection reset by peer",
    "terminated",
  ];
  for (const message of typeErrorMessages) {
    it(`recognises a TypeError saying "${message}", in any case`, () => {
      expect(isNetworkError(new TypeError(message))).toBe(true);
      expect(isNetworkError(new TypeError(message.toUpperCase()))).toBe(true);
      expect(isNetworkError(new TypeError(`prefix: ${message} (suffix)`))).toBe(true);
    });
  }

  it("recognises only the Workers message on an error of another class", () => {
    expect(isNetworkError(new Error("Network connection lost."))).toBe(true);
    for (const message of typeErrorMessages.filter((m) => m !== "Network connection lost.")) {
      expect(isNetworkError(new Error(message))).toBe(false);
    }
  });

  it("does not recognise a message that only resembles one", () => {
    for (const message of ["failed to fetc", "network connection", "load  failed", "connection was lost"]) {
      expect(isNetworkError(new TypeError(message))).toBe(false);
    }
  });

  const codes = [
    "ECONNRESET",
    "ECONNREFUSED",
    "ECONNABORTED",
    "EPIPE",
    "ETIMEDOUT",
    "EAI_AGAIN",
    "ENETUNREACH",
    "EHOSTUNREACH",
    "UND_ERR_SOCKET",
    "UND_ERR_CONNECT_TIMEOUT",
    "UND_ERR_HEADERS_TIMEOUT",
    "UND_ERR_BODY_TIMEOUT",
    "UND_ERR_CLOSED",
  ];
  for (const code of codes) {
    it(`recognises the code ${code}, on the error or in its cause`, () => {
      expect(isNetworkError(Object.assign(new Error("x"), { code }))).toBe(true);
      expect(isNetworkError(new Error("x", { cause: { code } }))).toBe(true);
    });
  }

  it("matches codes exactly: no other case, no prefix or suffix, no non-string code", () => {
    for (const code of ["econnreset", "ECONNRESET2", "XECONNRESET", "ECONN", "UND_ERR", "ECONNRESET\n", 104]) {
      expect(isNetworkError(Object.assign(new Error("x"), { code }))).toBe(false);
    }
    expect(isNetworkError(Object.assign(new Error("x"), { code: { toString: () => "ECONNRESET" } }))).toBe(false);
  });

  it("follows causes at most three levels deep", () => {
    const wrap = (cause: unknown) => new Error("wrapped", { cause });
    expect(isNetworkError(wrap(wrap(wrap({ code: "EPIPE" }))))).toBe(true);
    expect(isNetworkError(wrap(wrap(wrap(wrap({ code: "EPIPE" })))))).toBe(false);
  });
});

describe("failures that no retry cures, and requests that never left", () => {
  // One row per entry of the lists, in each runtime's words (test/fetch/transient-causes.test.ts drives the real ones).
  const permanent: Array<[string, unknown]> = [
    ["undici: a redirect loop", new TypeError("fetch failed", { cause: new Error("redirect count exceeded") })],
    ["undici: an unknown scheme", new TypeError("fetch failed", { cause: new Error("unknown scheme") })],
    ["undici: a blocked port", new TypeError("fetch failed", { cause: new Error("bad port") })],
    [
      "llhttp: a reply that is not HTTP",
      new TypeError("fetch failed", {
        cause: Object.assign(new Error("Expected HTTP/"), { code: "HPE_INVALID_CONSTANT" }),
      }),
    ],
    [
      "undici: a length mismatch",
      new TypeError("fetch failed", { cause: { code: "UND_ERR_REQ_CONTENT_LENGTH_MISMATCH" } }),
    ],
    [
      "Node TLS: a peer that speaks no TLS",
      new TypeError("fetch failed", { cause: { code: "ERR_SSL_WRONG_VERSION_NUMBER" } }),
    ],
    ["Node TLS: a bad certificate", new TypeError("fetch failed", { cause: { code: "DEPTH_ZERO_SELF_SIGNED_CERT" } })],
    ["Deno: a redirect loop", new TypeError("Fetch failed: Maximum number of redirects (20) reached")],
    ["Deno: an unknown scheme", new TypeError("Url scheme 'ftp' not supported")],
    ["Deno: a blocked port", new TypeError("Fetch failed: Requests to port 9 are blocked")],
    [
      "Deno: a stream to redirect",
      new TypeError("Fetch failed: Can not redeliver a streaming request body after a redirect"),
    ],
    [
      "Deno: a reply that is not HTTP",
      new TypeError("fetch failed", {
        cause: new Error("error sending request for url (x): client error (SendRequest): invalid HTTP version parsed"),
      }),
    ],
    [
      "Deno: TLS",
      new TypeError("fetch failed", { cause: new Error("client error (Connect): received corrupt message") }),
    ],
    [
      "Deno: a certificate",
      new TypeError("fetch failed", {
        cause: new Error("client error (Connect): invalid peer certificate: UnknownIssuer"),
      }),
    ],
    ["workerd: a redirect loop", new TypeError("Too many redirects.http://a/, http://a/")],
    ["workerd: an unknown scheme", new TypeError("Fetch API cannot load: ftp://a/")],
    [
      "workerd: a stream to redirect",
      new TypeError("A request with a one-time-use body (it was initialized from a stream)"),
    ],
    ["an invalid URL", new TypeError("Invalid URL: 'http://a b/'")],
    ["Chromium: an invalid URL", new TypeError("Failed to execute 'fetch' on 'Window': Failed to parse URL from x")],
  ];
  for (const [label, error] of permanent) {
    it(`${label} is permanent, not transient`, () => {
      expect(isPermanentFetchError(error)).toBe(true);
      expect(isTransientError(error)).toBe(false);
    });
  }

  it("judges undici's 'fetch failed' by its cause: a cause that is no network failure is not transient", () => {
    expect(isTransientError(new TypeError("fetch failed", { cause: new Error("") }))).toBe(false);
    expect(isTransientError(new TypeError("fetch failed", { cause: { code: "UND_ERR_SOCKET" } }))).toBe(true);
  });

  const neverSent: Array<[string, unknown]> = [
    ["Node: refused", new TypeError("fetch failed", { cause: { code: "ECONNREFUSED" } })],
    ["Node: no such host", new TypeError("fetch failed", { cause: { code: "ENOTFOUND" } })],
    ["Node: DNS for now", new TypeError("fetch failed", { cause: { code: "EAI_AGAIN" } })],
    ["Node: no route", new TypeError("fetch failed", { cause: { code: "EHOSTUNREACH", syscall: "connect" } })],
    ["Node: network down", new TypeError("fetch failed", { cause: { code: "ENETUNREACH", syscall: "connect" } })],
    ["Node: connect timed out", new TypeError("fetch failed", { cause: { code: "ETIMEDOUT", syscall: "connect" } })],
    ["undici: connect timeout", new TypeError("fetch failed", { cause: { code: "UND_ERR_CONNECT_TIMEOUT" } })],
    [
      "Deno: refused",
      new TypeError("fetch failed", {
        cause: new Error("error sending request for url (x): client error (Connect): tcp connect error"),
      }),
    ],
  ];
  for (const [label, error] of neverSent) {
    it(`${label} never left`, () => expect(isNeverSentError(error)).toBe(true));
  }

  it("a reset, a lost route on an open connection, a Workers or a Chromium failure may have left", () => {
    for (const error of [
      new TypeError("fetch failed", { cause: { code: "ECONNRESET" } }),
      new TypeError("fetch failed", { cause: { code: "UND_ERR_SOCKET" } }),
      // An open connection whose host became unreachable: the request may have left.
      new TypeError("fetch failed", { cause: { code: "EHOSTUNREACH", syscall: "read" } }),
      new TypeError("fetch failed", { cause: { code: "ETIMEDOUT", syscall: "write" } }),
      new TypeError("fetch failed", { cause: { code: "ENETUNREACH" } }),
      new Error("Network connection lost."),
      new TypeError("Failed to fetch"),
    ]) {
      expect(isNeverSentError(error)).toBe(false);
    }
  });
});
