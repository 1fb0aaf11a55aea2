import { describe, expect, it } from "vitest";
import { compose, createPolicy, type PolicyContext, retry, timeout } from "../../src/index.ts";
import { FakeClock } from "../support/fake-clock.ts";

const never = () => new Promise<never>(() => {});

describe("compose", () => {
  it("runs policies outermost first, like stacked decorators", async () => {
    const trace: string[] = [];
    const tag = (name: string) =>
      createPolicy(async (operation, context) => {
        trace.push(`${name} in`);
        try {
          return await operation(context);
        } finally {
          trace.push(`${name} out`);
        }
      });
    await compose(tag("outer"), tag("middle"), tag("inner")).execute(() => trace.push("work"));
    expect(trace).toEqual(["outer in", "middle in", "inner in", "work", "inner out", "middle out", "outer out"]);
  });

  it("retry around a timeout retries each timed-out attempt", async () => {
    const clock = new FakeClock();
    let calls = 0;
    const policy = compose(retry({ attempts: 3, env: clock, backoff: { initialMs: 0 } }), timeout(100, { env: clock }));
    const outcome = clock.run(
      policy.execute(() => {
        calls++;
        return calls < 3 ? never() : Promise.resolve("third time lucky");
      }),
    );
    expect(await outcome).toBe("third time lucky");
    expect(calls).toBe(3);
    expect(clock.nowMs - 1_700_000_000_000).toBe(200);
  });

  it("a timeout around a retry bounds the whole loop, sleeps included", async () => {
    const clock = new FakeClock();
    let calls = 0;
    const policy = compose(
      timeout(1_000, { env: clock }),
      retry({ attempts: 100, env: clock, backoff: { initialMs: 300, jitter: "none", multiplier: 1 } }),
    );
    const outcome = clock.run(
      policy.execute(() => {
        calls++;
        throw new TypeError("Failed to fetch");
      }),
    );
    await expect(outcome).rejects.toMatchObject({ name: "TimeoutError" });
    expect(calls).toBe(4); // at 0, 300, 600 and 900 ms; the deadline interrupts the fourth sleep
    expect(clock.pendingTimers).toBe(0);
  });

  it("hands the innermost signal and the retry's attempt number to the operation", async () => {
    const clock = new FakeClock();
    const seen: Array<[number, boolean]> = [];
    const policy = compose(retry({ attempts: 2, env: clock, backoff: { initialMs: 0 } }), timeout(50, { env: clock }));
    await clock
      .run(
        policy.execute((context: PolicyContext) => {
          seen.push([context.attempt, context.signal instanceof AbortSignal]);
          throw new TypeError("fetch failed");
        }),
      )
      .catch(() => {});
    expect(seen).toEqual([
      [1, true],
      [2, true],
    ]);
  });

  it("with no policies runs the operation as is", async () => {
    await expect(compose().execute(() => "plain")).resolves.toBe("plain");
  });

  it("wrap decorates a function with the whole stack", async () => {
    const clock = new FakeClock();
    let calls = 0;
    const greet = compose(timeout(1_000, { env: clock }), retry({ env: clock })).wrap(async (name: string) => {
      if (calls++ === 0) throw new TypeError("Load failed");
      return `hello ${name}`;
    });
    expect(await clock.run(greet("ada"))).toBe("hello ada");
  });
});

describe("context markers", () => {
  it("do not travel with a context a policy copies to put its own signal in", async () => {
    const controller = new AbortController();
    // A third-party policy that swaps in its own signal by copying the context.
    const ownSignal = createPolicy(async (operation, context) => operation({ ...context, signal: controller.signal }));
    let seen: AbortSignal | undefined;
    const policy = compose(timeout(10_000), ownSignal, timeout(5_000));
    await policy.execute(({ signal }) => {
      seen = signal;
      return "done";
    });
    // The inner signal stays linked to the swapped-in one after the call: its abort still reaches it.
    controller.abort(new Error("later"));
    expect(seen?.aborted).toBe(true);
  });
});
