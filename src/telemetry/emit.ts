/**
 * How a policy reaches its listeners. A policy holds an `Emit | undefined` and reports with
 * `emit?.({ type, … })`: with no listener the optional call skips its argument, so no event object is built
 * and nothing is called — events cost nothing when no one listens.
 *
 * Listeners are the user's code running inside staunch's control flow: one that throws must not change the
 * call it observes (turn a response into a rejection, skip the cancelling of a body, leave a slot taken), nor
 * keep the listeners after it from hearing. Its error goes to `console.error`, not `reportError`: Deno treats
 * a reported error that no listener handles as fatal, and a logging bug should not end the process.
 */

import { optionError } from "../validate.ts";
import type { TelemetryEvent, TelemetryListener } from "./events.ts";

/** Hands an event to every listener of a policy. */
export type Emit = (event: TelemetryEvent) => void;

/** The listeners of a `telemetry` option, checked now; `undefined` when there are none. */
export function emitterOf(owner: string, option: unknown): Emit | undefined {
  const listeners: unknown[] = option === undefined ? [] : [option].flat();
  if (listeners.some((listener) => typeof listener !== "function")) {
    throw optionError(TypeError, owner, "telemetry", "a listener function or an array of them", option);
  }
  return emitTo(listeners as TelemetryListener[]);
}

/** One emit over a fixed list of listeners; `undefined` for none. */
export function emitTo(listeners: readonly TelemetryListener[]): Emit | undefined {
  if (listeners.length === 0) return undefined;
  return (event) => {
    for (const listener of listeners) {
      try {
        listener(event);
      } catch (error) {
        console.error("staunch: a telemetry listener threw (the call went on)", error);
      }
    }
  };
}

/** Two emits as one, either possibly missing. */
export function bothEmit(first: Emit | undefined, second: Emit | undefined): Emit | undefined {
  if (first === undefined) return second;
  if (second === undefined) return first;
  return (event) => {
    first(event);
    second(event);
  };
}

/**
 * Listeners added and removed while a stateful policy lives (`subscribe`), on top of those of its options. The
 * policy reads `emit` at each report: `undefined` while nobody listens.
 */
export class Subscribers {
  readonly #fixed: Emit | undefined;
  #added: readonly TelemetryListener[] = [];
  emit: Emit | undefined;

  constructor(fixed: Emit | undefined) {
    this.#fixed = fixed;
    this.emit = fixed;
  }

  /** Adds a listener; the function returned removes it (once, however often it is called). */
  subscribe(listener: TelemetryListener, owner: string): () => void {
    if (typeof listener !== "function") {
      throw optionError(TypeError, `${owner}.subscribe`, "listener", "a function (event) => void", listener);
    }
    // Its own entry, so that a listener subscribed twice hears twice and each unsubscribe removes one.
    const entry: TelemetryListener = (event) => listener(event);
    this.#update([...this.#added, entry]);
    return () => this.#update(this.#added.filter((added) => added !== entry));
  }

  #update(added: readonly TelemetryListener[]): void {
    this.#added = added;
    this.emit = bothEmit(this.#fixed, emitTo(added));
  }
}
