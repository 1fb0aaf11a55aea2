import { describe, expect, it } from "vitest";
import { isRateLimitedError } from "../../src/errors.ts";
import { type RateLimiterOptions, rateLimiter } from "../../src/rate-limiter.ts";
import { FakeClock } from "../support/fake-clock.ts";
import { watchedSignal } from "../support/watched-signal.ts";

/** A limiter on a fake clock, and the time (ms after the start) at which each named call started. */
function setup(options: Omit<RateLimiterOptions, "env">) {
  const clock = new FakeClock();
  const startedAtMs = clock.nowMs;
  const limiter = rateLimiter({ ...options, env: clock });
  const starts: Array<[name: string, atMs: number]> = [];
  const call = (name: string, signal?: AbortSignal) =>
    limiter.execute(() => {
      starts.push([name, clock.nowMs - startedAtMs]);
      return name;
    }, signal);
  return { clock, limiter, starts, call, elapsedMs: () => clock.nowMs - startedAtMs };
}

describe("rateLimiter", () => {
  it("lets a burst through at once, then one call per token", async () => {
    const { clock, starts, call } = setup({ rate: 1, burst: 3 });
    await clock.run(Promise.all(["a", "b", "c", "d", "e"].map((name) => call(name))));
    expect(starts).toEqual([
      ["a", 0],
      ["b", 0],
      ["c", 0],
      ["d", 1_000],
      ["e", 2_000],
    ]);
  });

  it("counts the rate per intervalMs: 5 a minute is one call every 12 s", async () => {
    const { clock, starts, call } = setup({ rate: 5, intervalMs: 60_000, burst: 1 });
    await clock.run(Promise.all(["a", "b", "c"].map((name) => call(name))));
    expect(starts.map(([, atMs]) => atMs)).toEqual([0, 12_000, 24_000]);
  });

  it("starts full, with burst tokens", () => {
    const { limiter } = setup({ rate: 10, burst: 4 });
    expect(limiter.available()).toBe(4);
  });

  it("refills continuously from the clock, up to burst", async () => {
    const { clock, limiter, call } = setup({ rate: 10 });
    await Promise.all(Array.from({ length: 10 }, (_, i) => call(`call ${i}`)));
    expect(limiter.available()).toBe(0);
    await clock.advance(250);
    expect(limiter.available()).toBe(2.5);
    await clock.advance(60_000);
    expect(limiter.available()).toBe(10);
  });

  it("with wait: false, rejects at once with a RateLimitedError whose retryAfterMs says when a token is due", async () => {
    const { clock, starts, call } = setup({ rate: 1, burst: 1, wait: false });
    await call("first");
    await clock.advance(300);
    const error = await call("second").catch((e: unknown) => e);
    expect(isRateLimitedError(error)).toBe(true);
    expect(error).toMatchObject({ name: "RateLimitedError", retryAfterMs: 700 });
    expect((error as Error).message).toMatch("700 ms");
    expect(starts).toEqual([["first", 0]]);
    expect(clock.sleeps).toEqual([]);
  });

  it("rounds retryAfterMs up to a whole millisecond", async () => {
    const { call } = setup({ rate: 3, burst: 1, wait: false });
    await call("first");
    await expect(call("second")).rejects.toMatchObject({ retryAfterMs: 334 });
  });

  it("waiting calls take turns: three waiters at 1 a second start at +1 s, +2 s and +3 s", async () => {
    const { clock, starts, call } = setup({ rate: 1, burst: 1 });
    await call("first");
    await clock.run(Promise.all([call("a"), call("b"), call("c")]));
    expect(starts.map(([, atMs]) => atMs)).toEqual([0, 1_000, 2_000, 3_000]);
  });

  it("serves waiting calls in the order they arrived", async () => {
    const { clock, starts, call } = setup({ rate: 4, burst: 1 });
    await call("first");
    await clock.run(Promise.all(["a", "b", "c", "d"].map((name) => call(name))));
    expect(starts.map(([name]) => name)).toEqual(["first", "a", "b", "c", "d"]);
  });

  it("holds a single timer however many calls wait", async () => {
    const { clock, call } = setup({ rate: 1, burst: 1 });
    await call("first");
    const waiting = Promise.all(["a", "b", "c", "d", "e"].map((name) => call(name)));
    expect(clock.pendingTimers).toBe(1);
    await clock.run(waiting);
    expect(clock.pendingTimers).toBe(0);
  });

  it("a waiting call whose signal aborts rejects at once with the signal's reason and leaves no timer", async () => {
    const { clock, starts, call } = setup({ rate: 1, burst: 1 });
    await call("first");
    const controller = new AbortController();
    const waiting = call("waiting", controller.signal);
    await clock.advance(400);
    const reason = new Error("user went away");
    controller.abort(reason);
    await expect(waiting).rejects.toBe(reason);
    expect(clock.pendingTimers).toBe(0);
    expect(starts.map(([name]) => name)).toEqual(["first"]);
  });

  it("an aborted waiter gives its token back: it is in the bucket when due", async () => {
    const { clock, limiter, call } = setup({ rate: 1, burst: 1 });
    await call("first");
    const controller = new AbortController();
    const waiting = call("waiting", controller.signal).catch(() => "aborted");
    await clock.advance(400);
    controller.abort();
    await waiting;
    await clock.advance(600);
    expect(limiter.available()).toBe(1);
  });

  it("an aborted waiter gives its turn to the calls behind it", async () => {
    const { clock, starts, call } = setup({ rate: 1, burst: 1 });
    await call("first");
    const controller = new AbortController();
    const aborted = call("aborted", controller.signal).catch(() => "rejected");
    const behind = call("behind");
    await clock.advance(500);
    controller.abort();
    await clock.run(Promise.all([aborted, behind]));
    expect(starts).toEqual([
      ["first", 0],
      ["behind", 1_000],
    ]);
  });

  it("a call that would wait longer than maxWaitMs is rejected at once, counting the calls already waiting", async () => {
    const { clock, starts, call } = setup({ rate: 1, burst: 1, maxWaitMs: 2_000 });
    await call("first");
    const admitted = Promise.all([call("a"), call("b")]);
    const error = await call("c").catch((e: unknown) => e);
    expect(error).toMatchObject({ name: "RateLimitedError", retryAfterMs: 3_000 });
    expect((error as Error).message).toMatch("maxWaitMs");
    await clock.run(admitted);
    expect(starts).toEqual([
      ["first", 0],
      ["a", 1_000],
      ["b", 2_000],
    ]);
  });

  it("by default waits at most 60 s: under sustained overload the queue stops growing", async () => {
    const { clock, call } = setup({ rate: 1, burst: 1 });
    const outcomes = Array.from({ length: 70 }, (_, i) =>
      call(`call ${i}`).then(
        () => "served",
        (error: unknown) => (error as Error).name,
      ),
    );
    // 1 token at once, then one a second: calls 2–61 wait up to 60 s, the 9 after them are turned away now.
    const turnedAway = await Promise.all(outcomes.slice(61));
    expect(turnedAway).toEqual(Array(9).fill("RateLimitedError"));
    await clock.advance(60_000);
    expect(await Promise.all(outcomes.slice(0, 61))).toEqual(Array(61).fill("served"));
  });

  it("by default a limiter slower than one call a minute still queues the next call", async () => {
    const { clock, starts, call } = setup({ rate: 1, intervalMs: 120_000, burst: 1 });
    const first = call("first");
    const second = call("second");
    const third = call("third").catch((error: unknown) => (error as Error).name);
    expect(await third).toBe("RateLimitedError");
    await clock.advance(120_000);
    await Promise.all([first, second]);
    expect(starts).toEqual([
      ["first", 0],
      ["second", 120_000],
    ]);
  });

  it("a call within maxWaitMs waits its turn", async () => {
    const { clock, call, elapsedMs } = setup({ rate: 1, burst: 1, maxWaitMs: 1_000 });
    await call("first");
    await expect(clock.run(call("second"))).resolves.toBe("second");
    expect(elapsedMs()).toBe(1_000);
  });

  it("leaves no timer behind once every call has settled", async () => {
    const { clock, call } = setup({ rate: 2, burst: 2 });
    const controller = new AbortController();
    const calls = [call("a"), call("b"), call("c"), call("d", controller.signal).catch(() => "aborted"), call("e")];
    await clock.advance(100);
    controller.abort();
    await clock.run(Promise.all(calls));
    expect(clock.pendingTimers).toBe(0);
  });

  it("leaves no abort listener on the caller's signal once its calls settle", async () => {
    const { clock, call } = setup({ rate: 1, burst: 1 });
    const { signal, listeners } = watchedSignal();
    const calls = Promise.all([call("a", signal), call("b", signal), call("c", signal)]);
    expect(listeners()).toBeGreaterThan(0);
    await clock.run(calls);
    expect(listeners()).toBe(0);
  });

  it("on the real clock, a call waits for its token and leaves no timer", async () => {
    const limiter = rateLimiter({ rate: 50, burst: 1 });
    const startedAt = Date.now();
    await limiter.execute(() => "first");
    await limiter.execute(() => "second");
    // 20 ms per token; a timer may fire a millisecond early on some runtimes.
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(19);
  });

  it("an already aborted signal takes no token", async () => {
    const { limiter, starts, call } = setup({ rate: 1, burst: 1 });
    await expect(call("never", AbortSignal.abort(new Error("already gone")))).rejects.toThrow("already gone");
    expect(starts).toEqual([]);
    expect(limiter.available()).toBe(1);
  });

  it("turns an operation's synchronous throw into a rejection", async () => {
    const { limiter } = setup({ rate: 1 });
    const bug = new TypeError("x is not a function");
    await expect(
      limiter.execute(() => {
        throw bug;
      }),
    ).rejects.toBe(bug);
  });

  it("hands the operation the caller's signal", async () => {
    const { limiter } = setup({ rate: 1 });
    const controller = new AbortController();
    await expect(limiter.execute(({ signal }) => signal, controller.signal)).resolves.toBe(controller.signal);
  });

  it("under a rate below 1 with no burst given, still lets one call through at once", async () => {
    const { clock, starts, call } = setup({ rate: 0.5 });
    await clock.run(Promise.all([call("a"), call("b")]));
    expect(starts.map(([, atMs]) => atMs)).toEqual([0, 2_000]);
  });

  it("a clock that steps backwards takes no tokens away", async () => {
    const { clock, limiter, call } = setup({ rate: 1, burst: 2 });
    await Promise.all([call("a"), call("b")]);
    clock.nowMs -= 60_000;
    expect(limiter.available()).toBe(0);
    await clock.advance(1_000);
    expect(limiter.available()).toBe(1);
  });
});

