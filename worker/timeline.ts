/**
 * The sample Worker's memory of recent proxied requests, for the dashboard: each request's attempts, the
 * delay before each, their outcomes, and where the answer came from. Per isolate, bounded, never persisted.
 */

import type { FallbackReason } from "../src/index.ts";

/** One attempt of one proxied request. */
export interface AttemptRecord {
  /** 1 for the first attempt. */
  readonly attempt: number;
  /** Milliseconds from the request's start to this attempt's start. */
  readonly startMs: number;
  /** The wait between the previous attempt's end and this one's start (0 for the first). */
  readonly delayBeforeMs: number;
  durationMs: number | undefined;
  /** The status (`"503"`) or error name (`"TimeoutError"`), once the attempt ended. */
  outcome: string | undefined;
}

/** Where the final answer came from. */
export type AnswerSource = "origin" | "stale" | "error";

/** One proxied request, as the dashboard shows it. */
export interface RequestRecord {
  readonly id: string;
  readonly method: string;
  /** Path of the proxied URL; its query only as far as it is the demo's failure switches, else `?…`. */
  readonly path: string;
  /** Epoch ms. */
  readonly startedAt: number;
  readonly attempts: AttemptRecord[];
  /** Set when the request is answered. */
  result:
    | {
        readonly status: number;
        readonly source: AnswerSource;
        /** Why a stale copy or an error answered: a `FallbackReason` (`error`, `timeout`, `circuit-open`, `result`). */
        readonly reason: FallbackReason | undefined;
        readonly ageSeconds: number | undefined;
        readonly totalMs: number;
      }
    | undefined;
}

/** What `GET /__staunch/state` returns. */
export interface DashboardState {
  readonly requests: readonly RequestRecord[];
  /** One breaker per key: the upstream's origin, or one of its routes (`BREAKER_KEY`). */
  readonly breakers: ReadonlyArray<{
    readonly key: string;
    readonly circuit: string | undefined;
    readonly circuitRetryAfterMs: number;
    readonly pausedForMs: number;
  }>;
  /** The demo origin's forced outage, if any: epoch ms when it ends. */
  readonly outageUntil: number | undefined;
  /** `"demo"`, or the upstream without credentials and query. */
  readonly upstream: string;
  readonly config: Readonly<Record<string, number | string>>;
  /** The link to the shared state Durable Object: `bound` false when the Worker runs without the binding. */
  readonly fleet: {
    readonly bound: boolean;
    readonly keys: ReadonlyArray<{
      readonly key: string;
      readonly degraded: boolean;
      readonly viewAgeMs: number | undefined;
      readonly circuit: string | undefined;
    }>;
  };
}

/** The last `capacity` requests, newest first. */
export class Timeline {
  readonly #capacity: number;
  readonly #records: RequestRecord[] = [];
  readonly #byId = new Map<string, RequestRecord>();
  #counter = 0;

  constructor(capacity = 50) {
    this.#capacity = capacity;
  }

  begin(method: string, path: string, now: number): RequestRecord {
    const record: RequestRecord = {
      id: `r${++this.#counter}`,
      method,
      path,
      startedAt: now,
      attempts: [],
      result: undefined,
    };
    this.#records.unshift(record);
    this.#byId.set(record.id, record);
    while (this.#records.length > this.#capacity) {
      const dropped = this.#records.pop();
      if (dropped) this.#byId.delete(dropped.id);
    }
    return record;
  }

  get(id: string | null): RequestRecord | undefined {
    return id === null ? undefined : this.#byId.get(id);
  }

  /** Notes the start of an attempt; returns its record so its end can be noted. */
  attemptStarted(record: RequestRecord, now: number): AttemptRecord {
    const previous = record.attempts.at(-1);
    const previousEnd = previous ? previous.startMs + (previous.durationMs ?? 0) : 0;
    const startMs = now - record.startedAt;
    const attempt: AttemptRecord = {
      attempt: record.attempts.length + 1,
      startMs,
      delayBeforeMs: previous ? Math.max(0, startMs - previousEnd) : 0,
      durationMs: undefined,
      outcome: undefined,
    };
    record.attempts.push(attempt);
    return attempt;
  }

  list(): readonly RequestRecord[] {
    return this.#records;
  }

  clear(): void {
    this.#records.length = 0;
    this.#byId.clear();
  }
}
