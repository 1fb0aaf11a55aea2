/**
 * The slice of vitest's API that the runtime-neutral suites in test/core use, on top of `Deno.test` and
 * `node:assert`, so those suites run unchanged under `deno test` (deno.json maps "vitest" here).
 */

import assert from "node:assert/strict";
import { inspect, isDeepStrictEqual } from "node:util";

type Body = () => void | Promise<void>;

const prefixes: string[] = [];
const beforeHooks: Body[][] = [[]];
const afterHooks: Body[][] = [[]];

export function describe(name: string, body: () => void): void {
  prefixes.push(name);
  beforeHooks.push([]);
  afterHooks.push([]);
  try {
    body();
  } finally {
    prefixes.pop();
    beforeHooks.pop();
    afterHooks.pop();
  }
}

export function beforeEach(hook: Body): void {
  beforeHooks.at(-1)?.push(hook);
}

export function afterEach(hook: Body): void {
  afterHooks.at(-1)?.push(hook);
}

export function it(name: string, body: Body, _timeoutMs?: number): void {
  const before = beforeHooks.flat();
  const after = afterHooks.flat().reverse();
  Deno.test({
    name: [...prefixes, name].join(" > "),
    // Policies clear their own timers; the sanitizers then double as a leak check.
    sanitizeOps: true,
    sanitizeResources: true,
    fn: async () => {
      for (const hook of before) await hook();
      try {
        await body();
      } finally {
        for (const hook of after) await hook();
      }
    },
  });
}
it.skip = (_name: string, _body: Body, _timeoutMs?: number): void => {};
it.skipIf = (condition: unknown) => (condition ? it.skip : it);

/** Values a Deno entry file provides before importing a shared suite (vitest's `provide`/`inject`). */
const provided = new Map<string, string>();
export function provide(key: string, value: string): void {
  provided.set(key, value);
}
export function inject(key: string): string {
  const value = provided.get(key);
  if (value === undefined) throw new Error(`nothing provided for "${key}"`);
  return value;
}
export const test = it;

function fail(message: string): never {
  throw new assert.AssertionError({ message });
}

function matchesError(error: unknown, expected: unknown): boolean {
  if (expected === undefined) return true;
  if (typeof expected === "function") return error instanceof (expected as new () => unknown);
  const message = error instanceof Error ? error.message : String(error);
  if (typeof expected === "string") return message.includes(expected);
  if (expected instanceof RegExp) return expected.test(message);
  if (expected instanceof Error) return message === expected.message;
  return false;
}

function matchers(actual: unknown, negate: boolean) {
  const check = (pass: boolean, what: string): void => {
    if (pass === negate) fail(`expected ${inspect(actual)} ${negate ? "not " : ""}${what}`);
  };
  return {
    toBe: (expected: unknown) => check(Object.is(actual, expected), `to be ${inspect(expected)}`),
    toEqual: (expected: unknown) => check(isDeepStrictEqual(actual, expected), `to equal ${inspect(expected)}`),
    toStrictEqual: (expected: unknown) => check(isDeepStrictEqual(actual, expected), `to equal ${inspect(expected)}`),
    toBeGreaterThan: (n: number) => check((actual as number) > n, `to be > ${n}`),
    toBeGreaterThanOrEqual: (n: number) => check((actual as number) >= n, `to be ≥ ${n}`),
    toBeLessThan: (n: number) => check((actual as number) < n, `to be < ${n}`),
    toBeLessThanOrEqual: (n: number) => check((actual as number) <= n, `to be ≤ ${n}`),
    toBeCloseTo: (n: number, digits = 2) =>
      check(Math.abs((actual as number) - n) < 10 ** -digits / 2, `to be close to ${n}`),
    toBeInstanceOf: (type: new (...args: never[]) => unknown) => check(actual instanceof type, `to be a ${type.name}`),
    toBeUndefined: () => check(actual === undefined, "to be undefined"),
    toBeDefined: () => check(actual !== undefined, "to be defined"),
    toBeNull: () => check(actual === null, "to be null"),
    toBeTruthy: () => check(Boolean(actual), "to be truthy"),
    toBeFalsy: () => check(!actual, "to be falsy"),
    toMatch: (pattern: RegExp | string) =>
      check(
        typeof actual === "string" && (typeof pattern === "string" ? actual.includes(pattern) : pattern.test(actual)),
        `to match ${pattern}`,
      ),
    toContain: (item: unknown) =>
      check((actual as { includes(x: unknown): boolean }).includes(item), `to contain ${inspect(item)}`),
    toSatisfy: (predicate: (value: unknown) => boolean) => check(predicate(actual), "to satisfy the predicate"),
    toHaveLength: (n: number) => check((actual as { length: number }).length === n, `to have length ${n}`),
    toMatchObject: (expected: Record<string, unknown>) =>
      check(
        Object.entries(expected).every(([k, v]) => isDeepStrictEqual((actual as Record<string, unknown>)[k], v)),
        `to match ${inspect(expected)}`,
      ),
    toThrow: (expected?: unknown) => {
      let threw = false;
      let error: unknown;
      try {
        (actual as () => unknown)();
      } catch (e) {
        threw = true;
        error = e;
      }
      check(threw && matchesError(error, expected), `to throw ${inspect(expected)} (got ${inspect(error)})`);
    },
  };
}

export function expect(actual: unknown) {
  return {
    ...matchers(actual, false),
    not: matchers(actual, true),
    rejects: new Proxy({} as ReturnType<typeof matchers>, {
      get:
        (_t, key: string) =>
        async (...args: unknown[]) => {
          let error: unknown;
          try {
            await actual;
          } catch (e) {
            error = e;
            const m = matchers(
              key === "toThrow"
                ? () => {
                    throw e;
                  }
                : e,
              false,
            ) as Record<string, (...a: unknown[]) => void>;
            m[key]?.(...args);
            return;
          }
          fail(`expected a rejection, got a value ${inspect(error)}`);
        },
    }),
    resolves: new Proxy({} as ReturnType<typeof matchers>, {
      get:
        (_t, key: string) =>
        async (...args: unknown[]) => {
          const value = await actual;
          (matchers(value, false) as Record<string, (...a: unknown[]) => void>)[key]?.(...args);
        },
    }),
  };
}
