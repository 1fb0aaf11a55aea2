/**
 * The machinery shared by the checks of the documentation's TypeScript (test/node/readme-examples.test.ts for
 * the Markdown guides, test/node/tsdoc-examples.test.ts for the `@example` blocks of src/): each snippet is a
 * user's module importing "staunch", type-checked against the sources by the project's own compiler, run once
 * per set of types on a temporary project whose `paths` map the package's entry points to src/.
 *
 * A snippet that imports nothing from the main entry is a continuation of its section or comment, whose
 * imports it takes as given: the main entry's names it uses are imported for it. A snippet that imports from
 * "staunch" must import every name of it that it uses. The names a snippet takes from its reader's own code
 * (`ctx`, `signal`, `callService`…) are declared in `givens` below, with the types a reader's would have.
 */

import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll } from "vitest";

export const repo = join(import.meta.dirname, "../..");

export type Types = "dom" | "worker";

export interface Snippet {
  /** Where it is, as `file:line` of its opening fence. */
  readonly where: string;
  readonly types: Types;
  readonly code: string;
}

/** The names src/index.ts exports, each with whether it is a type only. */
export function mainEntryExports(): Map<string, boolean> {
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
export function asModule(snippet: Snippet, exported: Map<string, boolean>): string {
  const { code } = snippet;
  // One line before the snippet's own, either way, so that its line numbers are the compiler's minus one.
  if (/from "(?:@staunch\/)?staunch"/.test(code)) return `// ${snippet.where}\n${code}\nexport {};\n`;
  // Names the snippet declares, or imports from a subpath ("staunch/otel"), are its own.
  const declared = new Set([
    ...[...code.matchAll(/\b(?:const|let|var|function|class|interface|type)\s+(\w+)/g)].map((m) => m[1]),
    ...[...code.matchAll(/import\s*(?:type\s*)?\{([^}]*)\}/g)].flatMap((m) =>
      (m[1] as string).split(",").map((name) => name.replace(/^\s*type\s+/, "").trim()),
    ),
  ]);
  const used = [...exported].filter(([name]) => !declared.has(name) && new RegExp(`\\b${name}\\b`).test(code));
  const names = used.map(([name, isType]) => (isType ? `type ${name}` : name));
  return `import { ${names.join(", ")} } from "staunch";\n${code}\nexport {};\n`;
}

/**
 * What the documentation's snippets take from their reader's own code. Ambient declarations: a snippet that declares
 * the same name itself shadows them.
 */
export const givens = {
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
interface Env { ORIGIN: string; STAUNCH_STATE: DurableObjectNamespace }
declare const env: Env;
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
export async function check(dir: string, types: Types, files: Map<string, string>): Promise<Map<string, string[]>> {
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

/** A snippet that must not type-check (a misspelt option): proof that a check can fail. */
export const wrongSnippet: Snippet = { where: "self-test:1", types: "dom", code: "retry({ atempts: 3 });" };

/** The file a snippet is checked as, named after where it stands. */
export const snippetFile = (snippet: Snippet): string => `${snippet.where.replace(/[^\w]+/g, "_")}.ts`;

/**
 * Registers, for the calling test file, one type-check of `snippets` and of {@link wrongSnippet} per set of
 * types, on a temporary project linked to the repository's node_modules (so `@types/node`, `hono`, `ky` and
 * `@opentelemetry/api` resolve), removed afterwards. Returns the errors by file, filled once `beforeAll` ran.
 */
export function checkSnippetsOnce(prefix: string, snippets: readonly Snippet[]): Map<Types, Map<string, string[]>> {
  const exported = mainEntryExports();
  const results = new Map<Types, Map<string, string[]>>();
  let dir = "";
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), prefix));
    symlinkSync(join(repo, "node_modules"), join(dir, "node_modules"));
    await Promise.all(
      (["dom", "worker"] as const).map(async (types) => {
        const files = new Map(
          [...snippets, wrongSnippet]
            .filter((s) => s.types === types)
            .map((s) => [snippetFile(s), asModule(s, exported)]),
        );
        results.set(types, await check(dir, types, files));
      }),
    );
  }, 120_000);
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  return results;
}
