/**
 * Prints the public API: every name each entry point exports, values and types apart, resolved through
 * re-exports by the TypeScript checker. With two directories (`node tools/api-surface.ts OLD NEW`), prints
 * what was removed and added per entry point, for a CHANGELOG or a closing note.
 *
 * It uses TypeScript 5 from tools/docs (TypeScript 7, the project's compiler, has no JavaScript API): run
 * `npm run docs` once, or `npm --prefix tools/docs ci`, before it.
 */

import { createRequire } from "node:module";
import { join, resolve } from "node:path";

/** The few members of TypeScript 5's API used here (the project's own `typescript` types are TypeScript 7's). */
interface TypeScriptApi {
  createProgram(files: string[], options: object): Program;
  ScriptTarget: { ES2022: number };
  ModuleKind: { ESNext: number };
  ModuleResolutionKind: { Bundler: number };
  SymbolFlags: { Alias: number; Value: number };
}
interface TsSymbol {
  readonly name: string;
  readonly flags: number;
}
interface Program {
  getTypeChecker(): {
    getSymbolAtLocation(node: object): TsSymbol | undefined;
    getExportsOfModule(module: TsSymbol): TsSymbol[];
    getAliasedSymbol(symbol: TsSymbol): TsSymbol;
  };
  getSourceFile(file: string): object | undefined;
}

const require = createRequire(import.meta.url);
const ts = require(resolve(import.meta.dirname, "docs/node_modules/typescript")) as TypeScriptApi;

/** The package's entry points, as `package.json`'s `exports` names them. */
const ENTRIES: Record<string, string> = {
  staunch: "src/index.ts",
  "staunch/otel": "src/otel.ts",
  "staunch/chaos": "src/chaos.ts",
  "staunch/durable": "src/durable.ts",
};

type Surface = Map<string, { values: string[]; types: string[] }>;

function surfaceOf(root: string): Surface {
  const files = Object.values(ENTRIES).map((file) => join(root, file));
  const program = ts.createProgram(files, {
    allowImportingTsExtensions: true,
    noEmit: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    skipLibCheck: true,
  });
  const checker = program.getTypeChecker();
  const surface: Surface = new Map();
  for (const [entry, file] of Object.entries(ENTRIES)) {
    const source = program.getSourceFile(join(root, file));
    const module = source && checker.getSymbolAtLocation(source);
    if (module === undefined) continue; // an entry point this version did not have
    const values: string[] = [];
    const types: string[] = [];
    for (const symbol of checker.getExportsOfModule(module)) {
      const target = symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol;
      (target.flags & ts.SymbolFlags.Value ? values : types).push(symbol.name);
    }
    surface.set(entry, { values: values.sort(), types: types.sort() });
  }
  return surface;
}

const [first = ".", second] = process.argv.slice(2);
const before = surfaceOf(resolve(first));
if (second === undefined) {
  for (const [entry, { values, types }] of before) {
    console.log(`${entry}: ${values.length} values, ${types.length} types`);
    console.log(`  values: ${values.join(", ")}`);
    console.log(`  types: ${types.join(", ")}`);
  }
} else {
  const after = surfaceOf(resolve(second));
  for (const entry of Object.keys(ENTRIES)) {
    const old = before.get(entry) ?? { values: [], types: [] };
    const now = after.get(entry) ?? { values: [], types: [] };
    const count = (s: { values: string[]; types: string[] }) => s.values.length + s.types.length;
    console.log(`${entry}: ${count(old)} -> ${count(now)} names`);
    for (const kind of ["values", "types"] as const) {
      const removed = old[kind].filter((name) => !now[kind].includes(name));
      const added = now[kind].filter((name) => !old[kind].includes(name));
      if (removed.length > 0) console.log(`  ${kind} removed: ${removed.join(", ")}`);
      if (added.length > 0) console.log(`  ${kind} added: ${added.join(", ")}`);
    }
  }
}
