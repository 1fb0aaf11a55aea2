/**
 * A bundle can hold two copies of staunch (two versions of it, pulled in by two dependencies): `instanceof`
 * fails across them, the refusal check must not.
 */

import { describe, expect, it } from "vitest";
import { consecutiveFailures } from "../../src/breaker-strategies.ts";
import { circuitBreaker } from "../../src/circuit-breaker.ts";
import * as errors from "../../src/errors.ts";
import { FakeClock } from "../support/fake-clock.ts";

describe("refusals from another copy of staunch", () => {
  it("a refusal made by another copy of the module is one, although instanceof says no", async () => {
    const anotherCopy: string = "../../src/errors.ts?another-copy"; // a second module instance of the same file
    const copy = (await import(anotherCopy)) as typeof errors;
    expect(copy.CircuitOpenError).not.toBe(errors.CircuitOpenError);
    const refusal = new copy.RateLimitedError("The rate limit is reached", 100);
    expect(refusal).not.toBeInstanceOf(errors.ExecutionRejectedError);
    expect(errors.isExecutionRejectedError(refusal)).toBe(true);
    const breaker = circuitBreaker({ strategy: consecutiveFailures(1), env: new FakeClock() });
    await breaker.execute(() => Promise.reject(refusal)).catch(() => {});
    expect(breaker.state).toBe("closed");
  });
});
