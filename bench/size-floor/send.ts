/**
 * How the floor sends a request, and sends it again: src/http/send.ts's choices (pass-through, bytes with
 * undici's 307/308 fallback, FormData serialised once, a Request's body read first or, for a request that may be
 * retried only if it never left, a clone of it kept) written by hand as closures, for the floor's bytes. Each
 * returns main's `Send`, so main's `replayStreams` layer plugs in as it is.
 */

import { raceAbort } from "../../src/abort.ts";
import { bufferBody, cancelUnsent, isByteStream } from "../../src/http/replayable-body.ts";
import type { Send, StreamReplay } from "../../src/http/send.ts";
import type { FetchFunction } from "../../src/http/types.ts";

export const isRequest = (input: unknown): input is Request =>
  typeof input === "object" && input !== null && typeof (input as Request).clone === "function" && "method" in input;

/** The caller's `init` with the attempt's signal and overrides; the caller's own object when there is nothing to add. */
const initFor = (init: RequestInit | undefined, signal: AbortSignal | undefined, overrides?: RequestInit) =>
  signal === undefined
    ? overrides
      ? { ...init, ...overrides }
      : init
    : // Spelt out for the common shapes: a spread of nothing still costs a generic copy.
      overrides
      ? { ...init, ...overrides, signal }
      : init
        ? { ...init, signal }
        : { signal };

const withHeaders = (headers: Headers | undefined): RequestInit | undefined => headers && { headers };

const headersOf = (input: RequestInfo | URL, init: RequestInit | undefined): Headers =>
  new Headers(init?.headers ?? (isRequest(input) ? input.headers : undefined));

export const bodyStream = (input: RequestInfo | URL, init: RequestInit | undefined): ReadableStream | null =>
  init?.body != null ? (init.body instanceof ReadableStream ? init.body : null) : isRequest(input) ? input.body : null;

const NOTHING = (): void => {};

/** The last absolute URL and its origin: most clients call one URL over and over, and parsing one costs µs. */
let lastUrl: string | undefined;
let lastOrigin = "";
export const originOf = (url: string): string => {
  if (url === lastUrl) return lastOrigin;
  let origin = "unknown";
  try {
    origin = new URL(url, (globalThis as { location?: { href: string } }).location?.href).origin;
  } catch {}
  // Only an absolute URL is remembered: a relative one depends on a `location` that may change.
  if (/^[a-z][a-z\d+.-]*:/i.test(url)) [lastUrl, lastOrigin] = [url, origin];
  return origin;
};

/** The caller's input and init as they are, body unread; a class, as most calls go this way. */
class AsIs implements Send {
  readonly #input: RequestInfo | URL;
  readonly #init: RequestInit | undefined;
  #taken = false;

  constructor(input: RequestInfo | URL, init: RequestInit | undefined) {
    this.#input = input;
    this.#init = init;
  }

  // Asked only after an attempt: reading a Request's `body` first makes Deno send it chunked.
  get resendable(): boolean {
    const input = this.#input;
    const body = this.#init?.body;
    if (body != null) {
      return (
        typeof body === "string" ||
        body instanceof ArrayBuffer ||
        ArrayBuffer.isView(body) ||
        body instanceof URLSearchParams ||
        (typeof Blob !== "undefined" && body instanceof Blob) ||
        (typeof FormData !== "undefined" && body instanceof FormData)
      );
    }
    return !isRequest(input) || (!input.bodyUsed && input.body === null);
  }

