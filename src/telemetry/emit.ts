/**
 * How a policy reaches its listeners. A policy holds an `Emit | undefined` and reports with
 * `emit?.({ type, … })`: with no listener the optional call skips its argument, so no event object is built
 * and nothing is called — events cost nothing when no one listens.
 *
 * Listeners are the user's code running inside staunch's control flow: one that throws must not change the
 * call it observes (turn a response into a rejection, skip the cancelling of a body, leave a slot taken), nor
 * keep the listeners after it from hearing; nor may one that is async and rejects. Its error goes to
 * `console.error`, not `reportError`: Deno treats a reported error that no listener handles as fatal, and a
 * logging bug should not end the process.
 */

import { optionError } from "../validate.ts";
import type { TelemetryEvent, TelemetryListener } from "./events.ts";

/** Hands an event to every listener of a policy. */
export type Emit = (event: TelemetryEvent) => void;

/** The listeners of a `telemetry` option, checked now. */
export function listenersOf(owner: string, option: unknown): readonly TelemetryListener[] {
  const listeners: unknown[] = option === undefined ? [] : [option].flat();
  if (listeners.some((listener) => typeof listener !== "function")) {
    throw optionError(TypeError, owner, "telemetry", "a listener function or an array of them", option);
  }
  return listeners as TelemetryListener[];
}

/** The emit of a `telemetry` option, checked now; `undefined` when there are no listeners. */
export function emitterOf(owner: string, option: unknown): Emit | undefined {
  return emitTo(listenersOf(owner, option));
}

/** One emit over a fixed list of listeners; `undefined` for none. */
export function emitTo(listeners: readonly TelemetryListener[]): Emit | undefined {
  if (listeners.length === 0) return undefined;
  return (event) => {
    for (const listener of listeners) {
      try {
        // An async listener (one that ships the event somewhere) throws by rejecting: left unhandled, that
        // rejection would end a Node process.
        (listener(event) as Partial<Promise<void>> | undefined)?.catch?.(listenerThrew);
      } catch (error) {
        listenerThrew(error);
      }
    }
  };
}

const listenerThrew = (error: unknown): void =>
  console.error("staunch: a telemetry listener threw (the call went on)", error);

/** Two emits as one, either possibly missing. */
export function bothEmit(first: Emit | undefined, second: Emit | undefined): Emit | undefined {
  if (first === undefined) return second;
  if (second === undefined) return first;
  return (event) => {
    first(event);
    second(event);
  };
}
