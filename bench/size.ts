/**
 * What staunch adds to a bundle: each entry is bundled and minified with esbuild the way an application's
 * bundler would (ESM, tree-shaken, no platform assumptions), then gzipped. An entry over its budget fails the
 * run with exit code 1 — unlike the timing benchmarks, size is deterministic enough to be a check.
 *
 * `npm run size`. To measure another entry point, add it to `entries`. Entries without a budget are for
 * information or comparison (ky, bundled from node_modules the same way).
 */

import { readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { build } from "esbuild";
import { table } from "./table.ts";

interface Entry {
  readonly name: string;
  /** Module source, resolved from `bench/` (so `../src/index.ts` is the library). */
  readonly source: string;
  /** Largest allowed minified + gzipped size, in bytes; omitted: reported only. */
  readonly budgetBytes?: number;
}

function versionOf(packageName: string): string {
  const url = new URL(`../node_modules/${packageName}/package.json`, import.meta.url);
  return (JSON.parse(readFileSync(url, "utf8")) as { version: string }).version;
}

const entries: Entry[] = [
  {
    name: "retry + timeout + compose",
    // Used as an application would, so that the bundle keeps what a real caller pays for.
    source: `
      import { compose, retry, timeout } from "../src/index.ts";
      export const resilient = compose(timeout(30_000), retry({ attempts: 4 }), timeout(5_000));
    `,
    budgetBytes: 2048,
  },
  {
    name: "createFetch (defaults)",
    source: `
      import { createFetch } from "../src/index.ts";
      export const resilientFetch = createFetch();
    `,
    budgetBytes: 3072,
  },
  {
    name: "circuitBreaker (defaults)",
    source: `
      import { circuitBreaker } from "../src/index.ts";
      export const breaker = circuitBreaker();
    `,
  },
  {
    name: `ky ${versionOf("ky")} (for comparison)`,
    // All of ky: its default export is one instance whose methods reach the whole library.
    source: `export { default } from "ky";`,
  },
  {
    name: "everything in src/index.ts",
    source: `export * from "../src/index.ts";`,
  },
];

interface Measured {
  readonly minifiedBytes: number;
  readonly gzippedBytes: number;
}

async function measure(entry: Entry): Promise<Measured> {
  const result = await build({
    stdin: { contents: entry.source, resolveDir: import.meta.dirname, sourcefile: "entry.ts", loader: "ts" },
    bundle: true,
    minify: true,
    treeShaking: true,
    format: "esm",
    platform: "neutral",
    write: false,
    logLevel: "warning",
  });
  const code = result.outputFiles[0]?.contents;
  if (code === undefined) throw new Error(`esbuild produced no output for "${entry.name}"`);
  return { minifiedBytes: code.byteLength, gzippedBytes: gzipSync(code, { level: 9 }).byteLength };
}

const rows: string[][] = [];
let overBudget = 0;
for (const entry of entries) {
  const { minifiedBytes, gzippedBytes } = await measure(entry);
  const within = entry.budgetBytes === undefined || gzippedBytes <= entry.budgetBytes;
  if (!within) overBudget++;
  rows.push([
    entry.name,
    minifiedBytes.toLocaleString("en-US"),
    gzippedBytes.toLocaleString("en-US"),
    entry.budgetBytes === undefined ? "—" : entry.budgetBytes.toLocaleString("en-US"),
    entry.budgetBytes === undefined ? "" : within ? "OK" : "OVER",
  ]);
}

console.log("esbuild: bundle, minify, ESM, platform neutral; gzip level 9; budgets are on min+gzip");
console.log(table(["entry", "min B", "min+gzip B", "budget B", ""], rows, [false, true, true, true, false]));
if (overBudget > 0) {
  console.error(`\n${overBudget} ${overBudget === 1 ? "entry is" : "entries are"} over budget`);
  process.exitCode = 1;
}
