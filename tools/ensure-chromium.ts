/**
 * The first step of `npm test`: makes sure the browser suites have a Chromium, and installs one where there is
 * none, saying so in one line. When it cannot get one it stops `npm test` at once with the command that fixes
 * it: the browser suites are never skipped, and never left to fail minutes later.
 *
 * Which Chromium, and how to install one, are decided in test/support/chromium.ts; this runs the decision.
 */
import { spawnSync } from "node:child_process";
import path from "node:path";
import {
  type ChromiumInstaller,
  chromiumHost,
  findChromium,
  installHost,
  planChromiumInstall,
} from "../test/support/chromium.ts";

const label = "Chromium for the browser tests:";

/** Runs an installer's commands with no terminal; the reason it failed, or undefined. */
function run(installer: ChromiumInstaller): string | undefined {
  const deadline = Date.now() + installer.timeoutMs;
  for (const [command = "", ...args] of installer.commands) {
    const result = spawnSync(command, args, {
      // No stdin: apt-get and Playwright must never wait for an answer (CI has no one to give it).
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, ...installer.env },
      timeout: Math.max(deadline - Date.now(), 1),
      encoding: "utf8",
      maxBuffer: 256 * 1024 * 1024,
    });
    const shown = [path.basename(command), ...args].join(" ");
    if (result.error) {
      const timedOut = (result.error as NodeJS.ErrnoException).code === "ETIMEDOUT";
      return timedOut
        ? `${shown} took longer than ${installer.timeoutMs / 1000} s`
        : `${shown}: ${result.error.message}`;
    }
    if (result.status !== 0) {
      const output = `${result.stdout}\n${result.stderr}`.trim().split("\n").slice(-10).join("\n  ");
      return `${shown} exited with ${result.status ?? result.signal}:\n  ${output}`;
    }
  }
  return undefined;
}

const lookup = findChromium(chromiumHost());
if (lookup.kind === "found") {
  console.log(`${label} ${lookup.path} (${lookup.source})`);
  process.exit(0);
}
if (lookup.kind === "unusable-variable") {
  console.error(
    `${label} CHROMIUM_PATH is ${JSON.stringify(lookup.path)}, which is not an executable file. ` +
      "Point it at a Chromium or Chrome, or unset it to use (or install) one found on this machine.",
  );
  process.exit(1);
}

const plan = planChromiumInstall(installHost());
const failures: string[] = [];
for (const installer of plan.installers) {
  const attempt = failures.length === 0 ? "none found, installing" : "instead, installing";
  process.stdout.write(`${label} ${attempt} ${installer.description}… `);
  const startedMs = Date.now();
  const failure = run(installer);
  const installed = findChromium(chromiumHost());
  if (failure === undefined && installed.kind === "found") {
    console.log(`done in ${Math.round((Date.now() - startedMs) / 1000)} s: ${installed.path}`);
    process.exit(0);
  }
  console.log("failed.");
  failures.push(failure ?? "it finished, but left no Chromium where this looks for one");
}
console.error(
  `${failures.join("\n")}\n\nNo Chromium for the browser tests. To get one, run:\n\n  ${plan.fix}\n\n` +
    "(or set CHROMIUM_PATH to a Chromium or Chrome executable), then npm test again.",
);
process.exit(1);
