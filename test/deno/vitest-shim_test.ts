import assert from "node:assert/strict";
import { expect } from "vitest";

/** A matcher vitest has and the shim does not, reached the way a suite would (the types hide it). */
const unimplemented = (chain: object) => (chain as Record<string, (key: string) => Promise<void>>).toHaveProperty("x");

Deno.test("the vitest shim fails a test that uses a matcher it lacks after .rejects", async () => {
  const rejected = Promise.reject(new Error("boom"));
  rejected.catch(() => {}); // the shim refuses before awaiting it
  await assert.rejects(async () => unimplemented(expect(rejected).rejects), {
    name: "TypeError",
    message: "expect(…).rejects.toHaveProperty() is not implemented by test/deno/vitest-shim.ts",
  });
});

Deno.test("the vitest shim fails a test that uses a matcher it lacks after .resolves", async () => {
  await assert.rejects(async () => unimplemented(expect(Promise.resolve({ x: 1 })).resolves), {
    name: "TypeError",
    message: "expect(…).resolves.toHaveProperty() is not implemented by test/deno/vitest-shim.ts",
  });
});

Deno.test("the vitest shim's .rejects fails when the promise resolves, and shows the value", async () => {
  await assert.rejects(async () => expect(Promise.resolve(42)).rejects.toThrow(), {
    message: "expected a rejection, got a value 42",
  });
});

Deno.test("the vitest shim names a matcher it lacks, with or without .not", () => {
  assert.throws(() => (expect({ x: 1 }) as unknown as Record<string, unknown>).toHaveProperty, {
    message: "expect(…).toHaveProperty() is not implemented by test/deno/vitest-shim.ts",
  });
  assert.throws(() => (expect({ x: 1 }).not as unknown as Record<string, unknown>).toHaveProperty, {
    message: "expect(…).not.toHaveProperty() is not implemented by test/deno/vitest-shim.ts",
  });
});
