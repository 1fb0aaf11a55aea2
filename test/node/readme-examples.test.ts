/**
 * Every ```ts block of the README and of the guides beside the code type-checks against the sources, as a
 * user's file importing "staunch" would: an example cannot drift from the API it shows (Polly compiles its
 * snippets for the same reason).
 *
 * How a block is read:
 * - ```ts — checked with the DOM's and Node's types (browsers, Node, Deno, bundlers).
 * - ```ts worker — checked with Cloudflare Workers' types (`caches.default`, `ExecutionContext`).
 * - ```ts fragment — not checked: keep these few, for text that is not code on its own.
 * A block that imports nothing from "staunch" is a continuation of its section, whose imports it takes as
 * given: the test imports the names of the main entry it uses. A block that imports from "staunch" must
 * import every name of it that it uses. The names a snippet takes from its reader's own code (`ctx`, `app`,
 * `callService`…) are declared in `givens` of test/support/typecheck-snippets.ts, shared with the check of
 * the TSDoc examples, with the types a reader's would have.
 */

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { createFetch, retry, TELEMETRY } from "../../src/index.ts";
import { checkSnippetsOnce, repo, type Snippet, snippetFile, wrongSnippet } from "../support/typecheck-snippets.ts";

const documents = ["README.md", "worker/README.md", "CONTRIBUTING.md", "bench/README.md", "docs/fleet.md"];

/** The ```ts blocks of a Markdown text (fences may be indented, inside a list item), except fragments. */
function tsBlocks(document: string, text: string): { snippets: Snippet[]; fragments: string[] } {
  const snippets: Snippet[] = [];
  const fragments: string[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)```(\S*)\s*(.*)$/.exec(lines[i] as string);
    if (!open) continue;
    const [, indent = "", language, marker] = open;
    const body: string[] = [];
    let j = i + 1;
    while (j < lines.length && !/^\s*```\s*$/.test(lines[j] as string))
      body.push((lines[j++] as string).slice(indent.length));
    const where = `${document}:${i + 1}`;
    if (language === "ts" || language === "typescript") {
      if (marker === "fragment") fragments.push(where);
      else snippets.push({ where, types: marker === "worker" ? "worker" : "dom", code: body.join("\n") });
    }
    i = j;
  }
  return { snippets, fragments };
}

/**
 * The README's table of events as code: each row's payload fields must be fields of its event types, so that a
 * field renamed in the code (or misnamed in the table) fails here as a snippet that does not compile.
 */
function eventTable(text: string): (Snippet & { readonly eventTypes: string[] })[] {
  const lines = text.split("\n");
  const header = lines.findIndex((line) => line.startsWith("| `type` | emitted by | payload"));
  const rows: (Snippet & { readonly eventTypes: string[] })[] = [];
  for (let i = header + 2; header !== -1 && lines[i]?.startsWith("|"); i++) {
    const [types = "", , payload = ""] = (lines[i] as string).split(" | ").map((cell) => cell.replace(/^\| /, ""));
    const names = (cell: string) => [...cell.matchAll(/`([^`]+)`/g)].map((m) => JSON.stringify(m[1]));
    const union = names(types).join(" | ");
    rows.push({
      eventTypes: names(types).map((name) => JSON.parse(name) as string),
      where: `README.md:${i + 1}`, // a row of the table, named as a block is
      types: "dom",
      code: [
        'import type { TelemetryEventOf } from "staunch";',
        `type Field = { [T in ${union}]: keyof TelemetryEventOf<T> }[${union}];`,
        `export const fields: Field[] = [${names(payload).join(", ")}];`,
      ].join("\n"),
    });
  }
  return rows;
}

/** The option names of each README options table (`| option | default |…`), under the heading above it. */
function optionTables(text: string): Map<string, string[]> {
  const tables = new Map<string, string[]>();
  let heading = "";
  let rows: string[] | undefined;
  for (const line of text.split("\n")) {
    if (line.startsWith("#")) heading = line;
    if (line.startsWith("| option | default |")) {
      rows = [];
      tables.set(heading, rows);
    } else if (rows && line.startsWith("| `")) rows.push(/^\| `(\w+)`/.exec(line)?.[1] ?? line);
    else if (!line.startsWith("| ---")) rows = undefined;
  }
  return tables;
}

/** The options a factory takes, as the TypeError for an unknown one lists them. */
function knownOptions(make: () => unknown): string[] {
  try {
    make();
  } catch (error) {
    return /\(known: ([^)]*)\)/.exec(String(error))?.[1]?.split(", ") ?? [];
  }
  return [];
}

const readme = readFileSync(join(repo, "README.md"), "utf8");
const read = documents.map((document) => tsBlocks(document, readFileSync(join(repo, document), "utf8")));
const tableRows = eventTable(readme);
const snippets = [...read.flatMap((r) => r.snippets), ...tableRows];
const results = checkSnippetsOnce("staunch-readme-", snippets);
const fileName = snippetFile;
const wrong = wrongSnippet;

describe("the documentation's TypeScript blocks", () => {
  it("are found, with few fragments left unchecked", () => {
    expect(snippets.length).toBeGreaterThan(30);
    expect(read.flatMap((r) => r.fragments).length).toBeLessThanOrEqual(3);
  });

  it("include a row of the events table for every event type", () => {
    expect(tableRows.flatMap((row) => row.eventTypes).sort()).toEqual(Object.values(TELEMETRY.events).sort());
  });

  it("the options tables of createFetch and retry list every option each takes", () => {
    const tables = optionTables(readme);
    const unknown = { "no such option": true } as never;
    expect(tables.get("## `createFetch`: a drop-in resilient `fetch`")?.sort()).toEqual(
      knownOptions(() => createFetch(unknown)).sort(),
    );
    expect(tables.get("### `retry(options)`")?.sort()).toEqual(knownOptions(() => retry(unknown)).sort());
  });

  it("the check fails on a wrong snippet (a misspelt option)", () => {
    expect(results.get("dom")?.get(fileName(wrong))?.join("\n")).toMatch(/TS\d+: .*atempts/);
  });

  it("the givens and the sources compile", () => {
    const elsewhere = [...results].flatMap(([types, diagnostics]) =>
      [...diagnostics]
        .filter(([file]) => !/_md_\d+\.ts$/.test(file) && file !== fileName(wrong))
        .map(([file, messages]) => `${types} ${file}: ${messages.join("; ")}`),
    );
    expect(elsewhere).toEqual([]);
  });

  for (const snippet of snippets) {
    it(`${snippet.where} type-checks${snippet.types === "worker" ? " (Workers' types)" : ""}`, () => {
      expect(results.get(snippet.types)?.get(fileName(snippet)) ?? []).toEqual([]);
    });
  }
});
