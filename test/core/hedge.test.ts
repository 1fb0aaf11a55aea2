import { describe, expect, it } from "vitest";
import { type HedgeEvent, hedge } from "../../src/hedge.ts";
import type { PolicyContext } from "../../src/policy.ts";
import { on } from "../../src/telemetry/events.ts";
import { FakeClock, recorder, settle } from "../support/fake-clock.ts";

const START = 1_700_000_000_000;

/** How attempt n behaves: it takes `ms` on the fake clock, then returns `value` or throws `error`. */
interface Step {
  readonly ms: number;
  readonly value?: unknown;
  readonly error?: unknown;
  /** Keeps running after its signal aborts, as work that never looks at its signal does. */
  readonly ignoresSignal?: boolean;
}

/** An operation that follows `steps`, one per attempt, and records when each attempt started. */
function planned(clock: FakeClock, ...steps: Step[]) {
  const started: Array<{ attempt: number; atMs: number; signal: AbortSignal | undefined }> = [];
  const operation = async ({ attempt, signal }: PolicyContext) => {
    started.push({ attempt, atMs: clock.nowMs - START, signal });
    const step = steps[attempt - 1];
    if (step === undefined) throw new Error(`attempt ${attempt} was not planned`);
    await clock.sleep(step.ms, step.ignoresSignal ? undefined : signal);
    if (step.error !== undefined) throw step.error;
    return step.value;
  };
  return { operation, started };
}

/** A Response whose body reports whether anyone cancelled it. */
function trackedResponse() {
  const state = { cancelled: false };
  const response = new Response(
    new ReadableStream({
      cancel() {
        state.cancelled = true;
      },
    }),
  );
  return Object.assign(state, { response });
}

const elapsed = (clock: FakeClock) => clock.nowMs - START;

