import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import {
  type ChromiumHost,
  findChromium,
  type InstallHost,
  isDebian,
  planChromiumInstall,
} from "../support/chromium.ts";

const playwrights = "/root/.cache/ms-playwright/chromium-1255/chrome-linux64/chrome";

/** A machine where exactly `executables` can run. */
function host(executables: string[], overrides: Partial<ChromiumHost> = {}): ChromiumHost {
  return {
    chromiumPathVariable: undefined,
    playwrightChromiumPath: playwrights,
    pathDirectories: ["/usr/local/bin", "/usr/bin", "/opt/google/bin"],
    isExecutable: (file) => executables.includes(file),
    ...overrides,
  };
}

describe("which Chromium the tests use", () => {
  it("takes CHROMIUM_PATH over every browser the machine has", () => {
    expect(
      findChromium(host([playwrights, "/usr/bin/chromium", "/opt/chrome"], { chromiumPathVariable: "/opt/chrome" })),
    ).toEqual({ kind: "found", path: "/opt/chrome", source: "CHROMIUM_PATH" });
  });

  it("refuses a CHROMIUM_PATH that cannot run, rather than falling back to another browser", () => {
    expect(findChromium(host(["/usr/bin/chromium"], { chromiumPathVariable: "/opt/typo" }))).toEqual({
      kind: "unusable-variable",
      path: "/opt/typo",
    });
  });

  it("reads an empty CHROMIUM_PATH as unset", () => {
    expect(findChromium(host(["/usr/bin/chromium"], { chromiumPathVariable: "" }))).toMatchObject({
      kind: "found",
      path: "/usr/bin/chromium",
    });
  });

  it("prefers Playwright's own Chromium to the system's", () => {
    expect(findChromium(host([playwrights, "/usr/bin/chromium"]))).toEqual({
      kind: "found",
      path: playwrights,
      source: "Playwright's own",
    });
  });

  it("uses Debian's package when Playwright's is not installed", () => {
    expect(findChromium(host(["/usr/bin/chromium", "/usr/local/bin/chromium"]))).toEqual({
      kind: "found",
      path: "/usr/bin/chromium",
      source: "Debian's package",
    });
  });

  it("looks for Debian's package even where PATH does not include /usr/bin", () => {
    expect(findChromium(host(["/usr/bin/chromium"], { pathDirectories: [] }))).toMatchObject({
      path: "/usr/bin/chromium",
    });
  });

  it("falls back to a Chromium or Chrome by its usual names on PATH, in PATH's order", () => {
    expect(findChromium(host(["/opt/google/bin/google-chrome", "/usr/bin/chromium-browser"]))).toEqual({
      kind: "found",
      path: "/usr/bin/chromium-browser",
      source: "on PATH",
    });
    expect(findChromium(host(["/opt/google/bin/google-chrome"]))).toMatchObject({
      path: "/opt/google/bin/google-chrome",
    });
  });

  it("finds none on a fresh machine", () => {
    expect(findChromium(host([], { playwrightChromiumPath: undefined }))).toEqual({ kind: "missing" });
  });
});

const debian = 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nID=debian\n';
const ubuntu = 'NAME="Ubuntu"\nID=ubuntu\nID_LIKE=debian\n';
const machine = (isRoot: boolean, osRelease: string | undefined): InstallHost => ({
  isRoot,
  osRelease,
  node: "/usr/bin/node",
  playwrightCli: "/p/node_modules/playwright/cli.js",
});

describe("how to install one where there is none", () => {
  it("knows Debian, and not its derivatives, from /etc/os-release", () => {
    expect(isDebian(debian)).toBe(true);
    expect(isDebian('ID="debian"\n')).toBe(true);
    expect(isDebian(ubuntu)).toBe(false);
    expect(isDebian(undefined)).toBe(false);
  });

  it("as root on Debian, installs Debian's package without a terminal, then tries Playwright's", () => {
    const plan = planChromiumInstall(machine(true, debian));
    expect(plan.installers.map((i) => i.commands)).toEqual([
      [
        ["apt-get", "update"],
        ["apt-get", "install", "-y", "chromium"],
      ],
      [["/usr/bin/node", "/p/node_modules/playwright/cli.js", "install", "chromium"]],
    ]);
    expect(plan.installers[0]?.env).toEqual({ DEBIAN_FRONTEND: "noninteractive" });
    expect(plan.fix).toBe("apt-get update && apt-get install -y chromium");
  });

  it("elsewhere, tries only Playwright's installer, giving up on a stalled download", () => {
    for (const elsewhere of [machine(false, debian), machine(true, ubuntu), machine(false, undefined)]) {
      const [only, ...others] = planChromiumInstall(elsewhere).installers;
      expect(others).toEqual([]);
      expect(only?.commands).toEqual([["/usr/bin/node", "/p/node_modules/playwright/cli.js", "install", "chromium"]]);
      expect(only?.env).toEqual({ PLAYWRIGHT_DOWNLOAD_CONNECTION_TIMEOUT: "10000" });
    }
  });

  it("names the one command that fixes it: sudo apt-get on Debian, Playwright's installer elsewhere", () => {
    expect(planChromiumInstall(machine(false, debian)).fix).toBe(
      "sudo apt-get update && sudo apt-get install -y chromium",
    );
    expect(planChromiumInstall(machine(true, ubuntu)).fix).toBe("npx playwright install chromium");
    expect(planChromiumInstall(machine(false, undefined)).fix).toBe("npx playwright install chromium");
  });
});

describe("npm test's first step, tools/ensure-chromium.ts", () => {
  const ensure = (chromiumPath: string) =>
    spawnSync(process.execPath, [fileURLToPath(new URL("../../tools/ensure-chromium.ts", import.meta.url))], {
      env: { ...process.env, CHROMIUM_PATH: chromiumPath },
      encoding: "utf8",
    });

  it("stops at once, naming CHROMIUM_PATH, when it points at nothing that runs", () => {
    const result = ensure("/nonexistent/chromium");
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('CHROMIUM_PATH is "/nonexistent/chromium", which is not an executable file');
  });

  it("says in one line which Chromium the tests will use", () => {
    // Any executable will do: it checks that the file can run, not what it is.
    const result = ensure(process.execPath);
    expect(result.status).toBe(0);
    expect(result.stdout).toBe(`Chromium for the browser tests: ${process.execPath} (CHROMIUM_PATH)\n`);
  });
});
