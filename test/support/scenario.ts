/** Builds fault-server URLs and reads back what the server received; runs in every runtime. */

import type { ReceivedRequest } from "./fault-server.ts";

let counter = 0;

export interface Scenario {
  /** The URL whose successive requests get the given steps. */
  readonly url: string;
  /** What the server received for this scenario so far. */
  received(): Promise<ReceivedRequest[]>;
}

export function scenario(base: string, ...steps: string[]): Scenario {
  const id = `${Date.now().toString(36)}-${(counter++).toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
  const query = new URLSearchParams(steps.map((s) => ["s", s])).toString();
  return {
    url: `${base}/s/${id}?${query}`,
    received: async () => (await fetch(`${base}/log/${id}`)).json() as Promise<ReceivedRequest[]>,
  };
}

/**
 * A scenario on a loopback port where nothing listens until `open()`: its connections are refused (a request
 * that never left), and once open, it answers with `steps` and logs what it received, as `scenario` does.
 */
export async function refusedUntilOpen(
  base: string,
  ...steps: string[]
): Promise<Scenario & { open(): Promise<void> }> {
  const id = `${Date.now().toString(36)}-${(counter++).toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
  const port = await (await fetch(`${base}/port/${id}`)).text();
  const query = new URLSearchParams(steps.map((s) => ["s", s])).toString();
  return {
    url: `http://127.0.0.1:${port}/s/${id}?${query}`,
    received: async () => (await fetch(`http://127.0.0.1:${port}/log/${id}`)).json() as Promise<ReceivedRequest[]>,
    open: async () => void (await (await fetch(`${base}/open/${id}`)).text()),
  };
}

/** The status of a response, its body read to the end so that no connection is left open. */
export async function statusOf(pending: Promise<Response>): Promise<number> {
  const res = await pending;
  await res.arrayBuffer();
  return res.status;
}