describe("hedge", () => {
  it("starts no hedge when the first attempt answers before delayMs, and leaves no timer", async () => {
    const clock = new FakeClock();
    const { operation, started } = planned(clock, { ms: 50, value: "first" });
    const result = await clock.run(hedge({ delayMs: 100, env: clock }).execute(operation));
    expect(result).toBe("first");
    expect(started.map((s) => s.attempt)).toEqual([1]);
    expect(elapsed(clock)).toBe(50);
    expect(clock.pendingTimers).toBe(0);
  });

  it("starts a hedge after delayMs and resolves with whichever attempt succeeds first", async () => {
    const clock = new FakeClock();
    const { operation, started } = planned(clock, { ms: 1_000, value: "slow" }, { ms: 50, value: "fast" });
    const result = await clock.run(hedge({ delayMs: 100, env: clock }).execute(operation));
    expect(result).toBe("fast");
    expect(started.map((s) => [s.attempt, s.atMs])).toEqual([
      [1, 0],
      [2, 100],
    ]);
    expect(elapsed(clock)).toBe(150);
  });

  it("aborts the loser's signal once there is a winner, and leaves the winner's alone", async () => {
    const clock = new FakeClock();
    const { operation, started } = planned(clock, { ms: 1_000, value: "slow" }, { ms: 50, value: "fast" });
    await clock.run(hedge({ delayMs: 100, env: clock }).execute(operation));
    expect(started[0]?.signal?.aborted).toBe(true);
    expect(started[0]?.signal?.reason).toMatchObject({ name: "AbortError" });
    expect(started[1]?.signal?.aborted).toBe(false);
    expect(clock.pendingTimers).toBe(0);
  });

  it("the winner's signal still follows the caller's abort after the call has settled", async () => {
    const clock = new FakeClock();
    const caller = new AbortController();
    const { operation, started } = planned(clock, { ms: 10, value: "body to read later" });
    await clock.run(hedge({ delayMs: 100, env: clock }).execute(operation, caller.signal));
    const reason = new Error("the reader left");
    caller.abort(reason);
    expect(started[0]?.signal?.aborted).toBe(true);
    expect(started[0]?.signal?.reason).toBe(reason);
  });

  it("cancels the body of a loser that still resolves with a Response", async () => {
    const clock = new FakeClock();
    const loser = trackedResponse();
    const { operation } = planned(
      clock,
      { ms: 1_000, value: loser.response, ignoresSignal: true },
      { ms: 50, value: "fast" },
    );
    expect(await clock.run(hedge({ delayMs: 100, env: clock }).execute(operation))).toBe("fast");
    expect(loser.cancelled).toBe(false);
    await clock.advance(1_000);
    await settle();
    expect(loser.cancelled).toBe(true);
    expect(clock.pendingTimers).toBe(0);
  });

  it("starts at most maxHedges extra attempts, delayMs apart, numbered from 1", async () => {
    const clock = new FakeClock();
    const onHedge = recorder<[HedgeEvent]>();
    const { operation, started } = planned(
      clock,
      { ms: 10_000, value: "first" },
      { ms: 10_000, value: "second" },
      { ms: 1_000, value: "third" },
    );
    const result = await clock.run(
      hedge({ delayMs: 100, maxHedges: 2, telemetry: on("hedge", onHedge), env: clock }).execute(operation),
    );
    expect(result).toBe("third");
    expect(started.map((s) => [s.attempt, s.atMs])).toEqual([
      [1, 0],
      [2, 100],
      [3, 200],
    ]);
    expect(onHedge.calls.map(([e]) => [e.attempt, e.elapsedMs, e.trigger])).toEqual([
      [2, 100, "delay"],
      [3, 200, "delay"],
    ]);
    expect(elapsed(clock)).toBe(1_200);
  });

  it("with maxHedges 0 runs the operation once, however long it takes", async () => {
    const clock = new FakeClock();
    const { operation, started } = planned(clock, { ms: 5_000, value: "only" });
    expect(await clock.run(hedge({ delayMs: 100, maxHedges: 0, env: clock }).execute(operation))).toBe("only");
    expect(started).toHaveLength(1);
  });

  it("starts the next hedge at once when an attempt fails, without waiting for delayMs", async () => {
    const clock = new FakeClock();
    const onHedge = recorder<[HedgeEvent]>();
    const { operation, started } = planned(
      clock,
      { ms: 10, error: new TypeError("fetch failed") },
      { ms: 50, value: "second" },
    );
    const result = await clock.run(
      hedge({ delayMs: 100, telemetry: on("hedge", onHedge), env: clock }).execute(operation),
    );
    expect(result).toBe("second");
    expect(started.map((s) => s.atMs)).toEqual([0, 10]);
    expect(onHedge.calls.map(([e]) => e.trigger)).toEqual(["failure"]);
    expect(elapsed(clock)).toBe(60);
  });

  it("keeps waiting for an attempt in flight when another one fails", async () => {
    const clock = new FakeClock();
    const { operation } = planned(clock, { ms: 300, value: "first" }, { ms: 50, error: new Error("second failed") });
    expect(await clock.run(hedge({ delayMs: 100, env: clock }).execute(operation))).toBe("first");
    expect(elapsed(clock)).toBe(300);
  });

  it("rejects with the error of the last attempt to fail when every attempt fails", async () => {
    const clock = new FakeClock();
    const lastToFail = new Error("first attempt, failing last");
    const { operation, started } = planned(
      clock,
      { ms: 500, error: lastToFail },
      { ms: 20, error: new Error("second") },
      { ms: 10, error: new Error("third") },
    );
    const outcome = clock.run(hedge({ delayMs: 100, maxHedges: 2, env: clock }).execute(operation));
    await expect(outcome).rejects.toBe(lastToFail);
    // The second failed at 120 ms and started the third at once; the call ended when the first failed.
    expect(started.map((s) => s.atMs)).toEqual([0, 100, 120]);
    expect(elapsed(clock)).toBe(500);
    expect(clock.pendingTimers).toBe(0);
  });

  it("treats a synchronous throw as a failed attempt", async () => {
    const clock = new FakeClock();
    let calls = 0;
    const policy = hedge({ delayMs: 100, env: clock });
    const result = await clock.run(
      policy.execute(() => {
        if (++calls === 1) throw new RangeError("sync");
        return "second";
      }),
    );
    expect(result).toBe("second");
    expect(calls).toBe(2);
  });

  it("rejects at once with the caller's reason and aborts every attempt when the caller aborts", async () => {
    const clock = new FakeClock();
    const controller = new AbortController();
    const { operation, started } = planned(clock, { ms: 10_000 }, { ms: 10_000 });
    const outcome = hedge({ delayMs: 100, env: clock }).execute(operation, controller.signal);
    await clock.advance(150);
    const reason = new Error("user navigated away");
    controller.abort(reason);
    await expect(outcome).rejects.toBe(reason);
    expect(started.map((s) => s.signal?.aborted)).toEqual([true, true]);
    expect(elapsed(clock)).toBe(150);
    expect(clock.pendingTimers).toBe(0);
  });

  it("an already aborted signal starts nothing", async () => {
    const clock = new FakeClock();
    const { operation, started } = planned(clock, { ms: 10 });
    const outcome = hedge({ delayMs: 100, env: clock }).execute(operation, AbortSignal.abort(new Error("gone")));
    await expect(outcome).rejects.toThrow("gone");
    expect(started).toHaveLength(0);
    expect(clock.pendingTimers).toBe(0);
  });

  it("goes on, unchanged, when a hedge listener throws", async () => {
    const clock = new FakeClock();
    const { operation } = planned(clock, { ms: 1_000, value: "slow" }, { ms: 10, value: "fast" });
    const policy = hedge({
      delayMs: 100,
      env: clock,
      telemetry: () => {
        throw new Error("metrics down");
      },
    });
    await expect(clock.run(policy.execute(operation))).resolves.toBe("fast");
    expect(clock.pendingTimers).toBe(0);
  });
});

