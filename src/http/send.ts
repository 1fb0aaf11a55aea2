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

/**
 * Works out how to send the request again. Most requests (no body, or a body that fetch can send twice)
 * pass through untouched; FormData and streams are read once into bytes, streams up to `limitBytes`: a
 * larger stream is sent once, whole, and the request is not replayable.
 */
export async function prepareSend(
  input: RequestInfo | URL,
  init: RequestInit | undefined,
  limitBytes: number,
  signal?: AbortSignal,
): Promise<Send> {
  const body = init?.body ?? (isRequest(input) ? input.body : null);
  if (body == null || (init?.body != null && isResendable(init.body))) {
    return {
      replayable: true,
      call: (fetchImpl, attemptSignal) =>
        fetchImpl(input, init ? { ...init, signal: attemptSignal } : { signal: attemptSignal }),
      release: () => {},
    };
  }
  // Request normalises every body type to one stream and fixes FormData's boundary in its content-type.
  const template = new Request(
    input,
    init?.body instanceof ReadableStream ? ({ ...init, duplex: "half" } as RequestInit) : init,
  );
  const buffered =
    typeof FormData !== "undefined" && init?.body instanceof FormData
      ? { bytes: new Uint8Array(await template.arrayBuffer()) }
      : await bufferBody(template.body as ReadableStream<Uint8Array>, limitBytes, signal);
  if ("bytes" in buffered) {
    const { bytes } = buffered;
    return {
      replayable: true,
      call: (fetchImpl, attemptSignal) => fetchImpl(new Request(template, { body: bytes, signal: attemptSignal })),
      release: () => {},
    };
  }
  const { stream } = buffered;
  let taken = false;
  return {
    replayable: false,
    call: (fetchImpl, attemptSignal) => {
      taken = true;
      return fetchImpl(new Request(template, { body: stream, signal: attemptSignal, duplex: "half" } as RequestInit));
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
  const method = (init?.method ?? (isRequest(input) ? input.method : "GET")).toUpperCase();
  const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
  let headers: Headers | undefined;
  return {
    method,
    url,
    get headers() {
      headers ??=
        init?.headers !== undefined ? new Headers(init.headers) : isRequest(input) ? input.headers : new Headers();
      return headers;
    },
  };
}

/** `scheme://authority` prefixes, already normalised: parsing a URL on every call costs microseconds. */
const originCache = new Map<string, string>();
const AUTHORITY_PREFIX = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*/i;

/** `scheme://host:port` of a URL (relative ones resolved against the page), the key of per-origin state. */
export function originOf(url: string): string {
  const prefix = AUTHORITY_PREFIX.exec(url)?.[0];
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
