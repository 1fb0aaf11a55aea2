import { describe, expect, it } from "vitest";
import { KeyedRegistry } from "../../src/keyed-registry.ts";

describe("KeyedRegistry", () => {
  it("drops the least recently used entry beyond its capacity", () => {
    const registry = new KeyedRegistry(2, (key) => ({ key }));
    registry.get("a");
    registry.get("b");
    registry.get("a");
    registry.get("c");
    expect([...registry.entries()].map(([key]) => key)).toEqual(["a", "c"]);
  });

  it("passes over the entries it is told to keep (an open circuit) when one must go", () => {
    const registry = new KeyedRegistry(
      3,
      (key) => ({ key, open: key === "open" }),
      (v) => v.open,
    );
    registry.get("open");
    for (const key of ["x", "y", "z", "w"]) registry.get(key);
    expect(registry.peek("open")).toEqual({ key: "open", open: true });
    expect(registry.size).toBe(3);
  });

  it("still stays within its capacity when every entry would be kept", () => {
    const registry = new KeyedRegistry(
      2,
      (key) => ({ key }),
      () => true,
    );
    for (const key of ["a", "b", "c"]) registry.get(key);
    expect([...registry.entries()].map(([key]) => key)).toEqual(["b", "c"]);
  });
});
