import { describe, expect, it } from "vitest";
import { CircuitOpenError } from "../../src/errors.ts";
import { type FallbackContext, type FallbackEvent, fallback } from "../../src/fallback.ts";
import type { Outcome } from "../../src/outcome.ts";
import { compose } from "../../src/policy.ts";
import { on } from "../../src/telemetry/events.ts";
import { logTo } from "../../src/telemetry/log.ts";
import { timeout } from "../../src/timeout.ts";
import { FakeClock, recorder, settle } from "../support/fake-clock.ts";

const never = () => new Promise<never>(() => {});
const fail = (error: unknown) => () => Promise.reject(error);

/** A Response whose body reports whether anyone cancelled it. */
function trackedResponse(status: number) {
  const state = { cancelled: false };
  const response = new Response(
    new ReadableStream({
      cancel() {
        state.cancelled = true;
      },
    }),
    { status },
  );
  return Object.assign(state, { response });
}

function silentLogger() {
  return { warn: recorder<[string, Record<string, unknown>]>(), error: recorder<[string, Record<string, unknown>]>() };
}

describe("fallback", () => {
  it("returns the operation's value when it succeeds, without calling any hook", async () => {
    const onFallback = recorder<[FallbackEvent]>();
    const logger = silentLogger();
    await expect(
      fallback("default", { telemetry: [on("fallback", onFallback), logTo(logger)] }).execute(() => "fresh"),
    ).resolves.toBe("fresh");
    expect(onFallback.calls).toHaveLength(0);
    expect(logger.warn.calls).toHaveLength(0);
  });

  it("returns the value when the operation throws", async () => {
    await expect(fallback("default").execute(fail(new Error("boom")))).resolves.toBe("default");
  });

  it("returns the value when a timeout inside it expires", async () => {
    const clock = new FakeClock();
    const policy = compose(fallback("stale"), timeout(100, { env: clock }));
    const outcome = clock.run(policy.execute(never));
    expect(await outcome).toBe("stale");
    expect(clock.nowMs - 1_700_000_000_000).toBe(100);
    expect(clock.pendingTimers).toBe(0);
  });

  it("returns the value when a circuit breaker fails fast", async () => {
    await expect(fallback([]).execute(fail(new CircuitOpenError(5_000)))).resolves.toEqual([]);
  });

  it("replaces a result that shouldHandle picks and cancels its body", async () => {
    const tracked = trackedResponse(503);
    const policy = fallback("placeholder", {
      shouldHandle: (o: Outcome<Response>) => o.ok && o.result.status === 503,
    });
    await expect(policy.execute(() => tracked.response)).resolves.toBe("placeholder");
    await settle();
    expect(tracked.cancelled).toBe(true);
  });

  it("returns a result that shouldHandle turns down untouched, body unread", async () => {
    const tracked = trackedResponse(200);
    const policy = fallback("placeholder", {
      shouldHandle: (o: Outcome<Response>) => o.ok && o.result.status === 503,
    });
    const result = await policy.execute(() => tracked.response);
    expect(result).toBe(tracked.response);
    expect(tracked.cancelled).toBe(false);
    expect(tracked.response.bodyUsed).toBe(false);
    await tracked.response.body?.cancel();
  });

  it("does not replace the caller's abort: it rejects with the caller's reason, unlogged", async () => {
    const controller = new AbortController();
    const reason = new Error("user cancelled");
    const onFallback = recorder<[FallbackEvent]>();
    const logger = silentLogger();
    const outcome = fallback("default", { telemetry: [on("fallback", onFallback), logTo(logger)] }).execute(
      ({ signal }) =>
        new Promise((_, reject) => signal?.addEventListener("abort", () => reject(signal.reason), { once: true })),
      controller.signal,
    );
    controller.abort(reason);
    await expect(outcome).rejects.toBe(reason);
    expect(onFallback.calls).toHaveLength(0);
    expect(logger.warn.calls).toHaveLength(0);
  });

  it("rejects at once on the caller's abort even if the operation ignores its signal", async () => {
    const controller = new AbortController();
    const outcome = fallback("default").execute(never, controller.signal);
    controller.abort();
    await expect(outcome).rejects.toMatchObject({ name: "AbortError" });
  });

  it("does not replace the caller's abort even when shouldHandle picks every outcome", async () => {
    const reason = new Error("gone");
    const outcome = fallback("default", { shouldHandle: () => true }).execute(() => {
      throw new Error("unrelated");
    }, AbortSignal.abort(reason));
    await expect(outcome).rejects.toBe(reason);
  });

  it("hands the function the error and the call's signal, and returns what it resolves to", async () => {
    const error = new Error("boom");
    const controller = new AbortController();
    const seen: Array<[unknown, FallbackContext]> = [];
    const policy = fallback(async (e, context) => {
      seen.push([e, context]);
      return "computed";
    });
    await expect(policy.execute(fail(error), controller.signal)).resolves.toBe("computed");
    expect(seen).toHaveLength(1);
    expect(seen[0]?.[0]).toBe(error);
    expect(seen[0]?.[1].signal).toBe(controller.signal);
    expect(seen[0]?.[1].result).toBeUndefined();
  });

  it("hands the function the rejected result when that is why it fell back", async () => {
    const tracked = trackedResponse(503);
    const seen: unknown[] = [];
    const policy = fallback(
      (error, { result }) => {
        seen.push(error, (result as Response).status);
        return "from cache";
      },
      { shouldHandle: (o: Outcome<Response>) => o.ok && o.result.status >= 500 },
    );
    await expect(policy.execute(() => tracked.response)).resolves.toBe("from cache");
    expect(seen).toEqual([undefined, 503]);
  });

  it("returns a function as the value when the function is wrapped", async () => {
    const noop = () => "noop";
    await expect(fallback(() => noop).execute(fail(new Error("boom")))).resolves.toBe(noop);
  });

  it("rethrows an error that shouldHandle turns down, unchanged", async () => {
    const error = new Error("validation failed");
    const policy = fallback("default", { shouldHandle: (o) => !o.ok && o.error instanceof CircuitOpenError });
    await expect(policy.execute(fail(error))).rejects.toBe(error);
  });

  it("hands shouldHandle the outcome and the call's context", async () => {
    const error = new Error("boom");
    const controller = new AbortController();
    const seen: unknown[] = [];
    const policy = fallback("default", {
      shouldHandle: (outcome, context) => {
        seen.push(outcome, context.signal);
        return true;
      },
    });
    await policy.execute(fail(error), controller.signal);
    await policy.execute(() => 1, controller.signal);
    expect(seen).toEqual([{ ok: false, error }, controller.signal, { ok: true, result: 1 }, controller.signal]);
  });

  it("rejects with the error of a throwing shouldHandle, without falling back", async () => {
    const bug = new ReferenceError("predicate bug");
    const onFallback = recorder<[FallbackEvent]>();
    const throwing = () => {
      throw bug;
    };
    await expect(
      fallback(0, { shouldHandle: throwing, telemetry: on("fallback", onFallback) }).execute(fail(new Error("x"))),
    ).rejects.toBe(bug);
    await expect(
      fallback(0, { shouldHandle: throwing, telemetry: on("fallback", onFallback) }).execute(() => 1),
    ).rejects.toBe(bug);
    expect(onFallback.calls).toHaveLength(0);
  });

  it("rejects with the function's own error, unwrapped, when the fallback fails too; its event kept the original", async () => {
    const original = new Error("backend down");
    const cacheMiss = new Error("not in cache");
    const onFallback = recorder<[FallbackEvent]>();
    const policy = fallback(
      () => {
        throw cacheMiss;
      },
      { telemetry: on("fallback", onFallback) },
    );
    await expect(policy.execute(fail(original))).rejects.toBe(cacheMiss);
    expect(onFallback.calls.map(([event]) => event.error)).toEqual([original]);
  });

  it("emits one fallback event, with the error", async () => {
    const error = new Error("boom");
    const onFallback = recorder<[FallbackEvent]>();
    await fallback(0, { telemetry: on("fallback", onFallback) }).execute(fail(error));
    expect(onFallback.calls).toEqual([[{ type: "fallback", reason: "error", error, result: undefined }]]);
  });

  it("gives the reasons of the one FallbackReason set: timeout, circuit-open, error and result", async () => {
    const onFallback = recorder<[FallbackEvent]>();
    const policy = fallback(0, {
      telemetry: on("fallback", onFallback),
      shouldHandle: (o) => !o.ok || o.result === "stale",
    });
    await policy.execute(fail(new DOMException("deadline", "TimeoutError")));
    await policy.execute(fail(new CircuitOpenError(5_000)));
    await policy.execute(fail(new TypeError("fetch failed")));
    await policy.execute(() => "stale");
    expect(onFallback.calls.map(([event]) => event.reason)).toEqual(["timeout", "circuit-open", "error", "result"]);
  });

  it("logs each fallback through logger.warn with a message naming the error", async () => {
    const logger = silentLogger();
    const error = new TypeError("fetch failed");
    await fallback(null, { telemetry: logTo(logger) }).execute(fail(error));
    expect(logger.warn.calls).toHaveLength(1);
    expect(logger.warn.calls[0]?.[0]).toBe("staunch: falling back after TypeError: fetch failed");
    expect(logger.warn.calls[0]?.[1]).toMatchObject({ reason: "error", error });
    expect(logger.error.calls).toHaveLength(0);
  });

  it("names error-like objects and other thrown values in the log message as they are", async () => {
    const thrown: Array<[unknown, string]> = [
      [new RangeError("too far"), "RangeError: too far"],
      [{ name: "ApiError", message: "quota" }, "ApiError: quota"],
      [{ message: "no name" }, "Error: no name"],
      ["a string", "a string"],
      [undefined, "undefined"],
    ];
    for (const [error, described] of thrown) {
      const logger = silentLogger();
      await fallback(null, { telemetry: logTo(logger) }).execute(fail(error));
      expect(logger.warn.calls[0]?.[0]).toBe(`staunch: falling back after ${described}`);
    }
  });

  it("logs a replaced result without a status as picked by shouldHandle", async () => {
    const logger = silentLogger();
    await fallback(null, { telemetry: logTo(logger), shouldHandle: () => true }).execute(() => "stale");
    expect(logger.warn.calls[0]?.[0]).toBe("staunch: falling back after a result that shouldHandle picked");
  });

  it("logs a replaced result with its status", async () => {
    const logger = silentLogger();
    const tracked = trackedResponse(503);
    await fallback(null, {
      telemetry: logTo(logger),
      shouldHandle: (o: Outcome<Response>) => o.ok && !o.result.ok,
    }).execute(() => tracked.response);
    expect(logger.warn.calls[0]?.[0]).toBe("staunch: falling back after a result with status 503");
  });

  it("falls back for the calls of a wrapped function", async () => {
    const load = fallback("guest").wrap(async (id: number) => {
      if (id < 0) throw new RangeError("no such user");
      return `user ${id}`;
    });
    expect(await load(7)).toBe("user 7");
    expect(await load(-1)).toBe("guest");
  });

  it("types what execute returns as the operation's value or the fallback's", async () => {
    const value = await fallback(null).execute(() => "text");
    // @ts-expect-error -- the fallback may have answered null
    const text: string = value;
    expect(text).toBe("text");
  });
});

