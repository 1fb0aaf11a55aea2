/**
 * createFetch's layer order is written once as data (FETCH_PIPELINE); the code's header and the README show
 * it, and must not drift from it.
 */

import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { FETCH_PIPELINE } from "../../src/index.ts";

const read = (path: string): string => readFileSync(new URL(`../../${path}`, import.meta.url), "utf8");
const line = FETCH_PIPELINE.join(" → ");

describe("the createFetch pipeline", () => {
  it("is shown in src/create-fetch.ts's header as FETCH_PIPELINE lists it", () => {
    expect(read("src/create-fetch.ts")).toContain(`*   ${line}\n`);
  });

  it("is shown in the README as FETCH_PIPELINE lists it", () => {
    expect(read("README.md")).toContain(line);
  });
});
