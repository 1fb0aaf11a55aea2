/**
 * Starts the sample Worker under a real `wrangler dev` for the end-to-end suites, and stops it for sure.
 *
 * Each start gets its own port, inspector port and `--persist-to` directory, so runs never share cache state
 * with each other or with a developer's `npm start`. wrangler runs in its own process group (it starts
 * esbuild and two workerd processes of its own), and stopping signals the whole group: SIGTERM, then SIGKILL
 * after a grace period, then waits until no process of the group is left.
 *
 * wrangler dev always watches the Worker's sources and reloads it when one changes (the CLI has no switch to
 * stop that), and a reload starts a new isolate: breakers, budget and timeline start over in the middle of a
 * test. So wrangler runs on a copy of the Worker's sources taken at start: the suites test the working tree as
 * it was when they began, whatever is edited meanwhile.
 */

import { type ChildProcess, spawn } from "node:child_process";
import { rmSync } from "node:fs";
import { cp, mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const projectRoot = fileURLToPath(new URL("../../..", import.meta.url));
const binDir = path.join(projectRoot, "node_modules", ".bin");
/** What wrangler needs to build and run the sample Worker (it imports nothing from node_modules). */
const workerSources = ["wrangler.toml", "package.json", "tsconfig.json", "worker", "src"];

export interface WranglerDevOptions {
  /** `--var KEY:VALUE` overrides of the `[vars]` in wrangler.toml (shorter timeouts, say). */
  readonly vars?: Readonly<Record<string, string>>;
  /** How long to wait for `GET /` to answer `readyStatus`. Default 60 s. */
  readonly readyTimeoutMs?: number;
  /**
   * The status of `GET /` that shows the Worker is up. Default 200 (the dashboard); 404 for a Worker with a
   * real upstream and no `CONTROL_SECRET`, whose dashboard is off.
   */
  readonly readyStatus?: number;
  /** Between SIGTERM and SIGKILL when stopping. Default 5 s. */
  readonly killGraceMs?: number;
}

export interface WranglerDev {
  /** `http://127.0.0.1:<port>`, no trailing slash. */
  readonly url: string;
  /** The PID of the wrangler process, which is also its process group's id. */
  readonly pid: number;
  /** Everything wrangler and the Worker printed so far, stdout then stderr, colours removed. */
  output(): string;
  /** The log entries that are errors the Worker did not handle (see {@link findUnhandledErrors}). */
  unhandledErrors(): string[];
  /**
   * How often wrangler rebuilt and reloaded the Worker because a source file changed while it ran: 0 unless
   * something edits the copy it runs on. A reload starts a new isolate, whose breakers, budget and timeline
   * start over (the Cache API's copies stay).
   */
  reloads(): number;
  /** Stops the whole process group and removes the temporary directory. Safe to call more than once. */
  stop(): Promise<void>;
}

/** A port that was free a moment ago on 127.0.0.1. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === "string") throw new Error("could not read the free port's address");
  return address.port;
}

/** Whether any process of the group is left (`kill(-pgid, 0)` fails with ESRCH once none is). */
function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // ESRCH: the group is already gone.
  }
}

