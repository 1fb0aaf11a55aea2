import { fileURLToPath } from "node:url";
import { cloudflareTest } from "@cloudflare/vitest-plugin";
import { playwright } from "@vitest/browser-playwright";
import { defineConfig } from "vitest/config";
import { chromiumArgs, chromiumPath } from "./test/support/chromium.ts";

/** Suites written once against web-standard APIs, run in every runtime. */
const core = "test/core/**/*.test.ts";

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "node",
          environment: "node",
          include: [core, "test/fetch/**/*.test.ts", "test/node/**/*.test.ts"],
          globalSetup: ["test/support/global-setup.ts"],
        },
      },
      {
        plugins: [cloudflareTest({ wrangler: { configPath: "./wrangler.toml" } })],
        // The examples import the package by name, as a user's project does: here, its sources.
        resolve: {
          alias: [
            { find: /^staunch$/, replacement: fileURLToPath(new URL("./src/index.ts", import.meta.url)) },
            { find: /^staunch\/durable$/, replacement: fileURLToPath(new URL("./src/durable.ts", import.meta.url)) },
          ],
        },
        test: {
          name: "workerd",
          include: [core, "test/fetch/**/*.test.ts", "test/edge/**/*.test.ts", "test/worker/**/*.test.ts"],
          globalSetup: ["test/support/global-setup.ts"],
        },
      },
      {
        // End to end: `wrangler dev` started by the test, driven by Playwright and by a loopback load run.
        test: {
          name: "e2e",
          environment: "node",
          include: ["test/e2e/**/*.test.ts"],
          testTimeout: 180_000,
          hookTimeout: 60_000,
          fileParallelism: false,
        },
      },
      {
        test: {
          name: "chromium",
          include: [core, "test/fetch/**/*.test.ts", "test/edge/**/*.test.ts", "test/browser/**/*.test.ts"],
          globalSetup: ["test/support/global-setup.ts"],
          browser: {
            enabled: true,
            headless: true,
            screenshotFailures: false,
            provider: playwright({
              launchOptions: {
                executablePath: chromiumPath,
                args: chromiumArgs,
              },
            }),
            instances: [{ browser: "chromium" }],
            commands: {
              // Takes the test page's browser context off the network for `ms` (Playwright's real offline
              // mode), starting just after this command has answered: offline, the page could not hear the answer.
              goOfflineFor: ({ context }, ms: number) => {
                setTimeout(() => {
                  void context.setOffline(true).then(() => setTimeout(() => void context.setOffline(false), ms));
                }, 20);
              },
            },
          },
        },
      },
    ],
  },
});
