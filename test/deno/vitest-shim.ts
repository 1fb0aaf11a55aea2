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

type Matchers = ReturnType<typeof matchers>;
const implemented = new Set(Object.keys(matchers(undefined, false)));

function notImplemented(chain: string, key: string | symbol): never {
  throw new TypeError(`expect(…)${chain}.${String(key)}() is not implemented by test/deno/vitest-shim.ts`);
}

/**
 * `target` with a guard: reading anything it lacks throws. A suite that uses a matcher this shim does not
 * implement must fail under Deno, never pass without checking.
 */
function guarded<T extends object>(target: T, chain: string): T {
  return new Proxy(target, {
    get: (t, key) => (typeof key === "string" && key in t ? t[key as keyof T] : notImplemented(chain, key)),
  });
}

/** `expect(…).rejects` / `.resolves`: each matcher awaits `actual`, then checks what it settled with. */
function settled(chain: ".rejects" | ".resolves", check: (name: keyof Matchers, args: unknown[]) => Promise<void>) {
  return new Proxy({} as Matchers, {
    get: (_target, key) => {
      if (typeof key !== "string" || !implemented.has(key)) return notImplemented(chain, key);
      return (...args: unknown[]) => check(key as keyof Matchers, args);
    },
  });
}

const call = (m: Matchers, name: keyof Matchers, args: unknown[]): void =>
  (m[name] as (...a: unknown[]) => void)(...args);

export function expect(actual: unknown) {
  return guarded(
    {
      ...matchers(actual, false),
      not: guarded(matchers(actual, true), ".not"),
      rejects: settled(".rejects", async (name, args) => {
        let value: unknown;
        try {
          value = await actual;
        } catch (e) {
          const thrower = () => {
            throw e;
          };
          call(matchers(name === "toThrow" ? thrower : e, false), name, args);
          return;
        }
        fail(`expected a rejection, got a value ${inspect(value)}`);
      }),
      resolves: settled(".resolves", async (name, args) => call(matchers(await actual, false), name, args)),
    },
    "",
  );
}