async function waitUntil(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (condition()) return true;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return condition();
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: ANSI escape sequences start with ESC (\u001b).
const ansi = /\u001b\[[0-9;]*[A-Za-z]/g;

/**
 * The entries of a wrangler log that show an error the Worker did not handle.
 *
 * What wrangler dev 4.156 prints, seen by running Workers that fail on purpose:
 * - an exception thrown out of `fetch`: `[wrangler:error] Error: boom` on stdout, then its stack, indented;
 * - a rejected promise handed to `ctx.waitUntil`: `✘ [ERROR] Uncaught Error: boom` on stderr;
 * - the Worker's `console.warn` / `console.error`: `▲ [WARNING] <message>` / `✘ [ERROR] <message>` on
 *   stderr, with the arguments after the first printed below it, indented.
 * (A rejected promise that nobody awaits and nobody hands to `waitUntil` is printed nowhere, so no log
 * filter can see it.)
 *
 * A log is split into entries: a line that starts in the first column begins one, and the indented or blank
 * lines after it belong to it. An entry whose message starts with `staunch: ` is staunch's own log of a
 * retry, a give-up or a breaker change (`telemetry: logTo(console)` in worker/index.ts): it is skipped as a whole,
 * because the event object printed below it carries the failed attempt's error — `error: Error: Network
 * connection lost.` and its stack — which is the demo origin's deliberate failure, handled by the retry. Only
 * transient failures reach those messages: staunch never retries a bug such as a TypeError, so a bug cannot
 * hide inside one of them. Every other entry is flagged when it says `Uncaught`, `unhandled`, `Error:`, is a
 * `[wrangler:error]` line or is an `[ERROR]` (any other `console.error` of the Worker).
 */
export function findUnhandledErrors(log: string): string[] {
  const entries: string[][] = [];
  for (const line of log.replace(ansi, "").split(/\r?\n/)) {
    const continuation = line.trim() === "" || /^\s/.test(line);
    const current = entries.at(-1);
    if (continuation && current) current.push(line);
    else if (!continuation) entries.push([line]);
  }
  const staunchLog = /^(?:[▲✘] \[(?:WARNING|ERROR)\] )?staunch: /;
  const suspicious = /uncaught|unhandled|\bError:|\[wrangler:error\]|\[ERROR\]/i;
  return entries
    .filter(([header = ""]) => !staunchLog.test(header))
    .map((lines) => lines.join("\n").trimEnd())
    .filter((entry) => suspicious.test(entry));
}

/** Starts `wrangler dev` on a free port and resolves once `GET /` answers `readyStatus` (200). */
export async function startWranglerDev(options: WranglerDevOptions = {}): Promise<WranglerDev> {
  const readyTimeoutMs = options.readyTimeoutMs ?? 60_000;
  const readyStatus = options.readyStatus ?? 200;
  const killGraceMs = options.killGraceMs ?? 5_000;
  const [port, inspectorPort] = [await freePort(), await freePort()];
  const tempDir = await mkdtemp(path.join(tmpdir(), "staunch-e2e-"));
  const args = ["dev", "--ip", "127.0.0.1", "--port", String(port)];
  // Its own inspector port: the default 9229 may be taken by a developer's `npm start`.
  args.push("--inspector-port", String(inspectorPort), "--show-interactive-dev-session=false");
  args.push("--persist-to", path.join(tempDir, "state"));
  const snapshotDir = path.join(tempDir, "project");
  try {
    for (const source of workerSources) {
      await cp(path.join(projectRoot, source), path.join(snapshotDir, source), { recursive: true });
    }
  } catch (error) {
    await rm(tempDir, { recursive: true, force: true });
    throw error;
  }
  for (const [key, value] of Object.entries(options.vars ?? {})) args.push("--var", `${key}:${value}`);

  const child: ChildProcess = spawn(path.join(binDir, "wrangler"), args, {
    cwd: snapshotDir,
    // A process group of its own (setsid), so the whole tree can be signalled at once and stays apart from
    // vitest's; stdin closed so wrangler never waits for a key.
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
    env: {
      ...process.env,
      // The wrangler script runs `node` from PATH: Node 22 from node_modules, not the system's Node 20.
      PATH: `${binDir}${path.delimiter}${process.env.PATH ?? ""}`,
      CLOUDFLARE_CF_FETCH_ENABLED: "false",
      WRANGLER_SEND_METRICS: "false",
      // No banner, hence no look-up of wrangler's latest version on the npm registry at every start.
      WRANGLER_HIDE_BANNER: "true",
      WRANGLER_LOG_PATH: path.join(tempDir, "logs"),
      NO_COLOR: "1",
      FORCE_COLOR: "0",
    },
  });
  let exited = false;
  let spawnError: unknown;
  child.once("error", (error) => {
    spawnError = error;
    exited = true;
  });
  child.once("exit", () => {
    exited = true;
  });
  const pid = child.pid;
  if (pid === undefined) {
    await rm(tempDir, { recursive: true, force: true });
    throw new Error("wrangler dev did not start (no PID)", { cause: spawnError });
  }

  const stdout: string[] = [];
  const stderr: string[] = [];
  child.stdout?.setEncoding("utf8").on("data", (chunk: string) => stdout.push(chunk));
  child.stderr?.setEncoding("utf8").on("data", (chunk: string) => stderr.push(chunk));
  const output = () => `${stdout.join("")}\n${stderr.join("")}`.replace(ansi, "");

  // Last resort if the test process ends without afterAll (an uncaught error, Ctrl-C, vitest's SIGTERM):
  // kill the group and remove the directory synchronously. A SIGKILL of this process itself cannot be caught;
  // nothing helps then.
  const killNow = () => {
    signalGroup(pid, "SIGKILL");
    rmSync(tempDir, { recursive: true, force: true });
  };
  const onSignal = (signal: NodeJS.Signals) => {
    killNow();
    // If nobody else handles the signal, end the way it would have ended us without this listener.
    if (process.listenerCount(signal) === 1) {
      removeGuards();
      process.kill(process.pid, signal);
    }
  };
  const signals: NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP"];
  const removeGuards = () => {
    process.removeListener("exit", killNow);
    for (const signal of signals) process.removeListener(signal, onSignal);
  };
  process.once("exit", killNow);
  for (const signal of signals) process.on(signal, onSignal);

  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      signalGroup(pid, "SIGTERM");
      if (!(await waitUntil(() => !groupAlive(pid), killGraceMs))) {
        signalGroup(pid, "SIGKILL");
        if (!(await waitUntil(() => !groupAlive(pid), killGraceMs))) {
          throw new Error(`wrangler dev's process group ${pid} survived SIGKILL`);
        }
      }
      // Let the pipes deliver the last output before it is read.
      await waitUntil(() => exited, 1_000);
      removeGuards();
      await rm(tempDir, { recursive: true, force: true });
    })();
    return stopping;
  };

  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + readyTimeoutMs;
  let lastProblem = "no answer yet";
  try {
    for (;;) {
      if (exited) throw new Error("wrangler dev exited before it was ready", { cause: spawnError });
      try {
        const res = await fetch(`${url}/`, { signal: AbortSignal.timeout(2_000) });
        await res.arrayBuffer();
        if (res.status === readyStatus) break;
        lastProblem = `GET / answered ${res.status}`;
      } catch (error) {
        lastProblem = String(error);
      }
      if (Date.now() > deadline) throw new Error(`wrangler dev not ready after ${readyTimeoutMs} ms: ${lastProblem}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  } catch (error) {
    await stop();
    throw new Error(`${(error as Error).message}\n--- wrangler output ---\n${output()}`, { cause: error });
  }

  return {
    url,
    pid,
    output,
    unhandledErrors: () => findUnhandledErrors(output()),
    reloads: () => output().match(/Reloading local server|Detected changes, restarted server/g)?.length ?? 0,
    stop,
  };
}
