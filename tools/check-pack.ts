/**
 * Fails when `npm pack` would ship anything users do not need: only dist/, README, LICENSE, CHANGELOG and
 * package.json may be in the tarball, and every subpath export must point at a file that is in it.
 */
import { readFileSync } from "node:fs";

interface PackResult {
  files: Array<{ path: string; size: number }>;
  size: number;
  unpackedSize: number;
}

const [result] = JSON.parse(readFileSync(process.argv[2] ?? ".pack.json", "utf8")) as PackResult[];
if (!result) throw new Error("npm pack --json printed nothing");
const allowed = /^(dist\/.+\.(js|d\.ts)|README\.md|LICENSE|CHANGELOG\.md|package\.json)$/;
const unexpected = result.files.filter((f) => !allowed.test(f.path)).map((f) => f.path);
const shipped = new Set(result.files.map((f) => f.path));
const pkg = JSON.parse(readFileSync("package.json", "utf8")) as {
  exports: Record<string, string | Record<string, string>>;
};
const missing: string[] = [];
for (const [subpath, target] of Object.entries(pkg.exports)) {
  for (const file of typeof target === "string" ? [target] : Object.values(target)) {
    if (!shipped.has(file.replace(/^\.\//, ""))) missing.push(`${subpath} → ${file}`);
  }
}
console.log(`npm pack: ${result.files.length} files, ${result.size} bytes packed, ${result.unpackedSize} unpacked`);
if (unexpected.length > 0) console.error(`not for users: ${unexpected.join(", ")}`);
if (missing.length > 0) console.error(`exports pointing at files not in the package: ${missing.join(", ")}`);
if (unexpected.length > 0 || missing.length > 0) process.exit(1);
