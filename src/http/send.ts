/**
 * How one call's request is sent, and sent again: worked out once per call, so that every attempt sends
 * exactly the same method, headers and bytes.
 */

import { bufferBody } from "./replayable-body.ts";
import type { FetchFunction, RequestSummary } from "./types.ts";

/** How each attempt sends the request, and whether it may be sent more than once. */
export interface Send {
  readonly replayable: boolean;
  call(fetchImpl: FetchFunction, signal: AbortSignal | undefined): Promise<Response>;
  /** Lets go of a body no attempt took (an open circuit, an abort before the first attempt): it is cancelled. */
  release(): void;
}

/** A `Request`, told apart from a URL string or object without depending on one global class (realms, polyfills). */
export const isRequest = (input: unknown): input is Request =>
  typeof input === "object" && input !== null && typeof (input as Request).clone === "function" && "method" in input;

/** Body types that `fetch` can send twice with the same bytes. FormData cannot: its boundary is drawn anew. */
const isResendable = (body: BodyInit): boolean =>
  typeof body === "string" ||
  body instanceof ArrayBuffer ||
  ArrayBuffer.isView(body) ||
  body instanceof URLSearchParams ||
  (typeof Blob !== "undefined" && body instanceof Blob);

const NOTHING_TO_RELEASE = (): void => {};

/**
 * How to send a request that needs no preparing, or `undefined` when its body must first be read (see
 * {@link prepareSend}). Most requests — no body, or a body that fetch can send twice — pass through untouched,
 * and synchronously: a GET should not wait a turn of the event loop for nothing.
 */
export function sendAsIs(input: RequestInfo | URL, init: RequestInit | undefined): Send | undefined {
  const body = init?.body ?? (isRequest(input) ? input.body : null);
  if (body != null && (init?.body == null || !isResendable(init.body))) return undefined;
  return {
    replayable: true,
    call: (fetchImpl, attemptSignal) =>
      fetchImpl(input, init ? { ...init, signal: attemptSignal } : { signal: attemptSignal }),
    release: NOTHING_TO_RELEASE,
  };
}

/**
 * Works out how to send again a request that {@link sendAsIs} could not: FormData and streams are read once
 * into bytes, streams up to `limitBytes`; a larger stream is sent once, whole, and the request is not
 * replayable.
 */
export async function prepareSend(
  input: RequestInfo | URL,
  init: RequestInit | undefined,
  limitBytes: number,
  signal?: AbortSignal,
): Promise<Send> {
  // Request normalises every body type to one stream and fixes FormData's boundary in its content-type. The
  // template never goes out (each attempt sets its own signal), so it does not take the caller's signal: a
  // Request listens to its signal until it is collected, which piles listeners on a long-lived one.
  const template = new Request(input, {
    ...init,
    signal: null,
    ...(init?.body instanceof ReadableStream ? { duplex: "half" } : {}),
  } as RequestInit);
  const buffered =
    typeof FormData !== "undefined" && init?.body instanceof FormData
      ? { bytes: new Uint8Array(await template.arrayBuffer()) }
      : await bufferBody(template.body as ReadableStream<Uint8Array>, limitBytes, signal);
  if ("bytes" in buffered) {
    const { bytes } = buffered;
    return {
      replayable: true,
      // The template and an init, not a Request made from them: fetch copies a Request it is given, and once
      // that copy's source is collected the attempt's abort no longer reaches a body still being read (Node).
      call: (fetchImpl, attemptSignal) => fetchImpl(template, { body: bytes, signal: attemptSignal }),
      release: NOTHING_TO_RELEASE,
    };
  }
  const { stream } = buffered;
  let taken = false;
  return {
    replayable: false,
    call: (fetchImpl, attemptSignal) => {
      taken = true;
      return fetchImpl(template, { body: stream, signal: attemptSignal, duplex: "half" } as RequestInit);
    },
    // An upload nobody sent still holds the caller's stream (in a Worker, the incoming request's body).
    // The reason is built only here: a DOMException costs microseconds, and most calls have nothing to release.
    release: () => {
      if (taken) return;
      const reason = new DOMException("No attempt sent the request body", "AbortError");
      void stream.cancel(reason).catch(() => {});
    },
  };
}

/** Method, URL and (built on first use: a GET nobody inspects should not pay for it) headers. */
export function summarize(input: RequestInfo | URL, init: RequestInit | undefined): RequestSummary {
  return new LazySummary(input, init);
}

class LazySummary implements RequestSummary {
  readonly method: string;
  readonly url: string;
  readonly #input: RequestInfo | URL;
  readonly #init: RequestInit | undefined;
  #headers: Headers | undefined;

  constructor(input: RequestInfo | URL, init: RequestInit | undefined) {
    const method = init?.method ?? (isRequest(input) ? input.method : "GET");
    this.method = method === "GET" ? method : method.toUpperCase();
    this.url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
    this.#input = input;
    this.#init = init;
  }

  get headers(): Headers {
    const init = this.#init;
    const input = this.#input;
    this.#headers ??=
      init?.headers !== undefined ? new Headers(init.headers) : isRequest(input) ? input.headers : new Headers();
    return this.#headers;
  }
}

/** `scheme://authority` prefixes, already normalised: parsing a URL on every call costs microseconds. */
const originCache = new Map<string, string>();
const AUTHORITY_PREFIX = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i;

/** `scheme://host:port` of a URL (relative ones resolved against the page), the key of per-origin state. */
export function originOf(url: string): string {
  // Most clients call one origin over and over, often the same URL: one comparison settles it. Only absolute
  // URLs are remembered: a relative one depends on a `location` that may appear or change (a test's DOM).
  if (url === lastAbsolute.url) return lastAbsolute.origin;
  const prefix = AUTHORITY_PREFIX.exec(url)?.[0];
  const origin = parseOrigin(url, prefix);
  if (prefix !== undefined) lastAbsolute = { url, origin };
  return origin;
}

let lastAbsolute: { readonly url: string | undefined; readonly origin: string } = { url: undefined, origin: "" };

function parseOrigin(url: string, prefix: string | undefined): string {
  const cached = prefix === undefined ? undefined : originCache.get(prefix);
  if (cached !== undefined) return cached;
  let origin: string;
  try {
    origin = new URL(url, (globalThis as { location?: { href: string } }).location?.href).origin;
  } catch {
    return "unknown";
  }
  if (prefix !== undefined) {
    // Bounded: a client of a million hosts re-parses, it does not grow without end.
    if (originCache.size >= 1_024) originCache.clear();
    originCache.set(prefix, origin);
  }
  return origin;
}
