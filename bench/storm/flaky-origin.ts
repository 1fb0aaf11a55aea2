/**
 * A flaky origin on loopback: does the default breaker make it better, or turn it into an outage?
 *
 * A real HTTP server on 127.0.0.1 (an OS-chosen port) fails 30 % of the requests it gets — a third each
 * answered `503`, reset (socket destroyed) or stalled (never answered: the client's attempt timeout ends it) —
 * and answers `200` to the rest. Many callers, each calling in a loop (a new call as soon as the last one
 * ends) for a fixed time, through four clients in turn: createFetch with its defaults, createFetch with the
 * previous default breaker (5 failed attempts in a row), createFetch with `breaker: false`, and plain `fetch`. The clients time out alike: 200 ms per attempt, 3 s per call (plain
 * fetch: 3 s).
 *
 * Real time and a real network stack, so the figures move a little from run to run; the draws of the origin
 * come from a seeded source, so each run sees the same sequence of faults.
 */

import http from "node:http";
import type { AddressInfo } from "node:net";
import {
  circuitBreaker,
  consecutiveFailures,
  createFetch,
  type FetchFunction,
  isCircuitOpenError,
} from "../../src/index.ts";
import { seededRandom } from "./virtual-clock.ts";

export interface FlakyRun {
  readonly name: string;
  readonly calls: number;
  readonly succeeded: number;
  /** Calls refused by the breaker with CircuitOpenError. */
  readonly failedFast: number;
  /** Requests the origin received. */
  readonly originRequests: number;
}

export interface FlakyOptions {
  readonly callers: number;
  readonly durationMs: number;
  /** The share of requests that fail, split evenly between 503, reset and stall. */
  readonly failureRate: number;
}

interface Origin {
  readonly url: string;
  requests: number;
  close(): Promise<void>;
}

async function startFlakyOrigin(failureRate: number): Promise<Origin> {
  const random = seededRandom(0xf1a4);
  const origin = {
    url: "",
    requests: 0,
    close: async () => {},
  };
  const server = http.createServer((req, res) => {
    origin.requests++;
    const draw = random();
    req.resume();
    if (draw < failureRate / 3) {
      res.writeHead(503, { "content-type": "text/plain" }).end("unavailable");
    } else if (draw < (2 * failureRate) / 3) {
      req.socket.destroy();
    } else if (draw < failureRate) {
      // A stall: never answered; the client's timeout closes the connection.
    } else {
      res.writeHead(200, { "content-type": "text/plain" }).end("ok");
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return Object.assign(origin, {
    url: `http://127.0.0.1:${port}/items`,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  });
}

async function drive(name: string, fetch: FetchFunction, options: FlakyOptions): Promise<FlakyRun> {
  const origin = await startFlakyOrigin(options.failureRate);
  const endAt = Date.now() + options.durationMs;
  let calls = 0;
  let succeeded = 0;
  let failedFast = 0;
  const caller = async (): Promise<void> => {
    while (Date.now() < endAt) {
      calls++;
      try {
        const response = await fetch(origin.url);
        await response.arrayBuffer();
        if (response.ok) succeeded++;
      } catch (error) {
        if (isCircuitOpenError(error)) {
          failedFast++;
          // A real caller would not spin on a refusal; neither does this one (it would only skew the count).
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
      }
    }
  };
  await Promise.all(Array.from({ length: options.callers }, caller));
  const run = { name, calls, succeeded, failedFast, originRequests: origin.requests };
  await origin.close();
  return run;
}

/** Runs the three clients in turn against a fresh flaky origin each. */
export async function flakyOrigin(options: FlakyOptions): Promise<FlakyRun[]> {
  const timeouts = { attemptTimeoutMs: 200, totalTimeoutMs: 3_000 };
  // The previous default, for comparison in the same run: 5 failed attempts in a row, every retry counted (a
  // breaker around each attempt, inside the retry, as createFetch had it).
  const previous = circuitBreaker({ strategy: consecutiveFailures(5) });
  const previousDefault = createFetch({
    ...timeouts,
    breaker: false,
    fetch: (input, init) => previous.execute(() => fetch(input, init)),
  });
  return [
    await drive("createFetch defaults", createFetch(timeouts), options),
    await drive("before: consecutiveFailures(5) per attempt", previousDefault, options),
    await drive("createFetch, breaker: false", createFetch({ ...timeouts, breaker: false }), options),
    await drive("plain fetch", (input, init) => fetch(input, { ...init, signal: AbortSignal.timeout(3_000) }), options),
  ];
}
