/**
 * Runs the shared createFetch suite (test/fetch/) under Deno, against the same fault server, which Deno
 * runs through its node:http compatibility.
 */
import { provide } from "vitest";
import { startFaultServer } from "../support/fault-server.ts";

const server = await startFaultServer();
provide("faultServer", server.url);
globalThis.addEventListener("unload", () => void server.close());
await import("../fetch/create-fetch.test.ts");
await import("../fetch/create-fetch-protection.test.ts");
await import("../fetch/transparency.test.ts");
await import("../fetch/transient-causes.test.ts");
await import("../fetch/wrapped-fetch.test.ts");
await import("../fetch/lean-fetch.test.ts");
