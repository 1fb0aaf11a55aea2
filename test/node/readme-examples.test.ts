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
 * `callService`…) are declared in `givens` below, with the types a reader's would have.
 *
 * The compiler is the project's own (node_modules/typescript), run once per set of types on a temporary
 * project whose `paths` map the package's entry points to src/.
 */

import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const repo = join(import.meta.dirname, "../..");
const documents = ["README.md", "worker/README.md", "CONTRIBUTING.md", "bench/README.md", "docs/fleet.md"];

type Types = "dom" | "worker";

interface Snippet {
  /** Where it is, as `document:line` of its opening fence. */
  readonly where: string;
  readonly types: Types;
  readonly code: string;
}

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

/** The names src/index.ts exports, each with whether it is a type only. */
function mainEntryExports(): Map<string, boolean> {
  const source = readFileSync(join(repo, "src/index.ts"), "utf8");
  const names = new Map<string, boolean>();
  for (const [, typeOnly, list] of source.matchAll(/^export (type )?\{([^}]*)\}/gm)) {
    for (const item of (list as string).split(",")) {
      const name = item.trim();
      if (!name) continue;
      const isType = Boolean(typeOnly) || name.startsWith("type ");
      names.set(name.replace(/^type /, ""), isType);
    }
  }
  return names;
}

/** The file the compiler sees for a snippet: its code, after an import of the main entry's names it uses. */
function asModule(snippet: Snippet, exported: Map<string, boolean>): string {
  const { code } = snippet;
  // One line before the snippet's own, either way, so that its line numbers are the compiler's minus one.
  if (/from "(?:@staunch\/)?staunch"/.test(code)) return `// ${snippet.where}\n${code}\nexport {};\n`;
  const declared = new Set(
    [...code.matchAll(/\b(?:const|let|var|function|class|interface|type)\s+(\w+)/g)].map((m) => m[1]),
  );
  const used = [...exported].filter(([name]) => !declared.has(name) && new RegExp(`\\b${name}\\b`).test(code));
  const names = used.map(([name, isType]) => (isType ? `type ${name}` : name));
  return `import { ${names.join(", ")} } from "staunch";\n${code}\nexport {};\n`;
}

/**
 * What the README's snippets take from their reader's own code. Ambient declarations: a snippet that declares
 * the same name itself shadows them.
 */
const givens = {
  common: `
declare const callerSignal: AbortSignal;
declare const signal: AbortSignal | undefined;
declare const url: string;
declare const searchUrl: string;
declare const request: Request;
declare const upstream: import("staunch").ResilientFetch;
declare const api: import("staunch").ResilientFetch;
declare const resilientFetch: import("staunch").ResilientFetch;
declare const breaker: import("staunch").CircuitBreaker;
declare const budget: import("staunch").WindowedRetryBudget;
declare const defaultValue: unknown;
declare const cachedFeed: unknown[] | undefined;
declare const logger: import("staunch").Logger;
declare const metrics: import("staunch").MetricsSink;
declare const traced: import("staunch").Policy;
declare const fleet: import("staunch").Coordinator;
declare const db: { users: { get(id: string): Promise<{ id: string; name: string }> } };
declare const pool: { query(sql: string, options: { signal?: AbortSignal | undefined }): Promise<unknown[]> };
declare const sql: string;
declare const backend: { call(): Promise<unknown> };
declare function callService(): Promise<unknown>;
declare function callPartnerApi(): Promise<unknown>;
declare function flakyOperation(): Promise<unknown>;
declare function seededRandom(seed: number): () => number;
declare function login(): Promise<string>;
declare function refreshToken(options: { signal?: AbortSignal | undefined }): Promise<string>;
declare class DeadlockError extends Error {}
declare class ServiceBusyError extends Error {}
interface Job { state: "pending" | "done" }
`,
  worker: `
interface Env { ORIGIN: string; STAUNCH_STATE?: DurableObjectNamespace }
declare const ctx: ExecutionContext;
declare const handler: import("staunch").WorkerFetchHandler;
declare const app: import("hono").Hono;
`,
};

