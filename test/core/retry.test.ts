import { describe, expect, it } from "vitest";
import { type GiveUpEvent, isTransientError, type Outcome, on, type RetryEvent, retry } from "../../src/index.ts";
import { FakeClock, recorder } from "../support/fake-clock.ts";

const networkError = () => new TypeError("fetch failed");

/** An operation that throws the given errors in turn, then returns "ok". */
function flaky(...failures: unknown[]) {
  let calls = 0;
  const operation = () => {
    const failure = failures[calls++];
    if (failure !== undefined) return Promise.reject(failure);
    return Promise.resolve("ok");
  };
  return Object.assign(operation, { calls: () => calls });
}

describe("retry", () => {
  it("returns the first success without sleeping", async () => {
    const clock = new FakeClock();
    const op = flaky();
    await expect(retry({ env: clock }).execute(op)).resolves.toBe("ok");
    expect(op.calls()).toBe(1);
    expect(clock.sleeps).toEqual([]);
  });

  it("retries network failures and timeouts until one succeeds", async () => {
    const clock = new FakeClock();
    const op = flaky(networkError(), new DOMException("late", "TimeoutError"));
    const result = await clock.run(retry({ env: clock }).execute(op));
    expect(result).toBe("ok");
    expect(op.calls()).toBe(3);
  });

  it("makes at most `attempts` attempts, then rethrows the last error unchanged", async () => {
    const clock = new FakeClock();
    const last = networkError();
    const op = flaky(networkError(), networkError(), last, networkError());
    const outcome = clock.run(retry({ attempts: 3, env: clock }).execute(op));
    await expect(outcome).rejects.toBe(last);
    expect(op.calls()).toBe(3);
  });

  it("never retries a programming error", async () => {
    const bug = new TypeError("Cannot read properties of undefined (reading 'id')");
    const op = flaky(bug);
    await expect(retry({ env: new FakeClock() }).execute(op)).rejects.toBe(bug);
    expect(op.calls()).toBe(1);
  });

  it("does not retry an application error unless told to", async () => {
    const op = flaky(new Error("validation failed"));
    await expect(retry({ env: new FakeClock() }).execute(op)).rejects.toThrow("validation failed");
    expect(op.calls()).toBe(1);
  });

  it("never retries an AbortError", async () => {
    const op = flaky(new DOMException("stopped", "AbortError"));
    await expect(retry({ env: new FakeClock() }).execute(op)).rejects.toThrow("stopped");
    expect(op.calls()).toBe(1);
  });

  it("retries whatever shouldHandle picks, with the attempt state", async () => {
    const clock = new FakeClock();
    const seen: number[] = [];
    const policy = retry({
      env: clock,
      shouldHandle: (outcome, state) => {
        seen.push(state.attempt);
        return !outcome.ok && (outcome.error as Error).message === "busy";
      },
    });
    const op = flaky(new Error("busy"), new Error("busy"));
    expect(await clock.run(policy.execute(op))).toBe("ok");
    expect(seen).toEqual([1, 2, 3]);
  });

  it("hands shouldHandle a success too, as an outcome with its result", async () => {
    const clock = new FakeClock();
    const seen: unknown[] = [];
    const policy = retry({
      env: clock,
      shouldHandle: (outcome) => {
        seen.push(outcome);
        return false;
      },
    });
    expect(await clock.run(policy.execute(() => "done"))).toBe("done");
    expect(seen).toEqual([{ ok: true, result: "done" }]);
  });

  it("refuses shouldRetry, the former name, naming shouldHandle", () => {
    // The old shape, (error) => isTransientError(error), would still type-check as an outcome predicate and never
    // retry: the old name fails loudly instead.
    expect(() => retry({ shouldRetry: () => true } as never)).toThrow(
      /retry: unknown option "shouldRetry" \(known: .*shouldHandle/,
    );
  });

  it("sleeps the backoff delay before each retry", async () => {
    const clock = new FakeClock();
    const policy = retry({ attempts: 4, env: clock, backoff: { initialMs: 100, jitter: "none" } });
    await clock.run(policy.execute(flaky(networkError(), networkError(), networkError())));
    expect(clock.sleeps).toEqual([100, 200, 400]);
  });

  it("draws jitter from the environment's random source", async () => {
    const clock = new FakeClock({ random: () => 0.25 });
    const policy = retry({ attempts: 3, env: clock, backoff: { initialMs: 100, jitter: "full" } });
    await clock.run(policy.execute(flaky(networkError(), networkError())));
    expect(clock.sleeps).toEqual([25, 50]);
  });

  it("stops when the next delay would end past maxElapsedMs, without sleeping it", async () => {
    const clock = new FakeClock();
    const giveUps: GiveUpEvent[] = [];
    const policy = retry({
      attempts: 10,
      maxElapsedMs: 1_000,
      env: clock,
      backoff: { initialMs: 300, jitter: "none" },
      telemetry: on("give-up", (event) => giveUps.push(event)),
    });
    const last = networkError();
    const op = flaky(networkError(), networkError(), last);
    await expect(clock.run(policy.execute(op))).rejects.toBe(last);
    // Slept 300 then 600 (900 ms in all); the next 1,200 ms delay would end at 2,100 ms > 1,000 ms.
    expect(clock.sleeps).toEqual([300, 600]);
    expect(op.calls()).toBe(3);
    expect(giveUps.map((g) => [g.reason, g.attempt, g.elapsedMs])).toEqual([["elapsed", 3, 900]]);
  });

  it("still makes an attempt that starts exactly at maxElapsedMs", async () => {
    const clock = new FakeClock();
    const policy = retry({ attempts: 5, maxElapsedMs: 100, env: clock, backoff: () => 100 });
    const op = flaky(networkError(), networkError(), networkError());
    await expect(clock.run(policy.execute(op))).rejects.toThrow("fetch failed");
    expect(op.calls()).toBe(2); // at 0 ms and at 100 ms; the next would start at 200 ms
  });

  it("counts the time attempts take toward maxElapsedMs", async () => {
    const clock = new FakeClock();
    const policy = retry({ attempts: 10, maxElapsedMs: 1_000, env: clock, backoff: { initialMs: 10, jitter: "none" } });
    let calls = 0;
    const slow = async () => {
      calls++;
      await clock.sleep(600);
      throw networkError();
    };
    await expect(clock.run(policy.execute(slow))).rejects.toThrow("fetch failed");
    expect(calls).toBe(2);
  });

  it("emits retry before each sleep with attempt, error, delay and elapsed time", async () => {
    const clock = new FakeClock();
    const events: RetryEvent[] = [];
    const first = networkError();
    const policy = retry({
      env: clock,
      backoff: { initialMs: 50, jitter: "none" },
      telemetry: on("retry", (e) => events.push(e)),
    });
    await clock.run(policy.execute(flaky(first, networkError())));
    expect(events.map((e) => [e.attempt, e.delayMs, e.elapsedMs, e.threw])).toEqual([
      [1, 50, 0, true],
      [2, 100, 50, true],
    ]);
    expect(events[0]?.error).toBe(first);
  });

  it("reports the retry's delay in whole ms, as a log line prints it, and sleeps the delay it chose", async () => {
    const clock = new FakeClock({ random: () => 0.31974099820945412 });
    const events: RetryEvent[] = [];
    const policy = retry({
      env: clock,
      backoff: { initialMs: 200, jitter: "full" },
      telemetry: on("retry", (e) => events.push(e)),
    });
    await clock.run(policy.execute(flaky(networkError())));
    expect(clock.sleeps).toEqual([63.948199641890824]);
    expect(events.map((e) => e.delayMs)).toEqual([64]);
  });

  it("emits give-up once when attempts run out, and not for a non-retryable error", async () => {
    const clock = new FakeClock();
    const onGiveUp = recorder<[GiveUpEvent]>();
    const policy = retry({ attempts: 2, env: clock, telemetry: on("give-up", onGiveUp) });
    await expect(clock.run(policy.execute(flaky(networkError(), networkError())))).rejects.toThrow();
    expect(onGiveUp.calls.map(([e]) => [e.reason, e.attempt])).toEqual([["attempts", 2]]);
    await expect(policy.execute(flaky(new Error("bug")))).rejects.toThrow("bug");
    expect(onGiveUp.calls).toHaveLength(1);
  });

  it("retries a result that shouldHandle picks and returns the last one when it gives up", async () => {
    const clock = new FakeClock();
    let n = 0;
    const policy = retry<{ status: number }>({
      attempts: 3,
      env: clock,
      shouldHandle: (o) => (o.ok ? o.result.status === 503 : isTransientError(o.error)),
    });
    const result = await clock.run(policy.execute(() => ({ status: 503, n: ++n })));
    expect(result).toEqual({ status: 503, n: 3 });
    const recovered = await clock.run(policy.execute(() => ({ status: n++ > 3 ? 200 : 503 })));
    expect(recovered).toEqual({ status: 200 });
  });

  it("uses a custom backoff function with the previous delay", async () => {
    const clock = new FakeClock();
    const seen: number[] = [];
    const policy = retry({
      attempts: 4,
      env: clock,
      backoff: ({ attempt, previousDelayMs }) => {
        seen.push(previousDelayMs);
        return attempt * 7;
      },
    });
    await clock.run(policy.execute(flaky(networkError(), networkError(), networkError())));
    expect(clock.sleeps).toEqual([7, 14, 21]);
    expect(seen).toEqual([0, 7, 14]);
  });

  it("gives up with reason 'delay' when a backoff function returns Infinity", async () => {
    const reasons: string[] = [];
    const policy = retry({
      backoff: () => Infinity,
      telemetry: on("give-up", (e) => reasons.push(e.reason)),
      env: new FakeClock(),
    });
    await expect(policy.execute(flaky(networkError()))).rejects.toThrow("fetch failed");
    expect(reasons).toEqual(["delay"]);
  });

  it("reports a backoff function that returns a negative delay", async () => {
    const policy = retry({ backoff: () => -1, env: new FakeClock() });
    await expect(policy.execute(flaky(networkError()))).rejects.toThrow(/backoff function returned -1/);
  });

  it("hands each attempt its number", async () => {
    const clock = new FakeClock();
    const attempts: number[] = [];
    const policy = retry({ attempts: 3, env: clock });
    await expect(
      clock.run(
        policy.execute(({ attempt }) => {
          attempts.push(attempt);
          throw networkError();
        }),
      ),
    ).rejects.toThrow();
    expect(attempts).toEqual([1, 2, 3]);
  });

  it("a zero delay retries without any timer", async () => {
    const clock = new FakeClock();
    const policy = retry({ attempts: 3, env: clock, backoff: { initialMs: 0, jitter: "none" } });
    // No clock.run: with no timer to fire, the retries must complete on their own.
    await expect(policy.execute(flaky(networkError(), networkError()))).resolves.toBe("ok");
    expect(clock.sleeps).toEqual([0, 0]);
    expect(clock.pendingTimers).toBe(0);
  });

  it("a caller's abort during the backoff sleep rejects at once with the caller's reason", async () => {
    const clock = new FakeClock();
    const controller = new AbortController();
    const op = flaky(networkError(), networkError());
    const outcome = retry({ env: clock, backoff: { initialMs: 30_000, jitter: "none" } }).execute(
      op,
      controller.signal,
    );
    await clock.advance(1_000); // the first attempt failed; now in a 30 s sleep
    const reason = new Error("user navigated away");
    controller.abort(reason);
    await expect(outcome).rejects.toBe(reason);
    expect(op.calls()).toBe(1);
    expect(clock.pendingTimers).toBe(0);
  });

  it("a caller's abort during an attempt that ignores its signal rejects at once and is not retried", async () => {
    const controller = new AbortController();
    let calls = 0;
    const outcome = retry({ env: new FakeClock() }).execute(() => {
      calls++;
      return new Promise(() => {}); // never settles and never looks at the signal
    }, controller.signal);
    controller.abort();
    await expect(outcome).rejects.toMatchObject({ name: "AbortError" });
    expect(calls).toBe(1);
  });

  it("an already aborted signal makes no attempt", async () => {
    let calls = 0;
    const outcome = retry().execute(() => calls++, AbortSignal.abort(new Error("already")));
    await expect(outcome).rejects.toThrow("already");
    expect(calls).toBe(0);
  });

  it("wrap keeps the function's parameters and retries each call", async () => {
    const clock = new FakeClock();
    let failures = 1;
    const add = retry({ env: clock }).wrap(async (a: number, b: number) => {
      if (failures-- > 0) throw networkError();
      return a + b;
    });
    expect(await clock.run(add(2, 3))).toBe(5);
  });

  it("calls predicates and hooks with their documented arguments only", async () => {
    const clock = new FakeClock();
    const counts: Record<string, number[]> = {};
    const count =
      (name: string, answer?: boolean) =>
      (...args: unknown[]) => {
        counts[name] = [...(counts[name] ?? []), args.length];
        return answer;
      };
    const policy = retry({
      attempts: 2,
      env: clock,
      backoff: { initialMs: 0 },
      shouldHandle: (...args: unknown[]) => {
        count("shouldHandle")(...args);
        return !(args[0] as Outcome).ok;
      },
      telemetry: [on("retry", count("onRetry")), on("give-up", count("onGiveUp"))],
    });
    await expect(policy.execute(() => Promise.reject(new Error("x")))).rejects.toThrow("x");
    await policy.execute(async () => 1);
    expect(counts).toEqual({ shouldHandle: [2, 2, 2], onRetry: [1], onGiveUp: [1] });
  });
});
