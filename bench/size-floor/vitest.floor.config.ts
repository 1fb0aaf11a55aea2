/**
 * Runs main's own behaviour tests against the floor (bench/size-floor/), in Node: every import of
 * `src/index.ts` from those tests gets the floor's createFetch, createLeanFetch, retry and timeout.
 * `npm run test:floor`, or one file: npx vitest run --config bench/size-floor/vitest.floor.config.ts test/fetch/create-fetch.test.ts
 */
import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

const root = fileURLToPath(new URL("../../", import.meta.url));
const floorIndex = fileURLToPath(new URL("./index.ts", import.meta.url));

export default defineConfig({
  root,
  plugins: [
    {
      // Only the tests' imports: the floor's own `export * from "../../src/index.ts"` must reach the library.
      name: "staunch-floor",
      enforce: "pre",
      resolveId: (source, importer) =>
        source === "../../src/index.ts" && importer?.startsWith(`${root}test/`) ? floorIndex : undefined,
    },
  ],
  test: {
    name: "floor",
    environment: "node",
    include: [
      "test/fetch/**/*.test.ts",
      "test/core/options.test.ts",
      "test/core/retry.test.ts",
      "test/core/timeout.test.ts",
      "test/core/compose.test.ts",
      "test/node/caller-signal.node.test.ts",
      "test/node/create-fetch.node.test.ts",
      "test/node/ky.node.test.ts",
      "test/node/never-sent-request.node.test.ts",
      "test/node/review-11-12.node.test.ts",
      "test/node/retry-after.fuzz.test.ts",
    ],
    globalSetup: ["test/support/global-setup.ts"],
  },
});
