import { describe, expect, it } from "vitest";
import { adaptiveThrottle, clientRejectionProbability } from "../../src/adaptive-throttle.ts";
import { isRateLimitedError, RateLimitedError } from "../../src/errors.ts";
import { SlidingWindowCounter } from "../../src/sliding-window.ts";
import { FakeClock, seededRandom } from "../support/fake-clock.ts";

const networkError = () => new TypeError("fetch failed");
const timeoutError = () => new DOMException("The operation timed out", "TimeoutError");

/** A clock whose random source returns whatever `draw.value` holds at the time of the call. */
function clockWithDraw(value: number) {
  const draw = { value };
  const clock = new FakeClock({ random: () => draw.value });
  return { clock, draw };
}

/** Runs `count` calls that all end the same way, ignoring how they end. */
async function send(policy: ReturnType<typeof adaptiveThrottle>, count: number, outcome: () => unknown) {
  let ran = 0;
  for (let i = 0; i < count; i++) {
    await policy
      .execute(() => {
        ran++;
        return outcome();
      })
      .catch(() => {});
  }
  return ran;
}

const succeed = () => "ok";
const failWith = (make: () => unknown) => () => Promise.reject(make());

describe("adaptiveThrottle", () => {
  it("never rejects while the backend accepts every request", async () => {
    // A draw of 0 rejects whenever the probability is above 0, so any rejection would show.
    const { clock } = clockWithDraw(0);
    const throttle = adaptiveThrottle({ env: clock });
    expect(await send(throttle, 1_000, succeed)).toBe(1_000);
    expect(throttle.rejectionProbability()).toBe(0);
    expect(throttle.counts()).toEqual({ requests: 1_000, accepts: 1_000 });
  });

  it("counts application errors as accepts: a backend that answers with errors is not overloaded", async () => {
    const { clock } = clockWithDraw(0);
    const throttle = adaptiveThrottle({ env: clock });
    expect(
      await send(
        throttle,
        200,
        failWith(() => new Error("404 not found")),
      ),
    ).toBe(200);
    expect(throttle.rejectionProbability()).toBe(0);
  });

  it("after failures, reports max(0, (requests − k·accepts) / (requests + 1))", async () => {
    const { clock } = clockWithDraw(0.999);
    const throttle = adaptiveThrottle({ k: 1.5, env: clock });
    await send(throttle, 6, succeed);
    await send(throttle, 15, failWith(networkError));
    await send(throttle, 15, failWith(timeoutError));
    expect(throttle.counts()).toEqual({ requests: 36, accepts: 6 });
    expect(throttle.rejectionProbability()).toBeCloseTo((36 - 1.5 * 6) / 37, 12);
  });

  it("rejects a call exactly when the random draw falls below the probability", async () => {
    const { clock, draw } = clockWithDraw(0.999);
    const throttle = adaptiveThrottle({ env: clock });
    await send(throttle, 10, failWith(networkError)); // 10 requests, no accepts: 10 / 11
    const probability = throttle.rejectionProbability();
    expect(probability).toBeCloseTo(10 / 11, 12);

    draw.value = probability - 0.001;
    let calls = 0;
    const rejected = throttle.execute(() => calls++);
    await expect(rejected).rejects.toBeInstanceOf(RateLimitedError);
    await expect(rejected).rejects.toMatchObject({ name: "RateLimitedError", retryAfterMs: 0 });
    expect(calls).toBe(0);

    draw.value = throttle.rejectionProbability() + 0.001;
    await expect(throttle.execute(() => calls++)).resolves.toBe(0);
    expect(calls).toBe(1);
  });

  it("counts a local rejection as a request but not an accept", async () => {
    const { clock, draw } = clockWithDraw(0.999);
    const throttle = adaptiveThrottle({ env: clock });
    await send(throttle, 4, succeed);
    await send(throttle, 20, failWith(networkError));
    draw.value = 0;
    await expect(throttle.execute(succeed)).rejects.toSatisfy(isRateLimitedError);
    expect(throttle.counts()).toEqual({ requests: 25, accepts: 4 });
  });

  it("rejects at the rate the formula gives, over many calls with a seeded random source", async () => {
    // Each trial builds the same state (35 requests, 5 accepts: p = 25 / 36) with draws that never reject,
    // then makes one call with a seeded draw; the share of rejected trials estimates p.
    const seeded = seededRandom(42);
    let rejections = 0;
    for (let trial = 0; trial < 1_000; trial++) {
      const { clock, draw } = clockWithDraw(0.999);
      const throttle = adaptiveThrottle({ env: clock });
      await send(throttle, 5, succeed);
      await send(throttle, 30, failWith(networkError));
      draw.value = seeded();
      await throttle.execute(succeed).catch(() => rejections++);
    }
    // Binomial(1000, 0.694): the standard deviation is about 15, so ±60 is far beyond chance.
    expect(Math.abs(rejections - (1_000 * 25) / 36)).toBeLessThan(60);
  });

  it("forgets requests once they are windowMs old", async () => {
    const { clock } = clockWithDraw(0.999);
    const throttle = adaptiveThrottle({ windowMs: 60_000, buckets: 60, env: clock });
    await send(throttle, 20, failWith(networkError));
    const before = throttle.rejectionProbability();
    expect(before).toBeGreaterThan(0);
    await clock.advance(59_999);
    expect(throttle.rejectionProbability()).toBe(before);
    await clock.advance(1);
    expect(throttle.rejectionProbability()).toBe(0);
    expect(throttle.counts()).toEqual({ requests: 0, accepts: 0 });
  });

  it("lets old buckets slide out one at a time while newer ones still count", async () => {
    const { clock } = clockWithDraw(0.999);
    const throttle = adaptiveThrottle({ windowMs: 60_000, buckets: 60, env: clock });
    await send(throttle, 10, failWith(networkError));
    await clock.advance(30_000);
    await send(throttle, 5, failWith(networkError));
    await send(throttle, 5, succeed);
    expect(throttle.counts()).toEqual({ requests: 20, accepts: 5 });
    await clock.advance(30_000);
    expect(throttle.counts()).toEqual({ requests: 10, accepts: 5 });
    expect(throttle.rejectionProbability()).toBe(0);
  });

  it("keeps no more buckets than configured, whatever the traffic", () => {
    const window = new SlidingWindowCounter(60_000, 60);
    const random = seededRandom(7);
    let nowMs = 1_700_000_000_000;
    let most = 0;
    for (let i = 0; i < 20_000; i++) {
      nowMs += Math.floor(random() * 400);
      window.record(nowMs, random() < 0.5);
      if (i % 50 === 0) most = Math.max(most, window.liveBuckets(nowMs));
    }
    expect(most).toBeGreaterThan(50); // the traffic did spread over the whole window
    expect(most).toBeLessThanOrEqual(60);
    expect(window.liveBuckets(nowMs + 60_000)).toBe(0);
  });

  it("counts a 503 Response as a refusal and a 404 Response as an accept", async () => {
    const { clock } = clockWithDraw(0.999);
    const throttle = adaptiveThrottle({ env: clock });
    await send(throttle, 3, () => new Response(null, { status: 503 }));
    await send(throttle, 2, () => new Response(null, { status: 404 }));
    expect(throttle.counts()).toEqual({ requests: 5, accepts: 2 });
  });

  it("lets shouldHandle decide, over errors and results alike, which outcomes are refusals", async () => {
    const { clock } = clockWithDraw(0.999);
    const throttle = adaptiveThrottle<{ overloaded: boolean }>({
      env: clock,
      shouldHandle: (outcome) =>
        outcome.ok ? outcome.result.overloaded : (outcome.error as Error).message === "RESOURCE_EXHAUSTED",
    });
    await send(
      throttle,
      3,
      failWith(() => new Error("RESOURCE_EXHAUSTED")),
    );
    await send(throttle, 2, failWith(networkError)); // accepted: the custom rule says only overload is a refusal
    await send(throttle, 4, () => ({ overloaded: true }));
    await send(throttle, 1, () => ({ overloaded: false }));
    expect(throttle.counts()).toEqual({ requests: 10, accepts: 3 });
  });

  it("does not count a call the caller aborted", async () => {
    const { clock } = clockWithDraw(0.999);
    const throttle = adaptiveThrottle({ env: clock });
    const controller = new AbortController();
    const outcome = throttle.execute(() => new Promise(() => {}), controller.signal);
    controller.abort(new Error("user cancelled"));
    await expect(outcome).rejects.toThrow("user cancelled");
    expect(throttle.counts()).toEqual({ requests: 0, accepts: 0 });
  });

  it("counts a call when it ends, so calls in flight do not make a fresh client reject", async () => {
    const { clock } = clockWithDraw(0);
    const throttle = adaptiveThrottle({ env: clock });
    const calls = Array.from({ length: 10 }, () => throttle.execute(() => clock.sleep(100).then(() => "ok")));
    const results = await clock.run(Promise.all(calls));
    expect(results).toEqual(Array(10).fill("ok"));
  });
});

