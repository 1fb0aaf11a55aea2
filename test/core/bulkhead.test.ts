import { describe, expect, it } from "vitest";
import { bulkhead } from "../../src/bulkhead.ts";
import { isBulkheadRejectedError } from "../../src/errors.ts";
import { FakeClock, settle } from "../support/fake-clock.ts";
import { watchedSignal } from "../support/watched-signal.ts";

/** A promise the test settles by hand. */
function gate<T = string>() {
  let open!: (value: T) => void;
  let fail!: (error: unknown) => void;
  const promise = new Promise<T>((resolve, reject) => {
    open = resolve;
    fail = reject;
  });
  return { promise, open, fail };
}

describe("bulkhead", () => {
  it("runs at most `limit` operations at once", async () => {
    const clock = new FakeClock();
    const startedAt = clock.nowMs;
    const pool = bulkhead({ limit: 2, queue: 10 });
    let active = 0;
    let mostActive = 0;
    const finishedAfterMs: number[] = [];
    const calls = Array.from({ length: 6 }, () =>
      pool.execute(async () => {
        active++;
        mostActive = Math.max(mostActive, active);
        await clock.sleep(100);
        active--;
        finishedAfterMs.push(clock.nowMs - startedAt);
      }),
    );
    await clock.run(Promise.all(calls));
    expect(mostActive).toBe(2);
    expect(finishedAfterMs).toEqual([100, 100, 200, 200, 300, 300]);
  });

  it("reports how many calls are running and how many are queued", async () => {
    const pool = bulkhead({ limit: 1, queue: 2 });
    const first = gate();
    const calls = [pool.execute(() => first.promise), pool.execute(() => "second"), pool.execute(() => "third")];
    expect([pool.running, pool.queued]).toEqual([1, 2]);
    first.open("first");
    expect(await Promise.all(calls)).toEqual(["first", "second", "third"]);
    expect([pool.running, pool.queued]).toEqual([0, 0]);
  });

  it("rejects at once with a BulkheadRejectedError naming the limits when slots and queue are full", async () => {
    const pool = bulkhead({ limit: 1, queue: 1 });
    const held = gate();
    const calls = [pool.execute(() => held.promise), pool.execute(() => "queued")];
    let ran = false;
    const error = await pool
      .execute(() => {
        ran = true;
      })
      .catch((e: unknown) => e);
    expect(isBulkheadRejectedError(error)).toBe(true);
    expect(error).toMatchObject({ name: "BulkheadRejectedError", limit: 1, queue: 1 });
    expect((error as Error).message).toMatch("1 calls are running and 1 are queued");
    expect(ran).toBe(false);
    held.open("held");
    await Promise.all(calls);
  });

  it("queues nothing by default: a call beyond the limit is rejected at once", async () => {
    const pool = bulkhead({ limit: 1 });
    const held = gate();
    const running = pool.execute(() => held.promise);
    await expect(pool.execute(() => "second")).rejects.toMatchObject({ name: "BulkheadRejectedError", queue: 0 });
    held.open("first");
    await expect(running).resolves.toBe("first");
  });

  it("starts queued calls in the order they arrived", async () => {
    const clock = new FakeClock();
    const pool = bulkhead({ limit: 1, queue: 3 });
    const order: string[] = [];
    // The later a call arrives, the shorter it runs: only the queue can put them in order.
    const call = (name: string, ms: number) =>
      pool.execute(async () => {
        order.push(name);
        await clock.sleep(ms);
      });
    await clock.run(Promise.all([call("first", 40), call("a", 30), call("b", 20), call("c", 10)]));
    expect(order).toEqual(["first", "a", "b", "c"]);
  });

  it("a queued call whose signal aborts rejects at once with the signal's reason and never runs", async () => {
    const pool = bulkhead({ limit: 1, queue: 1 });
    const held = gate();
    const running = pool.execute(() => held.promise);
    const controller = new AbortController();
    let ran = false;
    const queued = pool.execute(() => {
      ran = true;
    }, controller.signal);
    const reason = new Error("user went away");
    controller.abort(reason);
    await expect(queued).rejects.toBe(reason);
    expect(pool.queued).toBe(0);
    held.open("done");
    await running;
    expect(ran).toBe(false);
  });

  it("when a queued call aborts, the call behind it takes the next free slot", async () => {
    const pool = bulkhead({ limit: 1, queue: 2 });
    const held = gate();
    const running = pool.execute(() => held.promise);
    const controller = new AbortController();
    const aborted = pool.execute(() => "aborted", controller.signal).catch(() => "rejected");
    const behind = pool.execute(() => "behind");
    controller.abort();
    held.open("held");
    expect(await Promise.all([running, aborted, behind])).toEqual(["held", "rejected", "behind"]);
  });

  it("a queued call that aborts frees its place in the queue for a new call", async () => {
    const pool = bulkhead({ limit: 1, queue: 1 });
    const held = gate();
    const running = pool.execute(() => held.promise);
    const controller = new AbortController();
    const aborted = pool.execute(() => "aborted", controller.signal).catch(() => "rejected");
    controller.abort();
    const newcomer = pool.execute(() => "newcomer");
    held.open("held");
    expect(await Promise.all([running, aborted, newcomer])).toEqual(["held", "rejected", "newcomer"]);
  });

  it("an operation that throws synchronously releases its slot", async () => {
    const pool = bulkhead({ limit: 1 });
    const bug = new TypeError("x is not a function");
    await expect(
      pool.execute(() => {
        throw bug;
      }),
    ).rejects.toBe(bug);
    expect(pool.running).toBe(0);
    await expect(pool.execute(() => "next")).resolves.toBe("next");
  });

  it("an operation that rejects hands its slot to the next queued call", async () => {
    const pool = bulkhead({ limit: 1, queue: 1 });
    const failing = gate();
    const first = pool.execute(() => failing.promise);
    const second = pool.execute(() => "second");
    failing.fail(new Error("upstream 500"));
    await expect(first).rejects.toThrow("upstream 500");
    await expect(second).resolves.toBe("second");
    expect(pool.running).toBe(0);
  });

  it("an already aborted signal neither runs nor takes a slot", async () => {
    const pool = bulkhead({ limit: 1 });
    let ran = false;
    const outcome = pool.execute(
      () => {
        ran = true;
      },
      AbortSignal.abort(new Error("already gone")),
    );
    await expect(outcome).rejects.toThrow("already gone");
    expect(ran).toBe(false);
    expect(pool.running).toBe(0);
  });

  it("a caller's abort while running rejects at once, but the slot stays taken until the operation settles", async () => {
    const pool = bulkhead({ limit: 1, queue: 1 });
    const controller = new AbortController();
    const ignoresSignal = gate();
    const running = pool.execute(() => ignoresSignal.promise, controller.signal);
    const reason = new Error("caller gave up");
    controller.abort(reason);
    await expect(running).rejects.toBe(reason);
    let nextStarted = false;
    const next = pool.execute(() => {
      nextStarted = true;
    });
    await settle();
    expect([pool.running, pool.queued, nextStarted]).toEqual([1, 1, false]);
    ignoresSignal.open("late");
    await next;
    expect(nextStarted).toBe(true);
  });

  it("hands the operation the caller's signal and attempt", async () => {
    const pool = bulkhead({ limit: 1 });
    const controller = new AbortController();
    const seen = await pool.execute((context) => context, controller.signal);
    expect(seen.signal).toBe(controller.signal);
    expect(seen.attempt).toBe(1);
  });

  it("leaves no abort listener on the caller's signal once its calls settle", async () => {
    const pool = bulkhead({ limit: 1, queue: 2 });
    const { signal, listeners } = watchedSignal();
    const held = gate();
    const calls = [
      pool.execute(() => held.promise, signal),
      pool.execute(() => 2, signal),
      pool.execute(() => 3, signal),
    ];
    expect(listeners()).toBe(3);
    held.open("1");
    await Promise.all(calls);
    expect(listeners()).toBe(0);
  });

  it("wrap runs each call of the function under the bulkhead", async () => {
    const pool = bulkhead({ limit: 1 });
    const held = gate();
    const load = pool.wrap((id: string) => held.promise.then((prefix) => `${prefix}${id}`));
    const first = load("42");
    await expect(load("43")).rejects.toMatchObject({ name: "BulkheadRejectedError" });
    held.open("user ");
    await expect(first).resolves.toBe("user 42");
  });
});

