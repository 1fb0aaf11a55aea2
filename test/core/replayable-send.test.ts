/**
 * What createFetch reads to prepare a body for replay. Under a deadline, reading the call's signal builds it (an
 * AbortController, and a link to a caller's signal): only a body that must be read first needs it.
 */

import { describe, expect, it } from "vitest";
import { replayableSend } from "../../src/http/send.ts";

/** A call context that counts how often its signal is read. */
function countingContext() {
  const context = {
    reads: 0,
    get signal(): AbortSignal | undefined {
      context.reads++;
      return undefined;
    },
  };
  return context;
}

describe("replayableSend", () => {
  it("does not read the call's signal for a request without a body", () => {
    const context = countingContext();
    replayableSend("https://api.example/items", undefined, 1_024, context);
    replayableSend(new Request("https://api.example/items"), { method: "DELETE" }, 1_024, context);
    expect(context.reads).toBe(0);
  });

  it("does not read it for a body sent as given (a string)", () => {
    const context = countingContext();
    replayableSend("https://api.example/items", { method: "PUT", body: "{}" }, 1_024, context);
    expect(context.reads).toBe(0);
  });

  it("reads it for a Request's body, which is read under it before the first attempt", async () => {
    const context = countingContext();
    const request = new Request("https://api.example/items", { method: "PUT", body: "{}" });
    const send = await replayableSend(request, undefined, 1_024, context);
    send.release(true);
    expect(context.reads).toBe(1);
  });
});
