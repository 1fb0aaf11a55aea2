// The library, with createFetch, createLeanFetch, retry and timeout replaced by the floor's
// (see vitest.floor.config.ts, which aliases src/index.ts to this module for main's own tests).
export * from "../../src/index.ts";

import type { CreateFetchOptions, ResilientFetch } from "../../src/create-fetch.ts";
import { floorCreateFetch, floorLeanFetch } from "./fetch.ts";

export const createFetch = floorCreateFetch;
export const createLeanFetch = (options?: CreateFetchOptions): ResilientFetch => floorLeanFetch(options);
export { retry, timeout } from "./policies.ts";
