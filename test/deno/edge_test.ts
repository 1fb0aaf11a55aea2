/** Runs the shared stale-if-error suite (test/edge/) against Deno's own Cache API. */
await import("../edge/cached-fallback.test.ts");
