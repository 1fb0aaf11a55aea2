/**
 * Which Chromium the tests use, how they start it, and how to get one where there is none. One answer for
 * vitest's browser project (vitest.config.ts) and for the Playwright end-to-end tests (test/e2e), so both
 * always launch the same browser; `tools/ensure-chromium.ts` (the first step of `npm test`) installs one
 * when this finds none.
 *
 * The decisions are pure functions of what the machine looks like (`ChromiumHost`); only `chromiumHost()`
 * looks at the real machine.
 */

import { accessSync, constants, readFileSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { chromium } from "playwright";

/**
 * How the tests start Chromium: headless, no sandbox (root), no GPU, and none of the background network calls
 * that a closed network would refuse.
 */
export const chromiumArgs = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** Debian's `chromium` package puts its launcher here. */
export const debianChromiumPath = "/usr/bin/chromium";

/** Names a Chromium (or Chrome, which Playwright drives the same way) goes by on `PATH`, most usual first. */
const namesOnPath = ["chromium", "chromium-browser", "google-chrome-stable", "google-chrome"];

/** What the decisions need to know about the machine. */
export interface ChromiumHost {
  /** `CHROMIUM_PATH`, the user's explicit choice; empty counts as unset. */
  readonly chromiumPathVariable: string | undefined;
  /** Where Playwright's own Chromium is when `npx playwright install chromium` has run. */
  readonly playwrightChromiumPath: string | undefined;
  /** The directories of `PATH`, in order. */
  readonly pathDirectories: readonly string[];
  readonly isExecutable: (file: string) => boolean;
}

export type ChromiumLookup =
  | { readonly kind: "found"; readonly path: string; readonly source: string }
  /** `CHROMIUM_PATH` names something that cannot run: never silently fall back to another browser. */
  | { readonly kind: "unusable-variable"; readonly path: string }
  | { readonly kind: "missing" };

/**
 * The Chromium to use: `CHROMIUM_PATH` if set, else Playwright's own, else Debian's, else the first usual
 * name on `PATH`. Playwright's comes before the system's because it is the build this Playwright is tested
 * against.
 */
export function findChromium(host: ChromiumHost): ChromiumLookup {
  const chosen = host.chromiumPathVariable;
  if (chosen) {
    return host.isExecutable(chosen)
      ? { kind: "found", path: chosen, source: "CHROMIUM_PATH" }
      : { kind: "unusable-variable", path: chosen };
  }
  const candidates = [
    ...(host.playwrightChromiumPath ? [{ path: host.playwrightChromiumPath, source: "Playwright's own" }] : []),
    { path: debianChromiumPath, source: "Debian's package" },
    ...host.pathDirectories.flatMap((dir) =>
      namesOnPath.map((name) => ({ path: path.join(dir, name), source: "on PATH" })),
    ),
  ];
  const found = candidates.find((candidate) => host.isExecutable(candidate.path));
  return found ? { kind: "found", ...found } : { kind: "missing" };
}

/** One way of installing Chromium: commands run in order, each without a terminal. */
export interface ChromiumInstaller {
  /** What it is doing, for the one line the user reads. */
  readonly description: string;
  readonly commands: readonly (readonly string[])[];
  /** Added to the environment of every command. */
  readonly env: Readonly<Record<string, string>>;
  /** The whole install gives up after this long. */
  readonly timeoutMs: number;
}

/** What `installChromium` needs to know about the machine. */
export interface InstallHost {
  readonly isRoot: boolean;
  /** The text of /etc/os-release, when there is one. */
  readonly osRelease: string | undefined;
  /** The Node binary and Playwright's CLI script, to run its installer without npx. */
  readonly node: string;
  readonly playwrightCli: string;
}

export interface ChromiumInstallPlan {
  /** Tried in order until one leaves a Chromium that `findChromium` finds. */
  readonly installers: readonly ChromiumInstaller[];
  /** The one command that fixes it when every installer failed. */
  readonly fix: string;
}

/** Debian itself, not a derivative: Ubuntu's `chromium` is a snap that does not install in a container. */
export function isDebian(osRelease: string | undefined): boolean {
  return /^ID="?debian"?$/m.test(osRelease ?? "");
}

/**
 * How to get a Chromium. As root on Debian, Debian's package: it needs only the Debian mirror, which any
 * Debian machine reaches, and gives a browser with all its libraries. Otherwise Playwright's installer, which
 * needs its download host: a stalled connection gives up after 10 s, a slow download after 5 minutes.
 */
export function planChromiumInstall(host: InstallHost): ChromiumInstallPlan {
  const onDebian = isDebian(host.osRelease);
  const playwright: ChromiumInstaller = {
    description: "Playwright's Chromium (npx playwright install chromium)",
    commands: [[host.node, host.playwrightCli, "install", "chromium"]],
    env: { PLAYWRIGHT_DOWNLOAD_CONNECTION_TIMEOUT: "10000" },
    timeoutMs: 300_000,
  };
  const debian: ChromiumInstaller = {
    description: "Debian's chromium package (apt-get update && apt-get install -y chromium)",
    commands: [
      ["apt-get", "update"],
      ["apt-get", "install", "-y", "chromium"],
    ],
    env: { DEBIAN_FRONTEND: "noninteractive" },
    timeoutMs: 600_000,
  };
  const sudo = host.isRoot ? "" : "sudo ";
  return {
    installers: onDebian && host.isRoot ? [debian, playwright] : [playwright],
    fix: onDebian ? `${sudo}apt-get update && ${sudo}apt-get install -y chromium` : "npx playwright install chromium",
  };
}

function isExecutableFile(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

/** This machine, as `findChromium` sees it. */
export function chromiumHost(env: NodeJS.ProcessEnv = process.env): ChromiumHost {
  let playwrightChromiumPath: string | undefined;
  try {
    playwrightChromiumPath = chromium.executablePath();
  } catch {
    // Playwright has no Chromium build for this platform.
  }
  return {
    chromiumPathVariable: env.CHROMIUM_PATH,
    playwrightChromiumPath,
    pathDirectories: (env.PATH ?? "").split(path.delimiter).filter(Boolean),
    isExecutable: isExecutableFile,
  };
}

/** This machine, as `planChromiumInstall` sees it. */
export function installHost(): InstallHost {
  let osRelease: string | undefined;
  try {
    osRelease = readFileSync("/etc/os-release", "utf8");
  } catch {
    // Not Linux, or a Linux without it: not Debian.
  }
  return {
    isRoot: process.getuid?.() === 0,
    osRelease,
    node: process.execPath,
    playwrightCli: path.join(path.dirname(createRequire(import.meta.url).resolve("playwright/package.json")), "cli.js"),
  };
}

const lookup = findChromium(chromiumHost());

/**
 * The Chromium both browser suites launch. When none is found, Debian's path, so that Playwright's error names
 * it; `npm test` never gets that far (its first step installs one or stops).
 */
export const chromiumPath = lookup.kind === "missing" ? debianChromiumPath : lookup.path;

/** Playwright launch options for that Chromium. */
export const chromiumLaunchOptions = { executablePath: chromiumPath, args: chromiumArgs };
