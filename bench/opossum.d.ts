/**
 * The part of opossum's API the benchmark uses: opossum ships JavaScript only, and `@types/opossum` is not a
 * dependency of this project.
 */
declare module "opossum" {
  interface CircuitBreakerOptions {
    /** Per-call deadline in ms, enforced with a `setTimeout` per `fire()`; `false` for none. Default 10,000. */
    readonly timeout?: number | false;
  }

  export default class CircuitBreaker<A extends unknown[] = unknown[], R = unknown> {
    constructor(action: (...args: A) => Promise<R>, options?: CircuitBreakerOptions);
    fire(...args: A): Promise<R>;
    /** Stops the breaker's interval timers (bucket rotation, snapshots). */
    shutdown(): void;
  }
}
