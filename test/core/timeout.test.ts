import { describe, expect, it } from "vitest";
import {
  compose,
  createPolicy,
  isTimeoutError,
  type Operation,
  type Policy,
  type PolicyContext,
  timeout,
} from "../../src/index.ts";
import { FakeClock } from "../support/fake-clock.ts";

const never = () => new Promise<never>(() => {});

/** A caller's abort rejects the call at once with its reason, aborts the operation's signal, and leaves no timer. */
async function expectCallerAbortToReachTheOperation(makePolicy: (clock: FakeClock) => Policy): Promise<void> {
  const clock = new FakeClock();
  const controller = new AbortController();
  let seen: AbortSignal | undefined;
  const outcome = makePolicy(clock).execute(({ signal }) => {
    seen = signal;
    return never();
  }, controller.signal);
  const reason = new Error("cancelled by the user");
  controller.abort(reason);
  await expect(outcome).rejects.toBe(reason);
  expect(seen?.aborted).toBe(true);
  expect(seen?.reason).toBe(reason);
  expect(clock.pendingTimers).toBe(0);
}

describe("timeout", () => {
  it("returns the operation's value when it finishes in time and leaves no timer", async () => {
    const clock = new FakeClock();
    await expect(timeout(1_000, { env: clock }).execute(async () => 42)).resolves.toBe(42);
    expect(clock.pendingTimers).toBe(0);
  });

  it("passes the operation's own error through", async () => {
    const clock = new FakeClock();
    const error = new Error("boom");
    await expect(timeout(1_000, { env: clock }).execute(() => Promise.reject(error))).rejects.toBe(error);
    expect(clock.pendingTimers).toBe(0);
  });

  it("rejects with a TimeoutError at the deadline even if the operation ignores its signal", async () => {
    const clock = new FakeClock();
    const outcome = timeout(500, { env: clock }).execute(never);
    let settled = false;
    const failure = outcome.catch((e: unknown) => {
      settled = true;
      return e;
    });
    await clock.advance(499);
    expect(settled).toBe(false);
    await clock.advance(1);
    const error = await failure;
    expect(isTimeoutError(error)).toBe(true);
    expect((error as Error).name).toBe("TimeoutError");
    expect((error as Error).message).toMatch("500 ms");
  });

  it("aborts the operation's signal at the deadline with the TimeoutError", async () => {
    const clock = new FakeClock();
    let seen: AbortSignal | undefined;
    const outcome = timeout(100, { env: clock }).execute(({ signal }) => {
      seen = signal;
      return never();
    });
    const failure = outcome.catch((e: unknown) => e);
    await clock.advance(100);
    const error = await failure;
    expect(seen?.aborted).toBe(true);
    expect(seen?.reason).toBe(error);
  });

  it("a signal first read after the deadline is already aborted", async () => {
    const clock = new FakeClock();
    let read: (() => AbortSignal | undefined) | undefined;
    const outcome = timeout(100, { env: clock }).execute((context) => {
      read = () => context.signal;
      return never();
    });
    const failure = outcome.catch(() => {});
    await clock.advance(100);
    await failure;
    expect(read?.()?.aborted).toBe(true);
  });

  it("the operation's signal follows the caller's signal", async () => {
    await expectCallerAbortToReachTheOperation((clock) => timeout(10_000, { env: clock }));
  });

  it("the operation's signal still follows the caller's abort after the call has settled (a body read later)", async () => {
    const clock = new FakeClock();
    const callers = [new AbortController(), new AbortController()];
    const seen: AbortSignal[] = [];
    // Two calls share the first caller's signal, as calls under one long-lived signal do.
    for (const controller of [callers[0], callers[0], callers[1]] as AbortController[]) {
      await timeout(10_000, { env: clock }).execute(async ({ signal }) => {
        if (signal) seen.push(signal);
        return "response";
      }, controller.signal);
    }
    expect(seen.map((signal) => signal.aborted)).toEqual([false, false, false]);
    const reason = new Error("the reader left");
    callers[0]?.abort(reason);
    expect(seen.map((signal) => signal.reason)).toEqual([reason, reason, undefined]);
    expect(clock.pendingTimers).toBe(0);
  });

  it("an already aborted caller signal starts nothing", async () => {
    let calls = 0;
    await expect(timeout(100).execute(() => calls++, AbortSignal.abort(new Error("gone")))).rejects.toThrow("gone");
    expect(calls).toBe(0);
  });

  it("turns a synchronous throw into a rejection", async () => {
    const clock = new FakeClock();
    await expect(
      timeout(100, { env: clock }).execute(() => {
        throw new RangeError("sync");
      }),
    ).rejects.toThrow("sync");
    expect(clock.pendingTimers).toBe(0);
  });

  it("works on real timers: a 30 ms deadline beats a 10 s operation", async () => {
    const started = Date.now();
    const outcome = timeout(30).execute(
      ({ signal }) =>
        new Promise((_, reject) => {
          const t = setTimeout(() => reject(new Error("too late")), 10_000);
          signal?.addEventListener("abort", () => {
            clearTimeout(t);
            reject(signal.reason);
          });
        }),
    );
    await expect(outcome).rejects.toMatchObject({ name: "TimeoutError" });
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  describe("nested deadlines (a total deadline around an attempt's)", () => {
    it("an outer deadline that comes first ends the inner call and aborts its signal with the outer reason", async () => {
      const clock = new FakeClock();
      let seen: AbortSignal | undefined;
      const outcome = compose(timeout(100, { env: clock }), timeout(1_000, { env: clock })).execute(({ signal }) => {
        seen = signal;
        return never();
      });
      const failure = outcome.catch((e: unknown) => e);
      await clock.advance(100);
      const error = await failure;
      expect(isTimeoutError(error)).toBe(true);
      expect((error as Error).message).toMatch("100 ms");
      expect(seen?.aborted).toBe(true);
      expect(seen?.reason).toBe(error);
      expect(clock.pendingTimers).toBe(0);
    });

    it("an inner deadline that comes first ends the call with its own TimeoutError", async () => {
      const clock = new FakeClock();
      const failure = compose(timeout(1_000, { env: clock }), timeout(100, { env: clock }))
        .execute(never)
        .catch((e: unknown) => e);
      await clock.advance(100);
      const error = (await failure) as Error;
      expect(error.name).toBe("TimeoutError");
      expect(error.message).toMatch("100 ms");
      expect(clock.pendingTimers).toBe(0);
    });

    it("an inner signal first read after the outer deadline passed is already aborted", async () => {
      const clock = new FakeClock();
      let read: (() => AbortSignal | undefined) | undefined;
      const failure = compose(timeout(100, { env: clock }), timeout(1_000, { env: clock }))
        .execute((context) => {
          read = () => context.signal;
          return never();
        })
        .catch((e: unknown) => e);
      await clock.advance(100);
      const error = await failure;
      expect(read?.()?.aborted).toBe(true);
      expect(read?.()?.reason).toBe(error);
    });

    it("the caller's abort reaches through both deadlines at once, and the inner signal stays linked to it", async () => {
      await expectCallerAbortToReachTheOperation((clock) =>
        compose(timeout(10_000, { env: clock }), timeout(5_000, { env: clock })),
      );
    });

    it("a nested call that succeeds leaves neither deadline's timer behind", async () => {
      const clock = new FakeClock();
      const policy = compose(timeout(10_000, { env: clock }), timeout(5_000, { env: clock }));
      await expect(policy.execute(async ({ signal }) => signal?.aborted)).resolves.toBe(false);
      expect(clock.pendingTimers).toBe(0);
    });

    it("with a caller's signal above, an outer deadline that fires after the nested calls settled still aborts their signal", async () => {
      // (With no caller's signal above, a settled nested call is no longer told: its signal is its own.)
      for (const caller of [new AbortController()]) {
        const clock = new FakeClock();
        let seen: AbortSignal | undefined;
        // Goes on after the inner calls have answered (reading a body, say), within the outer deadline.
        const workAfter = createPolicy(async <T>(operation: Operation<T>, context: PolicyContext) => {
          const result = await operation(context);
          await clock.sleep(500);
          return result;
        });
        const policy = compose(
          timeout(100, { env: clock }),
          workAfter,
          timeout(1_000, { env: clock }),
          timeout(2_000, { env: clock }),
        );
        const outcome = policy
          .execute(async ({ signal }) => {
            seen = signal;
            return "answered";
          }, caller?.signal)
          .catch((e: unknown) => e);
        await clock.advance(100);
        const error = await outcome;
        expect(isTimeoutError(error)).toBe(true);
        expect(seen?.aborted).toBe(true);
        expect(seen?.reason).toBe(error);
      }
    });

    it("a nested deadline started after the outer call settled still follows the caller's abort", async () => {
      const clock = new FakeClock();
      const controller = new AbortController();
      let later: (() => Promise<unknown>) | undefined;
      // A policy that answers at once and leaves the work running: the inner deadline starts afterwards.
      const detaching = createPolicy(async <T>(operation: Operation<T>, context: PolicyContext) => {
        later = async () => operation(context);
        return "early" as T;
      });
      const policy = compose(timeout(5_000, { env: clock }), detaching, timeout(2_000, { env: clock }));
      await expect(policy.execute(never, controller.signal)).resolves.toBe("early");
      const inner = (later as () => Promise<unknown>)().catch((e: unknown) => e);
      const reason = new Error("the caller left");
      controller.abort(reason);
      expect(await inner).toBe(reason);
      expect(clock.pendingTimers).toBe(0);
    });
  });
});
