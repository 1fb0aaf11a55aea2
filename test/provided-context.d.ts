import "vitest";

declare module "vitest" {
  export interface ProvidedContext {
    /** Base URL of the fault server on 127.0.0.1 (test/support/fault-server.ts). */
    faultServer: string;
  }
}
