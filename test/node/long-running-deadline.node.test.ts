import { describe, expect, it } from "vitest";
import { compose, type PolicyContext, retry, timeout } from "../../src/index.ts";
import { heapAfterGc } from "../support/heap.ts";

// One long deadline around a batch of calls, each under its own deadline: nothing may pile up on the outer
// one while it runs (a kept entry per nested call once cost ~1 KB and a quadratic search).
describe("nested calls under one long-running deadline", () => {
  for (const readsSignal of [false, true]) {
    it(`20,000 nested calls (${readsSignal ? "reading" : "not reading"} their signal) leave the heap flat`, async () => {
      const perItem = compose(retry({ attempts: 2 }), timeout(5_000));
      const item = async ({ signal }: PolicyContext) => (readsSignal ? signal?.aborted : "done");
      let grownBytes = Number.NaN;
      await timeout(600_000).execute(async (batch) => {
        const batchOf = async (count: number) => {
          for (let i = 0; i < count; i++) await perItem.run(item, batch);
        };
        await batchOf(5_000); // warm up
        const before = await heapAfterGc();
        await batchOf(20_000);
        grownBytes = (await heapAfterGc()) - before;
      });
      expect(grownBytes).toBeLessThan(1_000_000);
    }, 60_000);
  }
});
