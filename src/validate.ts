/**
 * Option checks shared by every policy. Each throws at construction with a message that names the policy,
 * the option and the value, so a typo in configuration fails loudly instead of producing a storm later.
 */

import { MAX_TIMER_DELAY_MS } from "./environment.ts";

/** A value as option errors show it: strings quoted, objects by their tag, functions as "a function". */
export function describeValue(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "function") return "a function";
  // Objects and symbols by their tag (`[object Array]`); numbers, booleans, bigints, null and undefined as written.
  return (typeof value === "object" && value !== null) || typeof value === "symbol"
    ? Object.prototype.toString.call(value)
    : String(value);
}

/** `owner: option "name" must be …, got …` — the one message shape every validator uses. */
export function optionError<E extends ErrorConstructor>(
  Kind: E,
  owner: string,
  name: string,
  requirement: string,
  value: unknown,
): InstanceType<E> {
  return new Kind(`${owner}: option "${name}" must be ${requirement}, got ${describeValue(value)}`) as InstanceType<E>;
}

export function requireNumber(owner: string, name: string, value: unknown): number {
  return requireNumberWhere(owner, name, value, (n) => !Number.isNaN(n), "a number");
}

/** A number (else a TypeError) for which `isValid` holds (else a RangeError that states `requirement`). */
function requireNumberWhere(
  owner: string,
  name: string,
  value: unknown,
  isValid: (n: number) => boolean,
  requirement: string,
): number {
  if (typeof value !== "number") throw optionError(TypeError, owner, name, "a number", value);
  if (!isValid(value)) throw optionError(RangeError, owner, name, requirement, value);
  return value;
}

/** A duration or size: finite and ≥ `min` (0 unless said). */
export function requireFiniteAtLeast(owner: string, name: string, value: unknown, min = 0): number {
  return requireNumberWhere(owner, name, value, (n) => Number.isFinite(n) && n >= min, `a finite number ≥ ${min}`);
}

/** A cap that may be `Infinity` (no cap) but not negative or NaN. */
export function requireLimitAtLeast(owner: string, name: string, value: unknown, min = 0): number {
  return requireNumberWhere(owner, name, value, (n) => n >= min, `a number ≥ ${min} (Infinity for no limit)`);
}

/**
 * A duration the runtime's timers (and the fleet's messages) can hold: from `min` to 2^31−1 ms, about 24.8 days.
 * Past it `setTimeout` fires at once, and the fleet's protocol refuses the value.
 */
export function requireDurationMs(owner: string, name: string, value: unknown, min = 0): number {
  return requireNumberWhere(
    owner,
    name,
    value,
    (n) => n >= min && n <= MAX_TIMER_DELAY_MS,
    `from ${min} to ${MAX_TIMER_DELAY_MS} (2^31−1)`,
  );
}

export function requireIntegerAtLeast(owner: string, name: string, value: unknown, min: number): number {
  return requireNumberWhere(owner, name, value, (n) => Number.isInteger(n) && n >= min, `an integer ≥ ${min}`);
}

export function requireFunction<F>(owner: string, name: string, value: unknown): F {
  if (typeof value !== "function") throw optionError(TypeError, owner, name, "a function", value);
  return value as F;
}

export function optionalFunction<F>(owner: string, name: string, value: unknown): F | undefined {
  return value === undefined ? undefined : requireFunction<F>(owner, name, value);
}

/** An object with the given methods (a logger, a metrics sink), or `undefined` when the option is left out. */
export function optionalSink<S>(
  owner: string,
  name: string,
  value: unknown,
  methods: readonly string[],
): S | undefined {
  if (value === undefined) return undefined;
  for (const method of methods) {
    if (typeof (value as Record<string, unknown> | null)?.[method] !== "function") {
      const list = methods.length === 1 ? `a ${methods[0]} method` : `${methods.join(" and ")} methods`;
      throw optionError(TypeError, owner, name, `an object with ${list}`, value);
    }
  }
  return value as S;
}

export function requireOneOf<T extends string>(owner: string, name: string, value: unknown, allowed: readonly T[]): T {
  if (typeof value !== "string" || !(allowed as readonly string[]).includes(value)) {
    throw optionError(RangeError, owner, name, `one of ${allowed.map((a) => `"${a}"`).join(", ")}`, value);
  }
  return value as T;
}

/**
 * Rejects misspelt option names (`attempt` for `attempts`): silently ignoring them hides configuration bugs.
 * Rejects `null` too, the one rule for it everywhere: an option left out (or `undefined`) takes its default;
 * `null` is never a value staunch accepts, so it fails here rather than meaning "the default" for some options
 * and "a bad value" for others.
 */
export function requireKnownKeys(owner: string, options: object, known: readonly string[]): void {
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) {
      throw new TypeError(`${owner}: unknown option "${key}" (known: ${known.join(", ")})`);
    }
    if ((options as Record<string, unknown>)[key] === null) {
      throw optionError(TypeError, owner, key, "left out (or undefined) for its default, not null", null);
    }
  }
}

/**
 * An options object: a plain object (or `undefined`, for all defaults). An array, a function, a class instance
 * (a policy passed where its options were expected) would pass a key check with no keys and be ignored.
 */
export function requireOptionsObject(owner: string, options: unknown): Record<string, unknown> {
  if (options === undefined) return {};
  if (options === null || typeof options !== "object") {
    throw new TypeError(`${owner}: options must be an object, got ${describeValue(options)}`);
  }
  if (!isPlainObject(options)) {
    throw new TypeError(`${owner}: options must be a plain object of options, got ${describeValue(options)}`);
  }
  return options as Record<string, unknown>;
}

/** Made by `{…}` or `Object.create(null)`, in this realm or another (an iframe's objects have their own prototype). */
function isPlainObject(value: object): boolean {
  const prototype = Object.getPrototypeOf(value) as object | null;
  return prototype === null || Object.getPrototypeOf(prototype) === null;
}