describe("clientRejectionProbability", () => {
  const table: Array<[requests: number, accepts: number, k: number, expected: number]> = [
    [0, 0, 2, 0],
    [1, 0, 2, 0.5],
    [100, 50, 2, 0],
    [100, 10, 2, 80 / 101],
    [100, 0, 2, 100 / 101],
    [10, 4, 1, 6 / 11],
  ];
  for (const [requests, accepts, k, expected] of table) {
    it(`is ${expected.toFixed(3)} for ${requests} requests, ${accepts} accepts and k = ${k}`, () => {
      expect(clientRejectionProbability(requests, accepts, k)).toBeCloseTo(expected, 12);
    });
  }
});

type Case = [label: string, make: () => unknown, kind: ErrorConstructor, message: RegExp];

const cases: Case[] = [
  [
    "options not an object",
    () => adaptiveThrottle(2 as never),
    TypeError,
    /adaptiveThrottle: options must be an object, got 2/,
  ],
  [
    "misspelt option",
    () => adaptiveThrottle({ window: 1 } as never),
    TypeError,
    /adaptiveThrottle: unknown option "window"/,
  ],
  [
    "k below 1",
    () => adaptiveThrottle({ k: 0.5 }),
    RangeError,
    /adaptiveThrottle: option "k" must be a finite number ≥ 1, got 0\.5/,
  ],
  ["k Infinity", () => adaptiveThrottle({ k: Infinity }), RangeError, /option "k".*got Infinity/],
  ["k as a string", () => adaptiveThrottle({ k: "2" as never }), TypeError, /option "k" must be a number, got "2"/],
  [
    "windowMs 0",
    () => adaptiveThrottle({ windowMs: 0 }),
    RangeError,
    /option "windowMs" must be a finite number > 0, got 0/,
  ],
  ["windowMs negative", () => adaptiveThrottle({ windowMs: -1 }), RangeError, /option "windowMs".*got -1/],
  ["windowMs NaN", () => adaptiveThrottle({ windowMs: Number.NaN }), RangeError, /option "windowMs".*got NaN/],
  ["buckets 0", () => adaptiveThrottle({ buckets: 0 }), RangeError, /option "buckets" must be an integer ≥ 1, got 0/],
  ["buckets 2.5", () => adaptiveThrottle({ buckets: 2.5 }), RangeError, /option "buckets".*got 2\.5/],
  [
    "shouldHandle not a function",
    () => adaptiveThrottle({ shouldHandle: false as never }),
    TypeError,
    /option "shouldHandle" must be a function, got false/,
  ],
  [
    "isAccepted, a former name",
    () => adaptiveThrottle({ isAccepted: () => true } as never),
    TypeError,
    /unknown option "isAccepted" \(known: .*shouldHandle/,
  ],
  [
    "env.random not a function",
    () => adaptiveThrottle({ env: { random: 0.5 as never } }),
    TypeError,
    /"env\.random" must be a function/,
  ],
];

describe("adaptiveThrottle: bad options fail at construction", () => {
  for (const [label, make, kind, message] of cases) {
    it(`${label}: ${kind.name}`, () => {
      expect(make).toThrow(kind);
      expect(make).toThrow(message);
    });
  }
});
