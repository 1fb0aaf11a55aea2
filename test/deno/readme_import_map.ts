/**
 * The README's Deno import map, as a Deno user writes it: copied from the README into a fresh project whose
 * `vendor/staunch/src` is this repository's `src/`, then `deno check` on an import of every entry point.
 * And the single mapping the README used to show, which fails with TS2307 on the subpaths.
 *
 * Not a `_test.ts` file: it needs to run `deno` and write a temporary project, which the other Deno suites
 * are not allowed to; `npm run test:deno` runs it on its own with those permissions.
 */
import assert from "node:assert/strict";

const repo = new URL("../../", import.meta.url);

/** The first ```jsonc block of the README's Deno quick start, without its comment line. */
async function readmeImportMap(): Promise<{ imports: Record<string, string> }> {
  const readme = await Deno.readTextFile(new URL("README.md", repo));
  const deno = readme.slice(readme.indexOf("\n### Deno\n"));
  const block = /```jsonc\n([\s\S]*?)```/.exec(deno)?.[1];
  assert.ok(block, "the README's Deno section has a deno.json block");
  return JSON.parse(block.replace(/^\s*\/\/.*$/gm, ""));
}

const entryPoints = `
import { createFetch } from "@staunch/staunch";
import { chaosFetch } from "@staunch/staunch/chaos";
import { durableObjectStore } from "@staunch/staunch/durable";
import { staunchTelemetry } from "@staunch/staunch/otel";
console.log(typeof createFetch, typeof chaosFetch, typeof durableObjectStore, typeof staunchTelemetry);
`;

/** `deno check` in a new project with `imports` as its import map; its exit code and what it printed. */
async function checkProject(imports: Record<string, string>): Promise<{ code: number; output: string }> {
  const project = await Deno.makeTempDir({ prefix: "staunch-deno-user-" });
  try {
    await Deno.mkdir(`${project}/vendor/staunch`, { recursive: true });
    await Deno.symlink(new URL("src", repo).pathname, `${project}/vendor/staunch/src`);
    // The repository's node_modules, so that `npm:@opentelemetry/api` resolves without a download.
    await Deno.symlink(new URL("node_modules", repo).pathname, `${project}/node_modules`);
    await Deno.writeTextFile(`${project}/deno.json`, JSON.stringify({ nodeModulesDir: "manual", imports }));
    await Deno.writeTextFile(`${project}/main.ts`, entryPoints);
    const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["check", "main.ts"],
      cwd: project,
      env: { DENO_NO_UPDATE_CHECK: "1", NO_COLOR: "1" },
    }).output();
    const decoder = new TextDecoder();
    return { code, output: decoder.decode(stdout) + decoder.decode(stderr) };
  } finally {
    await Deno.remove(project, { recursive: true });
  }
}

Deno.test("the README's import map reaches every entry point: deno check passes", async () => {
  const { imports } = await readmeImportMap();
  for (const entry of ["", "/otel", "/chaos", "/durable"]) assert.ok(`@staunch/staunch${entry}` in imports, entry);
  const { code, output } = await checkProject(imports);
  assert.equal(code, 0, output);
});

Deno.test("a single mapping of the package name does not reach the subpaths (TS2307)", async () => {
  const { code, output } = await checkProject({ "@staunch/staunch": "./vendor/staunch/src/index.ts" });
  assert.notEqual(code, 0);
  assert.equal(output.match(/TS2307/g)?.length, 3, output);
});