type Case = [label: string, make: () => unknown, kind: ErrorConstructor, message: RegExp];

const cases: Case[] = [
  [
    "no options",
    () => bulkhead(undefined as never),
    TypeError,
    /bulkhead: option "limit" must be a number, got undefined/,
  ],
  ["limit 0", () => bulkhead({ limit: 0 }), RangeError, /bulkhead: option "limit" must be an integer ≥ 1, got 0/],
  ["limit 2.5", () => bulkhead({ limit: 2.5 }), RangeError, /"limit" must be an integer ≥ 1, got 2\.5/],
  ["limit Infinity", () => bulkhead({ limit: Infinity }), RangeError, /"limit" must be an integer ≥ 1, got Infinity/],
  ["limit NaN", () => bulkhead({ limit: Number.NaN }), RangeError, /"limit".*got NaN/],
  ["limit as a string", () => bulkhead({ limit: "4" as never }), TypeError, /"limit" must be a number, got "4"/],
  ["queue -1", () => bulkhead({ limit: 1, queue: -1 }), RangeError, /"queue" must be an integer ≥ 0, got -1/],
  ["queue Infinity", () => bulkhead({ limit: 1, queue: Infinity }), RangeError, /"queue".*got Infinity/],
  ["queue 0.5", () => bulkhead({ limit: 1, queue: 0.5 }), RangeError, /"queue".*got 0\.5/],
  ["misspelt option", () => bulkhead({ limit: 1, queued: 4 } as never), TypeError, /bulkhead: unknown option "queued"/],
  ["options not an object", () => bulkhead(4 as never), TypeError, /bulkhead: options must be an object, got 4/],
];

describe("bulkhead rejects bad options at construction", () => {
  for (const [label, make, kind, message] of cases) {
    it(`${label}: ${kind.name}`, () => {
      expect(make).toThrow(kind);
      expect(make).toThrow(message);
    });
  }
});
