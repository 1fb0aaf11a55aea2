/**
 * The filter that tells the Worker's unhandled errors from staunch's own retry logs, on log text exactly as
 * wrangler dev 4.156 prints it (captured from Workers that fail on purpose, colours removed).
 */

import { describe, expect, it } from "vitest";
import { findUnhandledErrors } from "./support/wrangler-dev.ts";

const staunchRetry = `▲ [WARNING] staunch: retrying GET https://demo.origin/data?… after Error in 76 ms (attempt 1 of 3, backoff) {

    method: 'GET',
    errorName: 'Error',
    error: Error: Network connection lost.
        at demoOrigin (file:///work/main/worker/demo-origin.ts:49:11)
        at layer (file:///work/main/src/policy.ts:107:19),
    delaySource: 'backoff'
  }
`;

const staunchGiveUp = `✘ [ERROR] staunch: giving up on GET https://demo.origin/data?… after Error (attempt 3, attempts) {

    errorName: 'Error',
    error: Error: Network connection lost.
        at demoOrigin (file:///work/main/worker/demo-origin.ts:49:11),
    reason: 'attempts'
  }
`;

const requestLines = `[wrangler:info] Ready on http://127.0.0.1:43633
[wrangler:info] GET /api/data 200 OK (19ms)
[wrangler:info] GET /api/x 502 Bad Gateway (92ms)
`;

describe("findUnhandledErrors", () => {
  it("ignores request lines and staunch's retry, give-up and breaker logs, error objects included", () => {
    const breaker = `▲ [WARNING] staunch: circuit for https://demo.origin opened; calls fail fast for 10000 ms {\n\n    to: 'open'\n  }\n`;
    expect(findUnhandledErrors([requestLines, staunchRetry, staunchGiveUp, breaker].join("\n"))).toEqual([]);
  });

  it("flags an exception thrown out of the fetch handler", () => {
    const log = `${requestLines}[wrangler:error] Error: boom thrown\n    at Object.fetch (file:///tmp/index.js:4:42)\n[wrangler:info] GET /throw 500 Internal Server Error (59ms)\n`;
    expect(findUnhandledErrors(log)).toEqual([
      "[wrangler:error] Error: boom thrown\n    at Object.fetch (file:///tmp/index.js:4:42)",
    ]);
  });

  it("flags a rejection handed to waitUntil, even right after a staunch log", () => {
    const uncaught = "✘ [ERROR] Uncaught Error: boom in waitUntil \n";
    expect(findUnhandledErrors(`${staunchGiveUp}\n${uncaught}`)).toEqual([
      "✘ [ERROR] Uncaught Error: boom in waitUntil",
    ]);
  });

  it("flags any other console.error and any unhandled-rejection message", () => {
    const log = "✘ [ERROR] cache put failed\n\nUnhandled promise rejection: TypeError: x is not a function\n";
    expect(findUnhandledErrors(log)).toHaveLength(2);
  });
});
