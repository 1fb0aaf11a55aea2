/**
 * What staunch adds to a bundle: each entry is bundled and minified with esbuild the way an application's
 * bundler would (ESM, tree-shaken, no platform assumptions), then gzipped. An entry over its budget fails the
 * run with exit code 1 — unlike the timing benchmarks, size is deterministic enough to be a check, and CI runs
 * it (`.ci/run`).
 *
 * `npm run size`: the table. `npm run size -- --why "<entry name>"`: which modules that entry's bytes come from
 * (esbuild's metafile, minified bytes per module), to see what to cut before cutting. A row with `over` is an
 * optional layer: its size is what it adds to the `over` row, both measured the same way. Peers (ky, ofetch,
 * p-retry) are bundled from node_modules the same way, when installed.
 */

import { existsSync, readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { build, type Metafile } from "esbuild";
import { table } from "./table.ts";

interface Entry {
  readonly name: string;
  /** Module source, resolved from `bench/` (so `../src/index.ts` is the library). */
  readonly source: string;
  /**
   * Largest allowed minified + gzipped size, in bytes; omitted: reported only. A ceiling that only comes down:
   * set at what the entry measures, so that no change makes it heavier unnoticed.
   */
  readonly budgetBytes?: number;
  /** Where the entry should get to (issue 14's figures, from the peers'); shown, not enforced. */
  readonly targetBytes?: number;
  /** An optional layer: the name of the entry it is added to; the row shows the difference. */
  readonly over?: string;
  /** A peer's package, when the entry bundles one: left out when it is not installed. */
  readonly peer?: string;
  /**
   * The same entry built on the floor (bench/size-floor/: the orchestration written by hand for the fewest bytes,
   * held to main's own tests by `npm run test:floor`): measured in the same run, printed as its own row and
   * beside the budget. It has no budget: it says how far down the budget can come, the same way measured.
   */
  readonly floorSource?: string;
}

function versionOf(packageName: string): string | undefined {
  const url = new URL(`../node_modules/${packageName}/package.json`, import.meta.url);
  if (!existsSync(url)) return undefined;
  return (JSON.parse(readFileSync(url, "utf8")) as { version: string }).version;
}

const LEAN = "createLeanFetch (retries, timeouts, Retry-After, body replay)";

const entries: Entry[] = [
  {
    name: "compose(timeout, retry, timeout)",
    // Used as an application would, so that the bundle keeps what a real caller pays for.
    source: `
      import { compose, retry, timeout } from "../src/index.ts";
      export const resilient = compose(timeout(30_000), retry({ attempts: 4 }), timeout(5_000));
    `,
    floorSource: `
      import { compose } from "../src/index.ts";
      import { retry, timeout } from "./size-floor/policies.ts";
      export const resilient = compose(timeout(30_000), retry({ attempts: 4 }), timeout(5_000));
    `,
    // 4,413 with the retry's beforeAttempt (the gate after each wait, review of 11/12); 4,495 with telemetry
    // (issue 15): the listeners' check and guarded loop, and the timeout's new `timeout` event; 4,504 with the
    // outcomes (the shared 2^31−1 ms check)
    // 4,356 once createFetch has its own loop and retry() no longer carries a runner shared with it (issue 14);
    // 4,349 with env's errors made by the common optionError; 4,370 with the review of issue 15 (retry's elapsedMs
    // in whole ms, an async listener's rejection handled)
    budgetBytes: 4370,
    targetBytes: 3072,
  },
  {
    name: "createFetch() (defaults: + the default breaker)",
    source: `
      import { createFetch } from "../src/index.ts";
      export const resilientFetch = createFetch();
    `,
    floorSource: `
      import { floorCreateFetch } from "./size-floor/fetch.ts";
      export const resilientFetch = floorCreateFetch();
    `,
    // 13,474 once the refusal base class (issue 15) joined the pipeline work (issue 14); 13,616 with the retry
    // fixes of the review of 11/12 (the deadline, circuit, pause and body checks before each retry)
    // 14,293: the review of 11/12 fixed, and KeyedRegistry keeping open circuits (+44 B); 13,811 once logging
    // and metrics became listeners (issue 15), bundled only by a client given logTo or metricsTo; 13,896 with
    // issue 15's outcomes (+85 B: fallback reasons that tell a timeout and an open circuit apart, a shouldRetry
    // answering anything but a boolean refused, the 2^31−1 ms check shared by every duration)
    // 14,233 with a Request's body kept for a retry of a request that never left (ky#692, issue 11: +280 B) and
    // that only where the runtime can tell (+61 B)
    // Issue 14, measured before ky#692 joined: 13,303 once stream replay became the opt-in replayStreams layer,
    // 13,158 once the fallback became the opt-in fetchFallback layer, 12,827 with the retry written as
    // createFetch's own loop; 13,164 once merged with ky#692; 13,141 with option tables marked pure, 12,998 with
    // createFetch checking the retry's options itself (no retrySettings), 12,999 (gzip's +1 B of noise) once
    // retry() lost the runner shared with createFetch, 12,995 with env's errors made by the common optionError
    // 13,041 with the review of issue 15 (+46 B: the origin of a breaker the user's function made, retry's whole
    // elapsedMs, an async listener's rejection handled, a nameless error named Error in every createFetch event)
    // 13,043 with a GET's deadline signal left unbuilt (+2 B; -0.5 KB allocated per call under a total deadline)
    // 13,091 with the review of issue 14 (+48 B: a cut attempt reported when its signal aborts, +46; a response's
    // body let go when a backoff function throws, +2); 13,122 with that report's watcher made apart from the
    // attempt, which then holds no closure (+31 B; in memory with the bench group's mix: defaults 1.04-1.10 -> 1.02-1.04)
    // 13,117 with the option checks in their own module (http/fetch-options.ts), shared with the floor
    budgetBytes: 13_117,
    targetBytes: 7680,
  },
  {
    name: LEAN,
    source: `
      import { createLeanFetch } from "../src/index.ts";
      export const resilientFetch = createLeanFetch();
    `,
    floorSource: `
      import { floorLeanFetch } from "./size-floor/fetch.ts";
      export const resilientFetch = floorLeanFetch();
    `,
    // 11,411 before, 10,789 once logging and metrics became listeners, 10,893 with outcomes (issue 15), 11,250
    // with ky#692's kept Request body (issue 11); 10,271 once stream replay became the opt-in replayStreams layer
    // (issue 14), 10,118 once the fallback became the opt-in fetchFallback layer, 9,788 with the retry written as
    // createFetch's own loop; 10,153 with ky#692; 10,114 with option tables marked pure; 9,953 with
    // createFetch checking the retry's options itself (no retrySettings); 9,945 with env's errors made by the
    // common optionError; 9,959 with the review of issue 15; 9,960 with a GET's deadline signal left unbuilt;
    // 10,011 with the review of issue 14 (+51 B: a cut attempt reported when its signal aborts, a response's body
    // let go when a backoff function throws); 10,043 with that report's watcher made apart from the attempt
    // 10,024 with the option checks in their own module
    budgetBytes: 10_024,
    targetBytes: 5120,
  },
  {
    name: "+ breaker: perOriginBreaker()",
    over: LEAN,
    source: `
      import { createLeanFetch, perOriginBreaker } from "../src/index.ts";
      export const resilientFetch = createLeanFetch({ breaker: perOriginBreaker() });
    `,
  },
  {
    name: "+ bulkhead: (origin) => bulkhead(…)",
    over: LEAN,
    source: `
      import { bulkhead, createLeanFetch } from "../src/index.ts";
      export const resilientFetch = createLeanFetch({ bulkhead: () => bulkhead({ limit: 6 }) });
    `,
  },
  {
    name: "+ fallback: fetchFallback(…)",
    over: LEAN,
    source: `
      import { createLeanFetch, fetchFallback } from "../src/index.ts";
      export const resilientFetch = createLeanFetch({ fallback: fetchFallback(() => new Response("offline")) });
    `,
  },
  {
    name: "+ replayStreams (a streamed body sent again)",
    over: LEAN,
    source: `
      import { createLeanFetch, replayStreams } from "../src/index.ts";
      export const resilientFetch = createLeanFetch({ replayStreams });
    `,
  },
  {
    name: "+ budget: retryBudget()",
    over: LEAN,
    source: `
      import { createLeanFetch, retryBudget } from "../src/index.ts";
      export const resilientFetch = createLeanFetch({ budget: retryBudget() });
    `,
  },
  {
    name: "+ telemetry: logTo(console)",
    over: LEAN,
    source: `
      import { createLeanFetch, logTo } from "../src/index.ts";
      export const resilientFetch = createLeanFetch({ telemetry: logTo(console) });
    `,
  },
  {
    name: "+ telemetry: metricsTo(sink)",
    over: LEAN,
    source: `
      import { createLeanFetch, metricsTo } from "../src/index.ts";
      export const resilientFetch = createLeanFetch({ telemetry: metricsTo({ count() {}, timing() {} }) });
    `,
  },
  {
    name: "circuitBreaker() alone",
    source: `
      import { circuitBreaker } from "../src/index.ts";
      export const breaker = circuitBreaker();
    `,
  },
  {
    name: "everything in src/index.ts",
    source: `export * from "../src/index.ts";`,
  },
  {
    name: `ky ${versionOf("ky")}`,
    peer: "ky",
    // All of ky: its default export is one instance whose methods reach the whole library.
    source: `export { default } from "ky";`,
  },
  {
    name: `ofetch ${versionOf("ofetch")}`,
    peer: "ofetch",
    source: `export { ofetch } from "ofetch";`,
  },
  {
    name: `p-retry ${versionOf("p-retry")}`,
    peer: "p-retry",
    source: `export { default } from "p-retry";`,
  },
];

interface Measured {
  readonly minifiedBytes: number;
  readonly gzippedBytes: number;
  readonly metafile: Metafile;
}

async function measure(entry: Entry, source = entry.source): Promise<Measured> {
  const result = await build({
    stdin: { contents: source, resolveDir: import.meta.dirname, sourcefile: "entry.ts", loader: "ts" },
    bundle: true,
    minify: true,
    treeShaking: true,
    format: "esm",
    platform: "neutral",
    write: false,
    metafile: true,
    logLevel: "warning",
  });
  const code = result.outputFiles[0]?.contents;
  if (code === undefined) throw new Error(`esbuild produced no output for "${entry.name}"`);
  return {
    minifiedBytes: code.byteLength,
    gzippedBytes: gzipSync(code, { level: 9 }).byteLength,
    metafile: result.metafile,
  };
}

const why = process.argv.indexOf("--why");
if (why >= 0) {
  const name = process.argv[why + 1] ?? "";
  const entry = entries.find((e) => e.name.startsWith(name));
  if (entry === undefined)
    throw new Error(`no entry named "${name}"; entries: ${entries.map((e) => e.name).join("; ")}`);
  const { metafile, minifiedBytes, gzippedBytes } = await measure(entry);
  const inputs = Object.values(metafile.outputs)[0]?.inputs ?? {};
  const rows = Object.entries(inputs)
    .filter(([, input]) => input.bytesInOutput > 0)
    .sort(([, a], [, b]) => b.bytesInOutput - a.bytesInOutput)
    .map(([path, input]) => [path, input.bytesInOutput.toLocaleString("en-US")]);
  console.log(`${entry.name}: ${minifiedBytes.toLocaleString("en-US")} B minified, ${gzippedBytes} B min+gzip`);
  console.log(table(["module", "min B"], rows, [false, true]));
  process.exit(0);
}

const measured = new Map<string, Measured>();
const rows: string[][] = [];
const bytes = (n: number): string => n.toLocaleString("en-US");
let overBudget = 0;
for (const entry of entries) {
  if (entry.peer !== undefined && versionOf(entry.peer) === undefined) {
    rows.push([`${entry.peer} (not installed)`, "", "", "", "", "", ""]);
    continue;
  }
  const size = await measure(entry);
  measured.set(entry.name, size);
  const floor = entry.floorSource === undefined ? undefined : await measure(entry, entry.floorSource);
  const base = entry.over === undefined ? undefined : measured.get(entry.over);
  const shown = (n: number, baseBytes: number | undefined): string =>
    baseBytes === undefined ? bytes(n) : `+${bytes(n - baseBytes)}`;
  const within = entry.budgetBytes === undefined || size.gzippedBytes <= entry.budgetBytes;
  if (!within) overBudget++;
  rows.push([
    entry.peer === undefined ? entry.name : `${entry.name} (peer)`,
    shown(size.minifiedBytes, base?.minifiedBytes),
    shown(size.gzippedBytes, base?.gzippedBytes),
    floor === undefined ? "" : bytes(floor.gzippedBytes),
    entry.budgetBytes === undefined ? "—" : bytes(entry.budgetBytes),
    entry.budgetBytes === undefined ? "" : within ? "OK" : "OVER",
    entry.targetBytes === undefined
      ? ""
      : `${bytes(entry.targetBytes)} ${size.gzippedBytes <= entry.targetBytes ? "met" : "not yet"}`,
  ]);
  if (floor !== undefined) {
    const target = entry.targetBytes;
    rows.push([
      "  floor (bench/size-floor, same tests)",
      bytes(floor.minifiedBytes),
      bytes(floor.gzippedBytes),
      "",
      "—",
      "",
      target === undefined
        ? ""
        : floor.gzippedBytes <= target
          ? `${bytes(target)} reachable`
          : `${bytes(target)} below the floor by ${bytes(floor.gzippedBytes - target)}`,
    ]);
  }
}

console.log("esbuild: bundle, minify, ESM, platform neutral; gzip level 9; budgets are on min+gzip");
console.log("a row starting with + is an optional layer: what it adds to createLeanFetch()");
console.log(
  "floor: the same entry with the orchestration hand-written for size (bench/size-floor), this run; no budget",
);
console.log(
  table(["entry", "min B", "min+gzip B", "floor B", "budget B", "", "target B"], rows, [
    false,
    true,
    true,
    true,
    true,
    false,
    false,
  ]),
);
if (overBudget > 0) {
  console.error(`\n${overBudget} ${overBudget === 1 ? "entry is" : "entries are"} over budget`);
  process.exitCode = 1;
}
