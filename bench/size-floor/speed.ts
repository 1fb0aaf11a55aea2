/**
 * Is the floor bought with speed? A same-process A/B of main's createFetch / createLeanFetch / compose against
 * the floor's (bench/size-floor), over an in-memory fetch as bench/run.ts's "createFetch over an in-memory fetch"
 * group: alternating rounds (each goes first every other round), the median per-call time of each and the median of the per-round ratios
 * (floor / main; below 1 is faster). `node bench/size-floor/speed.ts`
 */
import { compose, createFetch, createLeanFetch, retry, timeout } from "../../src/index.ts";
import { floorCreateFetch, floorLeanFetch } from "./fetch.ts";
import { retry as floorRetry, timeout as floorTimeout } from "./policies.ts";

const response = new Response("ok");
const inMemoryFetch = (): Promise<Response> => Promise.resolve(response);
const url = "http://127.0.0.1:9/items";
const deadline = { totalTimeoutMs: 30_000 };
const put = { method: "PUT", body: new Uint8Array(64) };

type Run = () => Promise<unknown>;
const pairs: [string, Run, Run][] = [];
for (const [label, options] of [
  ["defaults", {}],
  ["30 s total timeout", deadline],
] as const) {
  const mainFetch = createFetch({ fetch: inMemoryFetch, ...options });
  const floorFetch = floorCreateFetch({ fetch: inMemoryFetch, ...options });
  const mainLean = createLeanFetch({ fetch: inMemoryFetch, ...options });
  const floorLean = floorLeanFetch({ fetch: inMemoryFetch, ...options });
  pairs.push([`createFetch, ${label}`, () => mainFetch(url), () => floorFetch(url)]);
  pairs.push([`createLeanFetch, ${label}`, () => mainLean(url), () => floorLean(url)]);
  pairs.push([`createLeanFetch, PUT 64 B, ${label}`, () => mainLean(url, put), () => floorLean(url, put)]);
}
const mainCompose = compose(timeout(30_000), retry({ attempts: 4 }), timeout(5_000));
const floorCompose = compose(floorTimeout(30_000), floorRetry({ attempts: 4 }), floorTimeout(5_000));
const operation = (): Promise<string> => Promise.resolve("ok");
pairs.push([
  "compose(timeout, retry, timeout)",
  () => mainCompose.execute(operation),
  () => floorCompose.execute(operation),
]);

const CALLS = 5_000;
const ROUNDS = 15;
const WARMUP = 3;
const perCallNs = async (run: Run): Promise<number> => {
  const started = performance.now();
  for (let i = 0; i < CALLS; i++) await run();
  return ((performance.now() - started) * 1e6) / CALLS;
};
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;

console.log(`${"case".padEnd(44)} ${"main ns".padStart(8)} ${"floor ns".padStart(8)} floor/main`);
for (const [name, mainRun, floorRun] of pairs) {
  const mains: number[] = [];
  const floors: number[] = [];
  const ratios: number[] = [];
  for (let round = 0; round < ROUNDS + WARMUP; round++) {
    // Each goes first every other round: whichever runs second in a round gets a warmer (or hotter) machine.
    const floorFirst = round % 2 === 1;
    const early = await perCallNs(floorFirst ? floorRun : mainRun);
    const late = await perCallNs(floorFirst ? mainRun : floorRun);
    const [m, f] = floorFirst ? [late, early] : [early, late];
    if (round < WARMUP) continue;
    mains.push(m);
    floors.push(f);
    ratios.push(f / m);
  }
  console.log(
    `${name.padEnd(44)} ${median(mains).toFixed(0).padStart(8)} ${median(floors).toFixed(0).padStart(8)} ${median(ratios).toFixed(3)}`,
  );
}
