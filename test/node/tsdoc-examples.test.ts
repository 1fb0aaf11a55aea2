/**
 * Every runtime export of every public entry point carries TSDoc with an `@example`: the API reference
 * (npm run docs) checks that each is documented; this checks that each shows how it is used.
 */

import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const src = join(import.meta.dirname, "../../src");
const entryPoints = ["index.ts", "otel.ts", "chaos.ts", "durable.ts"];

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory()
      ? sourceFiles(join(dir, entry.name))
      : entry.name.endsWith(".ts")
        ? [join(dir, entry.name)]
        : [],
  );
}

/** The TSDoc block right above each `export function|class|const NAME`, by name (overloads: any of them). */
function docsByName(): Map<string, string[]> {
  const docs = new Map<string, string[]>();
  for (const file of sourceFiles(src)) {
    const text = readFileSync(file, "utf8");
    for (const match of text.matchAll(/^export (?:async )?(?:function|class|const) (\w+)/gm)) {
      const before = text.slice(0, match.index).trimEnd();
      const doc = before.endsWith("*/") ? before.slice(before.lastIndexOf("/**")) : "";
      const name = match[1] as string;
      docs.set(name, [...(docs.get(name) ?? []), doc]);
    }
  }
  return docs;
}

describe("TSDoc", () => {
  const docs = docsByName();
  for (const entry of entryPoints) {
    it(`every runtime export of ${entry} has an @example`, async () => {
      const module = (await import(join(src, entry))) as Record<string, unknown>;
      const missing = Object.keys(module).filter((name) => !(docs.get(name) ?? []).some((d) => d.includes("@example")));
      expect(missing).toEqual([]);
    });
  }
});
