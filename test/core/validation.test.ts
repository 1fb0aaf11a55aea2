import { describe, expect, it } from "vitest";
import { compose, exponentialBackoff, retry, timeout } from "../../src/index.ts";

type Case = [label: string, make: () => unknown, kind: ErrorConstructor, message: RegExp];

const cases: Case[] = [
  ["attempts 0", () => retry({ attempts: 0 }), RangeError, /retry: option "attempts" must be an integer ≥ 1, got 0/],
  ["attempts 1.5", () => retry({ attempts: 1.5 }), RangeError, /"attempts".*got 1\.5/],
  ["attempts NaN", () => retry({ attempts: Number.NaN }), RangeError, /"attempts".*got NaN/],
  [
    "attempts as a string",
    () => retry({ attempts: "3" as unknown as number }),
    TypeError,
    /"attempts" must be a number, got "3"/,
  ],
  ["maxElapsedMs negative", () => retry({ maxElapsedMs: -1 }), RangeError, /"maxElapsedMs".*got -1/],
  [
    "initialMs negative",
    () => retry({ backoff: { initialMs: -5 } }),
    RangeError,
    /retry\.backoff: option "initialMs".*got -5/,
  ],
  [
    "initialMs Infinity",
    () => retry({ backoff: { initialMs: Infinity } }),
    RangeError,
    /"initialMs" must be a finite number.*got Infinity/,
  ],
  [
    "maxMs below initialMs",
    () => retry({ backoff: { initialMs: 500, maxMs: 100 } }),
    RangeError,
    /"maxMs" \(100\) must be ≥ option "initialMs" \(500\)/,
  ],
  ["multiplier below 1", () => retry({ backoff: { multiplier: 0.5 } }), RangeError, /"multiplier".*≥ 1, got 0\.5/],
  [
    "unknown jitter",
    () => retry({ backoff: { jitter: "partial" as "full" } }),
    RangeError,
    /"jitter" must be one of "full", "equal", "decorrelated", "none", got "partial"/,
  ],
  ["misspelt retry option", () => retry({ attempt: 3 } as never), TypeError, /retry: unknown option "attempt"/],
  ["misspelt backoff option", () => exponentialBackoff({ initial: 3 } as never), TypeError, /unknown option "initial"/],
  [
    "shouldHandle not a function",
    () => retry({ shouldHandle: true as never }),
    TypeError,
    /"shouldHandle" must be a function, got true/,
  ],
  [
    "telemetry not a listener",
    () => retry({ telemetry: "log" as never }),
    TypeError,
    /"telemetry" must be a listener function or an array of them/,
  ],
  ["options not an object", () => retry(5 as never), TypeError, /retry: options must be an object, got 5/],
  [
    "env.sleep not a function",
    () => retry({ env: { sleep: 1 as never } }),
    TypeError,
    /"env\.sleep" must be a function/,
  ],
  ["timeout 0", () => timeout(0), RangeError, /timeout: option "ms" must be a finite number > 0, got 0/],
  ["timeout negative", () => timeout(-10), RangeError, /timeout: option "ms".*got -10/],
  ["timeout Infinity", () => timeout(Infinity), RangeError, /timeout: option "ms".*got Infinity/],
  ["timeout as a string", () => timeout("5s" as never), TypeError, /timeout: option "ms" must be a number, got "5s"/],
  ["timeout null", () => timeout(null as never), TypeError, /"ms" must be a number, got null/],
  ["attempts a bigint", () => retry({ attempts: 3n as never }), TypeError, /"attempts" must be a number, got 3$/],
  ["attempts an array", () => retry({ attempts: [3] as never }), TypeError, /got \[object Array\]$/],
  ["telemetry a symbol", () => retry({ telemetry: Symbol("x") as never }), TypeError, /got \[object Symbol\]$/],
  [
    "telemetry a boolean",
    () => retry({ telemetry: false as never }),
    TypeError,
    /"telemetry" must be a listener.*, got false/,
  ],
  [
    "telemetry an array with a non-function",
    () => retry({ telemetry: [() => {}, "log"] as never }),
    TypeError,
    /"telemetry" must be a listener function or an array of them, got \[object Array\]/,
  ],
  ["initialMs NaN", () => retry({ backoff: { initialMs: Number.NaN } }), RangeError, /a finite number ≥ 0, got NaN/],
  [
    "maxElapsedMs NaN",
    () => retry({ maxElapsedMs: Number.NaN }),
    RangeError,
    /"maxElapsedMs" must be a number ≥ 0 \(Infinity for no limit\), got NaN/,
  ],
  ["timeout with a function", () => timeout((() => 1) as never), TypeError, /"ms" must be a number, got a function/],
  ["compose with a non-policy", () => compose(retry(), {} as never), TypeError, /compose: argument 1 is not a policy/],
];

describe("bad options fail at construction", () => {
  for (const [label, make, kind, message] of cases) {
    it(`${label}: ${kind.name}`, () => {
      expect(make).toThrow(kind);
      expect(make).toThrow(message);
    });
  }
});
