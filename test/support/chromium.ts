/**
 * How the tests start Debian's Chromium: headless, no sandbox (root), no GPU, and none of the background
 * network calls that this machine's closed network would refuse. One list for vitest's browser project and
 * for the Playwright end-to-end tests.
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

/** `/usr/bin/chromium` unless `CHROMIUM_PATH` says otherwise. */
export const chromiumPath = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

/** Playwright launch options for that Chromium. */
export const chromiumLaunchOptions = { executablePath: chromiumPath, args: chromiumArgs };