type Case = [label: string, make: () => unknown, kind: ErrorConstructor, message: RegExp];

const cases: Case[] = [
  ["no options", () => hedge(undefined as never), TypeError, /hedge: option "delayMs" must be a number, got undefined/],
  ["options not an object", () => hedge(100 as never), TypeError, /hedge: options must be an object, got 100/],
  [
    "delayMs negative",
    () => hedge({ delayMs: -1 }),
    RangeError,
    /hedge: option "delayMs" must be a finite number ≥ 0, got -1/,
  ],
  ["delayMs Infinity", () => hedge({ delayMs: Infinity }), RangeError, /hedge: option "delayMs".*got Infinity/],
  ["delayMs NaN", () => hedge({ delayMs: Number.NaN }), RangeError, /hedge: option "delayMs".*got NaN/],
  [
    "delayMs as a string",
    () => hedge({ delayMs: "1s" as never }),
    TypeError,
    /hedge: option "delayMs" must be a number, got "1s"/,
  ],
  [
    "maxHedges 1.5",
    () => hedge({ delayMs: 10, maxHedges: 1.5 }),
    RangeError,
    /hedge: option "maxHedges" must be an integer ≥ 0, got 1\.5/,
  ],
  ["maxHedges negative", () => hedge({ delayMs: 10, maxHedges: -1 }), RangeError, /hedge: option "maxHedges".*got -1/],
  [
    "telemetry not a listener",
    () => hedge({ delayMs: 10, telemetry: {} as never }),
    TypeError,
    /hedge: option "telemetry" must be a listener function or an array of them/,
  ],
  ["misspelt option", () => hedge({ delay: 10 } as never), TypeError, /hedge: unknown option "delay"/],
  [
    "env.schedule not a function",
    () => hedge({ delayMs: 10, env: { schedule: 5 as never } }),
    TypeError,
    /"env\.schedule" must be a function/,
  ],
];

describe("hedge: bad options fail at construction", () => {
  for (const [label, make, kind, message] of cases) {
    it(`${label}: ${kind.name}`, () => {
      expect(make).toThrow(kind);
      expect(make).toThrow(message);
    });
  }
});