const compilerOptions = (types: Types) => ({
  target: "es2022",
  module: "esnext",
  moduleResolution: "bundler",
  strict: true,
  noEmit: true,
  skipLibCheck: true,
  allowImportingTsExtensions: true,
  lib: types === "dom" ? ["es2022", "dom", "dom.iterable"] : ["es2022"],
  types: types === "dom" ? ["node"] : ["@cloudflare/workers-types"],
  // The package's entry points under npm's name and under Deno's (the README's import map).
  paths: Object.fromEntries(
    ["", "/otel", "/chaos", "/durable"].flatMap((entry) => {
      const source = [join(repo, "src", `${entry.slice(1) || "index"}.ts`)];
      return [
        [`staunch${entry}`, source],
        [`@staunch/staunch${entry}`, source],
      ];
    }),
  ),
});

/** `tsc` on the snippets of one set of types: the diagnostics, by snippet file name. */
async function check(dir: string, types: Types, files: Map<string, string>): Promise<Map<string, string[]>> {
  const project = join(dir, types);
  rmSync(project, { recursive: true, force: true });
  mkdirSync(project);
  writeFileSync(join(project, "givens.d.ts"), givens.common + (types === "worker" ? givens.worker : ""));
  for (const [name, text] of files) writeFileSync(join(project, name), text);
  writeFileSync(
    join(project, "tsconfig.json"),
    JSON.stringify({ compilerOptions: compilerOptions(types), files: ["givens.d.ts", ...files.keys()] }),
  );
  const tsc = join(repo, "node_modules/typescript/bin/tsc");
  const output = await promisify(execFile)(process.execPath, [tsc, "-p", project, "--pretty", "false"], {
    cwd: project,
    maxBuffer: 16 * 1024 * 1024,
  }).then(
    ({ stdout }) => stdout,
    (error: { stdout?: string; message: string }) => error.stdout || error.message,
  );
  const diagnostics = new Map<string, string[]>();
  let current: string[] | undefined;
  for (const line of output.split("\n")) {
    const diagnostic = /^(.+?)\((\d+),\d+\): error (TS\d+: .*)$/.exec(line);
    if (diagnostic) {
      const [, file = "", at, message] = diagnostic;
      const key = file.replace(/^.*[\\/]/, "");
      current = [...(diagnostics.get(key) ?? [])];
      current.push(`line ${Number(at) - 1}: ${message}`);
      diagnostics.set(key, current);
    } else if (line.trim() && current) {
      current[current.length - 1] += ` ${line.trim()}`;
    } else if (line.trim()) {
      diagnostics.set("(tsc)", [...(diagnostics.get("(tsc)") ?? []), line]);
    }
  }
  return diagnostics;
}

const exported = mainEntryExports();
const read = documents.map((document) => tsBlocks(document, readFileSync(join(repo, document), "utf8")));
const snippets = read.flatMap((r) => r.snippets);
const fileName = (snippet: Snippet) => `${snippet.where.replace(/[^\w]+/g, "_")}.ts`;

/**
 * A snippet that must not type-check (a misspelt option): proof that the check can fail. tsc reports no type
 * errors at all while any file has a syntax error, so this fails too then, beside the block at fault.
 */
const wrong: Snippet = { where: "self-test:1", types: "dom", code: "retry({ atempts: 3 });" };

let dir = "";
const results = new Map<Types, Map<string, string[]>>();

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "staunch-readme-"));
  // The repository's node_modules, so that `@types/node`, `hono`, `ky` and `@opentelemetry/api` resolve.
  symlinkSync(join(repo, "node_modules"), join(dir, "node_modules"));
  await Promise.all(
    (["dom", "worker"] as const).map(async (types) => {
      const files = new Map(
        [...snippets, wrong].filter((s) => s.types === types).map((s) => [fileName(s), asModule(s, exported)]),
      );
      results.set(types, await check(dir, types, files));
    }),
  );
}, 120_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("the documentation's TypeScript blocks", () => {
  it("are found, with few fragments left unchecked", () => {
    expect(snippets.length).toBeGreaterThan(30);
    expect(read.flatMap((r) => r.fragments).length).toBeLessThanOrEqual(3);
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