  call(fetchImpl: FetchFunction, signal: AbortSignal | undefined, headers?: Headers): Promise<Response> {
    this.#taken = true;
    return fetchImpl(this.#input, initFor(this.#init, signal, withHeaders(headers)));
  }

  headers(): Headers {
    return headersOf(this.#input, this.#init);
  }

  release(): void {
    if (!this.#taken) cancelUnsent(bodyStream(this.#input, this.#init));
  }
}

/**
 * Sent as it is; with `keepBytes` (a call that may retry a request that never left), a `Request`'s body is kept
 * as a clone for that retry, bounded by a tap (a byte stream read to its end up to the bound, a caller's own
 * stream no further than its second chunk: reading ahead would run ky's upload progress ahead of the network).
 */
export function sendAsIs(input: RequestInfo | URL, init: RequestInit | undefined, keepBytes?: number): Send {
  const tapped = keepBytes !== undefined && init?.body == null && isRequest(input) ? input.clone().body : null;
  if (tapped === null) return new AsIs(input, init);
  const request = input as Request;
  let next: Request | undefined = request.clone();
  let tap = tapped.getReader();
  let refusal: unknown;
  let taken = false;
  const drop = (): void => {
    void tap.cancel().catch(NOTHING);
    void next?.body?.cancel().catch(NOTHING);
    next = undefined;
  };
  const whole = (async () => {
    for (let bytes = 0, chunk = 0, byteStream = false; ; chunk++) {
      const { done, value } = await tap.read();
      if (done) return;
      bytes += value.byteLength;
      if (chunk === 1) {
        tap.releaseLock();
        byteStream = isByteStream(tapped);
        tap = tapped.getReader();
      }
      if (bytes > (keepBytes as number) || (chunk > 0 && !byteStream)) return drop();
    }
  })().catch(drop);
  return {
    get resendable() {
      return next !== undefined;
    },
    call: async (fetchImpl, signal, headers) => {
      let sent: Request | undefined = request;
      if (taken) {
        await raceAbort(whole, signal);
        sent = next;
        if (sent === undefined) throw refusal;
        next = sent.clone();
      }
      taken = true;
      try {
        return await fetchImpl(sent, initFor(init, signal, withHeaders(headers)));
      } catch (error) {
        refusal = error;
        throw error;
      }
    },
    headers: () => headersOf(request, init),
    release: () => {
      drop();
      if (!taken) cancelUnsent(request.body);
    },
  };
}

/** Every attempt sends a body held in memory, with the overrides it needs. */
const fixed = (
  make: () => RequestInfo | URL,
  init: RequestInit | undefined,
  overrides: (headers?: Headers) => RequestInit | undefined,
  headers: () => Headers,
): Send => ({
  resendable: true,
  call: (fetchImpl, signal, h) => fetchImpl(make(), initFor(init, signal, overrides(h))),
  headers,
  release: NOTHING,
});

/**
 * How to send a request that may go out again: a body `fetch` reads anew as it is; bytes as they are, or as a
 * Blob once undici fails a 307/308 with them (it detached its copy); FormData serialised once (its boundary
 * would change); a Request's body read first, up to `limitBytes` (past it, sent once); a caller's stream only
 * with the `replayStreams` layer.
 */
export function replayableSend(
  input: RequestInfo | URL,
  init: RequestInit | undefined,
  limitBytes: number,
  // The call's context, not its signal: under a deadline, reading the signal builds it, which only a body to read
  // needs (as main's replayableSend since b5053cf).
  context: { readonly signal?: AbortSignal | undefined },
  replayStream: StreamReplay | undefined,
): Send | Promise<Send> {
  const body = init?.body;
  if (body == null) {
    return isRequest(input) && input.body !== null
      ? requestBody(input, init, limitBytes, context.signal)
      : new AsIs(input, init);
  }
  if (body instanceof ArrayBuffer || ArrayBuffer.isView(body)) {
    let blob: Blob | undefined;
    const send = (fetchImpl: FetchFunction, s: AbortSignal | undefined, h?: Headers) =>
      fetchImpl(input, initFor(init, s, blob ? { body: blob, ...withHeaders(h) } : withHeaders(h)));
    return {
      resendable: true,
      call: (fetchImpl, s, h) =>
        blob
          ? send(fetchImpl, s, h)
          : send(fetchImpl, s, h).catch((error: unknown) => {
              const cause = (error as { cause?: unknown } | null)?.cause;
              if (!(cause instanceof TypeError && /detached arraybuffer/i.test(cause.message))) throw error;
              blob = new Blob([body as BufferSource]);
              return send(fetchImpl, s, h);
            }),
      headers: () => headersOf(input, init),
      release: NOTHING,
    };
  }
  if (typeof FormData !== "undefined" && body instanceof FormData) return form(input, init, body);
  if (body instanceof ReadableStream && replayStream) return replayStream(input, init, body, limitBytes);
  return new AsIs(input, init);
}

async function form(input: RequestInfo | URL, init: RequestInit | undefined, body: FormData): Promise<Send> {
  const serialised = new Response(body);
  const blob = new Blob([await serialised.arrayBuffer()]);
  const headers = headersOf(input, init);
  if (!headers.has("content-type")) headers.set("content-type", serialised.headers.get("content-type") ?? "");
  return fixed(
    () => input,
    init,
    (h) => ({ body: blob, headers: h ?? headers }),
    () => new Headers(headers),
  );
}

async function requestBody(
  request: Request,
  init: RequestInit | undefined,
  limitBytes: number,
  signal: AbortSignal | undefined,
): Promise<Send> {
  const buffered = await bufferBody(request.body as ReadableStream<Uint8Array>, limitBytes, signal);
  // Without the caller's signal: a Request listens to its signal until it is collected.
  const fresh = (body: BodyInit) => () => new Request(request, { body, signal: null, duplex: "half" } as RequestInit);
  const headers = () => new Headers(request.headers);
  if ("bytes" in buffered) return fixed(fresh(new Blob([buffered.bytes])), init, withHeaders, headers);
  const once = new AsIs(fresh(buffered.stream)(), init);
  return {
    resendable: false,
    call: (fetchImpl, s, h) => once.call(fetchImpl, s, h),
    headers,
    release: () => once.release(),
  };
}
