/**
 * Every runtime export of every public entry point carries TSDoc with an `@example` (the API reference,
 * npm run docs, checks that each is documented; this checks that each shows how it is used), and every
 * `@example` block of src/ type-checks against the sources, as a user's module importing "staunch" would, with
 * the conventions of the README's check (test/node/readme-examples.test.ts): the main entry's names an example
 * uses without importing them are imported for it, and the reader's own names (`signal`, `ctx`, `env`…) come
 * from the shared givens. A ```ts worker block is checked with Cloudflare Workers' types.
 */

import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";
import { checkSnippetsOnce, repo, type Snippet, snippetFile, wrongSnippet } from "../support/typecheck-snippets.ts";

const src = join(repo, "src");
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

/**
 * The ```ts blocks after an `@example` tag in a source file's comments, without their ` * ` margin; and where
 * an `@example` is not followed by one, so that no example goes unchecked.
 */
function examples(file: string): { snippets: Snippet[]; unfenced: string[] } {
  const lines = readFileSync(file, "utf8").split("\n");
  const snippets: Snippet[] = [];
  const unfenced: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (!/^\s*\*\s*@example\b/.test(lines[i] as string)) continue;
    let open = i + 1;
    while (open < lines.length && /^\s*\*\s*$/.test(lines[open] as string)) open++;
    const fence = /^\s*\*\s*```(\S*)\s*(.*)$/.exec(lines[open] as string);
    const where = `${relative(repo, file)}:${open + 1}`;
    if (!fence || !["ts", "typescript"].includes(fence[1] as string)) {
      unfenced.push(where);
      continue;
    }
    const body: string[] = [];
    let j = open + 1;
    while (j < lines.length && !/^\s*\*\s*```\s*$/.test(lines[j] as string))
      body.push((lines[j++] as string).replace(/^\s*\* ?/, ""));
    snippets.push({ where, types: fence[2] === "worker" ? "worker" : "dom", code: body.join("\n") });
    i = j;
  }
  return { snippets, unfenced };
}

const found = sourceFiles(src).map(examples);
const snippets = found.flatMap((f) => f.snippets);
const results = checkSnippetsOnce("staunch-tsdoc-", snippets);
const fileName = snippetFile;
const wrong = wrongSnippet;

describe("TSDoc", () => {
  const docs = docsByName();
  for (const entry of entryPoints) {
    it(`every runtime export of ${entry} has an @example`, async () => {
      const module = (await import(join(src, entry))) as Record<string, unknown>;
      const missing = Object.keys(module).filter((name) => !(docs.get(name) ?? []).some((d) => d.includes("@example")));
      expect(missing).toEqual([]);
    });
  }

  it("every @example is a ```ts block, and they are found", () => {
    expect(found.flatMap((f) => f.unfenced)).toEqual([]);
    expect(snippets.length).toBeGreaterThan(100);
  });

  it("the check fails on a wrong example (a misspelt option)", () => {
    expect(results.get("dom")?.get(fileName(wrong))?.join("\n")).toMatch(/TS\d+: .*atempts/);
  });

  it("the givens and the sources compile", () => {
    const elsewhere = [...results].flatMap(([types, diagnostics]) =>
      [...diagnostics]
        .filter(([file]) => !/_ts_\d+\.ts$/.test(file) && file !== fileName(wrong))
        .map(([file, messages]) => `${types} ${file}: ${messages.join("; ")}`),
    );
    expect(elsewhere).toEqual([]);
  });

  for (const snippet of snippets) {
    it(`the example at ${snippet.where} type-checks${snippet.types === "worker" ? " (Workers' types)" : ""}`, () => {
      expect(results.get(snippet.types)?.get(fileName(snippet)) ?? []).toEqual([]);
    });
  }
});