type Case = [label: string, make: () => unknown, kind: ErrorConstructor, message: RegExp];

const cases: Case[] = [
  [
    "no options",
    () => rateLimiter(undefined as never),
    TypeError,
    /rateLimiter: option "rate" must be a number, got undefined/,
  ],
  [
    "rate 0",
    () => rateLimiter({ rate: 0 }),
    RangeError,
    /rateLimiter: option "rate" must be a finite number > 0, got 0/,
  ],
  ["rate negative", () => rateLimiter({ rate: -5 }), RangeError, /"rate" must be a finite number > 0, got -5/],
  ["rate Infinity", () => rateLimiter({ rate: Infinity }), RangeError, /"rate".*got Infinity/],
  ["rate NaN", () => rateLimiter({ rate: Number.NaN }), RangeError, /"rate".*got NaN/],
  ["rate as a string", () => rateLimiter({ rate: "10" as never }), TypeError, /"rate" must be a number, got "10"/],
  [
    "intervalMs 0",
    () => rateLimiter({ rate: 1, intervalMs: 0 }),
    RangeError,
    /"intervalMs" must be a finite number > 0, got 0/,
  ],
  [
    "intervalMs Infinity",
    () => rateLimiter({ rate: 1, intervalMs: Infinity }),
    RangeError,
    /"intervalMs".*got Infinity/,
  ],
  [
    "burst 0.5",
    () => rateLimiter({ rate: 1, burst: 0.5 }),
    RangeError,
    /"burst" must be a finite number ≥ 1, got 0\.5/,
  ],
  ["burst Infinity", () => rateLimiter({ rate: 1, burst: Infinity }), RangeError, /"burst".*got Infinity/],
  [
    "wait as a string",
    () => rateLimiter({ rate: 1, wait: "yes" as never }),
    TypeError,
    /"wait" must be a boolean, got "yes"/,
  ],
  [
    "maxWaitMs negative",
    () => rateLimiter({ rate: 1, maxWaitMs: -1 }),
    RangeError,
    /"maxWaitMs" must be a number ≥ 0.*got -1/,
  ],
  ["maxWaitMs NaN", () => rateLimiter({ rate: 1, maxWaitMs: Number.NaN }), RangeError, /"maxWaitMs".*got NaN/],
  [
    "misspelt option",
    () => rateLimiter({ rate: 1, interval: 5 } as never),
    TypeError,
    /rateLimiter: unknown option "interval"/,
  ],
  [
    "options not an object",
    () => rateLimiter(10 as never),
    TypeError,
    /rateLimiter: options must be an object, got 10/,
  ],
  [
    "env.now not a function",
    () => rateLimiter({ rate: 1, env: { now: 5 as never } }),
    TypeError,
    /"env\.now" must be a function/,
  ],
];

describe("rateLimiter rejects bad options at construction", () => {
  for (const [label, make, kind, message] of cases) {
    it(`${label}: ${kind.name}`, () => {
      expect(make).toThrow(kind);
      expect(make).toThrow(message);
    });
  }
});
