import type { TestProject } from "vitest/node";
import { startFaultServer } from "./fault-server.ts";

/** Starts the fault server once per vitest project and hands its URL to the tests (`inject("faultServer")`). */
export default async function setup(project: TestProject) {
  const server = await startFaultServer();
  project.provide("faultServer", server.url);
  return () => server.close();
}
