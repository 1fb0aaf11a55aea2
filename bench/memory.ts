/**
 * Memory of per-origin state: a createFetch client that has called 10,000 origins once each, and 10,000 bare
 * breakers. Run by `npm run bench` (in a child process, after the timings), or alone: `node bench/memory.ts`
 * (it restarts itself with `--expose-gc`), optionally with a filter on the case names.
 *
 * Method: what is measured is first built once at a tenth of its size and dropped, so that compiled code,
 * inline caches and lazily built globals (undici's `Response` machinery, say) are not charged to the
 * breakers; then a full GC, a reading, the build at full size, a full GC and a second reading while the result
 * is still reachable. The figure is the difference in V8 heap used plus memory outside the heap (ArrayBuffer
 * backing stores: a `Float64Array` of more than 64 bytes lives there). Each case is measured `REPEATS` times
 * and the median kept. MB are 10^6 bytes.
 */

import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { circuitBreaker, createFetch, failureRate } from "../src/index.ts";
import { table } from "./table.ts";

const gc = globalThis.gc;
if (gc === undefined) {
  const child = spawnSync(process.execPath, ["--expose-gc", fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: "inherit",
  });
  process.exit(child.status ?? 1);
}

const COUNT = 10_000;
const REPEATS = 5;
const TITLE = `memory of ${COUNT.toLocaleString("en-US")} breakers`;

interface MemoryCase {
  readonly name: string;
  /** Builds `count` of the thing measured and returns it, so that it stays reachable until it is read. */
  readonly build: (count: number) => Promise<unknown>;
  /** Largest allowed total, in bytes; checked and printed, never enforced. */
  readonly targetBytes?: number;
}

const ok = async (): Promise<string> => "ok";

const cases: MemoryCase[] = [
  {
    name: "createFetch, 1 call to each of 10,000 origins",
    async build(count) {
      const client = createFetch({ maxOrigins: COUNT, fetch: async () => new Response("ok") });
      for (let i = 0; i < count; i++) await client(`https://host-${i}.test/`);
      if (client.origins().length < count) throw new Error("createFetch dropped origins it was asked to keep");
      return client;
    },
    targetBytes: 10_000_000,
  },
  {
    name: "circuitBreaker() (default: failureRate over 5 s), 1 call each",
    async build(count) {
      const breakers = Array.from({ length: count }, () => circuitBreaker());
      for (const breaker of breakers) await breaker.execute(ok);
      return breakers;
    },
  },
  {
    name: "circuitBreaker(failureRate({ windowMs: 30_000 })), 1 call each",
    async build(count) {
      const breakers = Array.from({ length: count }, () =>
        circuitBreaker({ strategy: failureRate({ windowMs: 30_000 }) }),
      );
      for (const breaker of breakers) await breaker.execute(ok);
      return breakers;
    },
  },
];

interface Reading {
  readonly heapBytes: number;
  readonly externalBytes: number;
}

/** Heap used and memory outside the heap after a full collection (twice: a first one may free finalisers). */
function read(collect: () => void): Reading {
  collect();
  collect();
  const { heapUsed, external } = process.memoryUsage();
  return { heapBytes: heapUsed, externalBytes: external };
}

async function measureCase(memoryCase: MemoryCase, collect: () => void): Promise<Reading> {
  await memoryCase.build(COUNT / 10); // warm-up, dropped at once
  const before = read(collect);
  const kept = await memoryCase.build(COUNT);
  const after = read(collect);
  // Reading `kept` after the second reading keeps it reachable until then, whatever the optimiser does.
  if (kept === undefined) throw new Error(`${memoryCase.name}: build returned nothing to measure`);
  return { heapBytes: after.heapBytes - before.heapBytes, externalBytes: after.externalBytes - before.externalBytes };
}

const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
};
const mb = (bytes: number): string => (bytes / 1e6).toFixed(2);

const filter = process.argv[2];
const selected = cases.filter(
  (memoryCase) => filter === undefined || memoryCase.name.includes(filter) || TITLE.includes(filter),
);
if (selected.length > 0) {
  const rows: string[][] = [];
  const targetRows: string[][] = [];
  for (const memoryCase of selected) {
    const readings: Reading[] = [];
    for (let repeat = 0; repeat < REPEATS; repeat++) readings.push(await measureCase(memoryCase, gc));
    const heapBytes = median(readings.map((r) => r.heapBytes));
    const externalBytes = median(readings.map((r) => r.externalBytes));
    const totalBytes = median(readings.map((r) => r.heapBytes + r.externalBytes));
    rows.push([
      memoryCase.name,
      mb(heapBytes),
      mb(externalBytes),
      mb(totalBytes),
      Math.round(totalBytes / COUNT).toLocaleString("en-US"),
    ]);
    if (memoryCase.targetBytes !== undefined) {
      targetRows.push([
        `${memoryCase.name} ≤ ${mb(memoryCase.targetBytes)} MB`,
        `${mb(totalBytes)} MB`,
        totalBytes <= memoryCase.targetBytes ? "PASS" : "MISS",
      ]);
    }
  }
  console.log(
    `\n${TITLE} — node ${process.version} --expose-gc; Δ after full GC, median of ${REPEATS}; MB = 10^6 bytes`,
  );
  console.log(
    table(["case", "heap MB", "external MB", "total MB", "B/breaker"], rows, [false, true, true, true, true]),
  );
  if (targetRows.length > 0) {
    console.log("\nmemory targets (informative, not enforced)");
    console.log(table(["target", "measured", ""], targetRows, [false, true, false]));
  }
}
