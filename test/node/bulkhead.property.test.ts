import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { bulkhead } from "../../src/bulkhead.ts";
import { isBulkheadRejectedError } from "../../src/errors.ts";

/**
 * What happens next to the pool: a call arrives (with or without a signal, perhaps throwing the moment it
 * starts), a running operation finishes (well or badly) — so any order of durations is covered — or a caller
 * aborts, wherever its call is.
 */
type Command =
  | { readonly kind: "call"; readonly withSignal: boolean; readonly throwsAtOnce: boolean }
  | { readonly kind: "finish"; readonly pick: number; readonly fails: boolean }
  | { readonly kind: "abort"; readonly pick: number };

const command: fc.Arbitrary<Command> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({ kind: fc.constant("call"), withSignal: fc.boolean(), throwsAtOnce: fc.boolean() }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant("finish"), pick: fc.nat(), fails: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("abort"), pick: fc.nat() }) },
) as fc.Arbitrary<Command>;

interface Call {
  readonly index: number;
  readonly controller: AbortController | undefined;
  started: boolean;
  settled: boolean;
  outcome: "value" | "rejected" | "aborted" | "failed" | undefined;
}

interface Running {
  readonly call: Call;
  readonly finish: (fails: boolean) => void;
}

/** Lets every promise reaction run. */
const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe("bulkhead properties", () => {
  it("never runs more than limit nor queues more than queue, starts calls in arrival order, and settles every call", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 0, max: 4 }),
        fc.array(command, { maxLength: 60 }),
        async (limit, queue, commands) => {
          const pool = bulkhead({ limit, queue });
          const calls: Call[] = [];
          const running: Running[] = [];
          const startOrder: number[] = [];
          const pending: Promise<unknown>[] = [];

          const check = (): void => {
            expect(pool.running).toBeLessThanOrEqual(limit);
            expect(pool.queued).toBeLessThanOrEqual(queue);
            expect(pool.running).toBe(running.length);
            expect(pool.queued).toBe(calls.filter((c) => !c.started && !c.settled).length);
            // Work-conserving: nobody waits while a slot is free.
            if (pool.queued > 0) expect(pool.running).toBe(limit);
          };

          for (const step of commands) {
            if (step.kind === "call") {
              const call: Call = {
                index: calls.length,
                controller: step.withSignal ? new AbortController() : undefined,
                started: false,
                settled: false,
                outcome: undefined,
              };
              calls.push(call);
              const outcome = pool.execute(() => {
                expect(call.started).toBe(false);
                call.started = true;
                startOrder.push(call.index);
                if (step.throwsAtOnce) throw new Error(`call ${call.index} threw`);
                return new Promise<string>((resolve, reject) => {
                  const finish = (fails: boolean): void =>
                    fails ? reject(new Error(`call ${call.index} failed`)) : resolve(`call ${call.index}`);
                  running.push({ call, finish });
                });
              }, call.controller?.signal);
              pending.push(
                outcome.then(
                  () => {
                    call.settled = true;
                    call.outcome = "value";
                  },
                  (error: unknown) => {
                    call.settled = true;
                    if (isBulkheadRejectedError(error)) call.outcome = "rejected";
                    else if (call.controller?.signal.aborted && error === call.controller.signal.reason)
                      call.outcome = "aborted";
                    else call.outcome = "failed";
                  },
                ),
              );
            } else if (step.kind === "finish" && running.length > 0) {
              const [done] = running.splice(step.pick % running.length, 1);
              done?.finish(step.fails);
            } else if (step.kind === "abort") {
              const abortable = calls.filter((c) => c.controller !== undefined && !c.settled);
              abortable[step.pick % Math.max(1, abortable.length)]?.controller?.abort(new Error("gone"));
            }
            await flush();
            check();
          }

          while (running.length > 0) {
            running.shift()?.finish(false);
            await flush();
            check();
          }
          await Promise.all(pending);

          expect(calls.every((c) => c.settled)).toBe(true);
          expect([pool.running, pool.queued]).toEqual([0, 0]);
          expect(startOrder).toEqual([...startOrder].sort((a, b) => a - b));
          for (const c of calls) {
            // A rejected call never ran; a call that ran either finished or was given up on by its caller.
            if (c.outcome === "rejected") expect(c.started).toBe(false);
            if (c.outcome === "value") expect(c.started).toBe(true);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