type Case = [label: string, make: () => unknown, kind: ErrorConstructor, message: RegExp];

const cases: Case[] = [
  ["options not an object", () => fallback(1, 5 as never), TypeError, /fallback: options must be an object, got 5/],
  [
    "misspelt option",
    () => fallback(1, { onFallbak: () => {} } as never),
    TypeError,
    /fallback: unknown option "onFallbak"/,
  ],
  [
    "shouldHandle not a function",
    () => fallback(1, { shouldHandle: true as never }),
    TypeError,
    /fallback: option "shouldHandle" must be a function, got true/,
  ],
  [
    "shouldFallback, a former name",
    () => fallback(1, { shouldFallback: () => true } as never),
    TypeError,
    /fallback: unknown option "shouldFallback" \(known: .*shouldHandle/,
  ],
  [
    "telemetry not a listener",
    () => fallback(1, { telemetry: "log" as never }),
    TypeError,
    /fallback: option "telemetry" must be a listener function or an array of them, got "log"/,
  ],
  [
    "logTo a logger without error",
    () => logTo({ warn: () => {} } as never),
    TypeError,
    /logTo: option "logger" must be an object with warn and error methods/,
  ],
];

describe("fallback: bad options fail at construction", () => {
  for (const [label, make, kind, message] of cases) {
    it(`${label}: ${kind.name}`, () => {
      expect(make).toThrow(kind);
      expect(make).toThrow(message);
    });
  }
});
