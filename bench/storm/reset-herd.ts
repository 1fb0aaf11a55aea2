/**
 * A fleet told to come back at one instant: what the jitter on server-asked waits does at a rate limit's reset.
 *
 * 200 clients (each its own `createFetch`, as separate processes would be) each send one request at a random
 * moment of the first second. Until the reset, 2 s in, the origin answers `429` with `Retry-After` set to the
 * reset as an HTTP date — the same instant for everyone, as a rate limiter's window reset is. After it, `200`.
 * Virtual time: the origin answers in 10 ms on the discrete-event clock, so the run is instant and the same on
 * every run.
 *
 * Without jitter, every client's wait ends in the same millisecond; with it, the returns spread over up to 20 %
 * of each client's wait. "Without" is the same createFetch with a random source fixed at 0, which is exactly
 * the unjittered wait (no backoff is drawn here: every retry follows a Retry-After).
 */

import { createFetch } from "../../src/index.ts";
import { seededRandom, VirtualClock } from "./virtual-clock.ts";

const FLEET = 200;
const EPOCH_MS = 1_700_000_000_000;
const RESET_AT_MS = 2_000;
const LATENCY_MS = 10;
const SLICE_MS = 100;
const PHASE_SEED = 0x7e5e7;

export interface HerdRun {
  readonly name: string;
  /** Origin requests in each 100 ms slice from the reset instant on. */
  readonly perSliceFromReset: readonly number[];
  /** Requests that got a 200. */
  readonly succeeded: number;
  /** The latest return after the reset, in ms after it. */
  readonly lastReturnMs: number;
}

async function run(name: string, randomFor: (client: number) => () => number): Promise<HerdRun> {
  const clock = new VirtualClock(EPOCH_MS);
  const elapsedMs = (): number => clock.now() - EPOCH_MS;
  const requestsMs: number[] = [];
  const retryAfter = new Date(EPOCH_MS + RESET_AT_MS).toUTCString();
  const origin = (): Promise<Response> => {
    const atMs = elapsedMs();
    requestsMs.push(atMs);
    return new Promise((resolve) => {
      clock.schedule(() => {
        resolve(
          atMs < RESET_AT_MS
            ? new Response("slow down", { status: 429, headers: { "retry-after": retryAfter } })
            : new Response("ok"),
        );
      }, LATENCY_MS);
    });
  };
  let succeeded = 0;
  const phases = seededRandom(PHASE_SEED);
  for (let client = 0; client < FLEET; client++) {
    const fetch = createFetch({ fetch: origin, env: clock.environment(randomFor(client)), breaker: false });
    clock.schedule(() => {
      void fetch("https://api.example/items").then(async (response) => {
        await response.arrayBuffer();
        if (response.ok) succeeded++;
      });
    }, phases() * 1_000);
  }
  await clock.runUntilIdle(EPOCH_MS + 60_000);
  const after = requestsMs.filter((ms) => ms >= RESET_AT_MS);
  const slices = Math.max(1, Math.ceil((Math.max(...after) - RESET_AT_MS + 1) / SLICE_MS));
  const perSliceFromReset = Array.from(
    { length: slices },
    (_, slice) =>
      after.filter((ms) => ms >= RESET_AT_MS + slice * SLICE_MS && ms < RESET_AT_MS + (slice + 1) * SLICE_MS).length,
  );
  return { name, perSliceFromReset, succeeded, lastReturnMs: Math.max(...after) - RESET_AT_MS };
}

/** Runs the fleet with and without the jitter. */
export async function resetHerd(): Promise<{ fleet: number; runs: HerdRun[] }> {
  const runs = [
    await run("without jitter (exact wait)", () => () => 0),
    await run("with jitter (staunch default)", (client) => seededRandom(0x1e7 + client)),
  ];
  return { fleet: FLEET, runs };
}
