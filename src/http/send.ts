/**
 * How one call's request is sent, and sent again. A call that can send its request only once hands `fetch`
 * the caller's own `input` and `init`, untouched but for the signal; a call that may send it again keeps what
 * it needs to send exactly the same method, headers and bytes, and gives each attempt a request nobody has
 * read.
 */

import { raceAbort } from "../abort.ts";
import { bufferBody, cancelUnsent, isByteStream } from "./replayable-body.ts";
import type { FetchFunction, RequestSummary } from "./types.ts";

/** How each attempt sends the request. */
export interface Send {
  /**
   * Whether another attempt can send the request again: `false` for a body that the first attempt used up (a
   * caller's stream or `Request` sent as it was, a stream past the limit). Asked when a retry is considered,
   * and again just before the retry is sent: a streamed body can pass the limit in between, while the answered
   * attempt still uploads; `call` then rejects.
   */
  readonly resendable: boolean;
  /**
   * Sends it, under the attempt's signal; `headers`, when given, replace the request's (a `beforeRetry`'s).
   * Rejects with a `TypeError`, sending nothing, when the body cannot be sent again (see `resendable`).
   */
  call(fetchImpl: FetchFunction, signal: AbortSignal | undefined, headers?: Headers): Promise<Response>;
  /**
   * A retry was decided: the attempt under way has its answer, and its upload, if it still goes on, stops now
   * (a streamed body would otherwise go on being read during the backoff, past the limit, and leave the retry
   * nothing to send). Called from the retry's `onRetry`, before the backoff. Absent where there is no upload
   * to stop (a body held in memory, or one that is never sent again).
   */
  stopSending?(): void;
  /** A copy of the headers the request goes with, for a hook to change. */
  headers(): Headers;
  /**
   * The call is over: lets go of a body no fetch still sends (none took it, or the call failed), cancelling
   * it. `answered`: the call resolved with a response, whose fetch may still be sending the body.
   */
  release(answered: boolean): void;
}

/** A `Request`, told apart from a URL string or object without depending on one global class (realms, polyfills). */
export const isRequest = (input: unknown): input is Request =>
  typeof input === "object" && input !== null && typeof (input as Request).clone === "function" && "method" in input;

/** Body types that `fetch` reads anew from `init` on every call, so that the same `init` can be sent again. */
const isReusable = (body: BodyInit): boolean =>
  typeof body === "string" ||
  body instanceof ArrayBuffer ||
  ArrayBuffer.isView(body) ||
  body instanceof URLSearchParams ||
  (typeof Blob !== "undefined" && body instanceof Blob) ||
  (typeof FormData !== "undefined" && body instanceof FormData);

/**
 * The caller's `init` with the attempt's signal (and a hook's headers, or a body to replay); the caller's own
 * object when there is nothing to add. Every other field — known to staunch or not (`priority`, `cf`,
 * `dispatcher`, `next`…) — goes through as the caller gave it.
 */
function attemptInit(
  init: RequestInit | undefined,
  signal: AbortSignal | undefined,
  overrides?: RequestInit,
): RequestInit | undefined {
  // No signal to add: an init.signal of null must stay null (it drops the Request's own signal).
  if (signal === undefined) return overrides === undefined ? init : { ...init, ...overrides };
  // Spelt out for the common shapes: a spread of nothing still costs a generic copy.
  if (overrides === undefined) return init === undefined ? { signal } : { ...init, signal };
  return { ...init, ...overrides, signal };
}

const headersOf = (input: RequestInfo | URL, init: RequestInit | undefined): Headers =>
  new Headers(init?.headers ?? (isRequest(input) ? input.headers : undefined));

/** The stream the request's body comes from, when it is one: the caller's, in `init` or in a `Request`. */
function bodyStream(input: RequestInfo | URL, init: RequestInit | undefined): ReadableStream | null {
  if (init?.body != null) return init.body instanceof ReadableStream ? init.body : null;
  return isRequest(input) ? input.body : null;
}

/**
 * Cancels the caller's stream (in `init` or in a `Request`) when no attempt sent it and nothing else reads it:
 * an upload nobody sent still holds it (in a Worker, the incoming request's body).
 */
export function cancelUnsentBody(input: RequestInfo | URL, init: RequestInit | undefined): void {
  cancelUnsent(bodyStream(input, init));
}

/**
 * Hands `fetch` the caller's `input` and `init` as they are, the body unread: for a call that makes one
 * attempt, or sends its request again only when it never left (see `isNeverSentError`). That needs a body
 * that `fetch` reads anew from `init`; a caller's stream or `Request` body is used up by the first attempt.
 * With `keepBytes` (given only to a call that may retry), a `Request` with a body — what ky hands `fetch` —
 * is still sent as the caller made it, while a clone of it is kept for that retry, bounded by `keepBytes`
 * (see `sendKeepingClone`).
 */
export function sendAsIs(input: RequestInfo | URL, init: RequestInit | undefined, keepBytes?: number): Send {
  return (
    (keepBytes !== undefined && init?.body == null && isRequest(input) && sendKeepingClone(input, init, keepBytes)) ||
    new SendAsIs(input, init)
  );
}

/** A class, not an object of closures: most calls go this way, and its methods cost nothing per call. */
class SendAsIs implements Send {
  readonly #input: RequestInfo | URL;
  readonly #init: RequestInit | undefined;
  #taken = false;

  constructor(input: RequestInfo | URL, init: RequestInit | undefined) {
    this.#input = input;
    this.#init = init;
  }

  // Asked only after an attempt: reading a Request's `body` before it is sent turns it into a stream of unknown
  // length in Deno, which then sends it chunked instead of with a content-length.
  get resendable(): boolean {
    const input = this.#input;
    const initBody = this.#init?.body;
    if (initBody != null) return isReusable(initBody);
    return !isRequest(input) || (!input.bodyUsed && input.body === null);
  }

  call(fetchImpl: FetchFunction, signal: AbortSignal | undefined, headers?: Headers): Promise<Response> {
    this.#taken = true;
    return fetchImpl(this.#input, attemptInit(this.#init, signal, headers && { headers }));
  }

  headers(): Headers {
    return headersOf(this.#input, this.#init);
  }

  release(): void {
    if (!this.#taken) cancelUnsentBody(this.#input, this.#init);
  }
}

/**
 * The caller's `Request` on the first attempt; on a retry after a refused connection, a clone of it, kept
 * untouched: a clone keeps what the runtime knows of the body — its length (a `content-length`, not chunks)
 * and the source it follows a 307/308 redirect with — so the retry is framed as the original was. Another
 * clone, the tap, is read to bound the copy; both are cancelled when the call ends (it ends at once after an
 * answer or a failure that is not a refusal: only a refusal is retried here), or as soon as the body proves
 * past the bound. `undefined` for a `Request` without a body: nothing to keep.
 */
function sendKeepingClone(input: Request, init: RequestInit | undefined, limitBytes: number): Send | undefined {
  const tapped = input.clone().body;
  if (tapped === null) return undefined;
  let next: Request | undefined = input.clone();
  let tap = tapped.getReader();
  const drop = (): void => {
    // No reason given: each would cost a DOMException, and a tee hands its source both branches' reasons.
    void tap.cancel().catch(() => {});
    void next?.body?.cancel().catch(() => {});
    next = undefined;
  };
  // A clone is a tee: it buffers whatever the original's upload reads. The tap bounds that: a byte stream (how
  // runtimes hold a string, bytes, a Blob or FormData) is read to its end, up to limitBytes, which shows nobody
  // anything; a caller's own stream (ky's upload progress wraps the body in one) no further than its second
  // chunk, since reading it ahead of the upload would run the caller's progress ahead of the network. Which
  // kind it is is asked only of a body of more than one chunk: most (a string, JSON) are one.
  const whole = (async () => {
    let byteStream = false;
    for (let bytes = 0, chunk = 0; ; chunk++) {
      const { done, value } = await tap.read();
      if (done) return;
      bytes += value.byteLength;
      if (chunk === 1) {
        tap.releaseLock();
        byteStream = isByteStream(tapped);
        tap = tapped.getReader();
      }
      if (bytes > limitBytes || (chunk > 0 && !byteStream)) return drop();
    }
  })().catch(drop); // a body whose stream failed cannot be sent again either
  /** Why the latest attempt failed: a retry that cannot send the body after all ends the call with it. */
  let refusal: unknown;
  let taken = false;
  return {
    get resendable() {
      return next !== undefined;
    },
    call: async (fetchImpl, signal, headers) => {
      let request: Request | undefined = input;
      if (taken) {
        // A retry waits until the body was read whole (at once for one held in memory), or the attempt is over.
        await raceAbort(whole, signal);
        request = next;
        // The body turned out not to be whole within bounds: the call ends as the refused attempt did.
        if (request === undefined) throw refusal;
        next = request.clone(); // for the attempt after this one
      }
      taken = true;
      try {
        return await fetchImpl(request, attemptInit(init, signal, headers && { headers }));
      } catch (error) {
        refusal = error;
        throw error;
      }
    },
    headers: () => headersOf(input, init),
    release: () => {
      drop();
      if (!taken) cancelUnsent(input.body);
    },
  };
}

/**
 * How to send a request that may go out more than once. Bodies are replayed as something every runtime
 * sends again on a 307/308 redirect: a string, `URLSearchParams` or `Blob` as given; bytes (`ArrayBuffer`,
 * typed arrays, `DataView`) as they are, or as a `Blob` where a redirect needs it (see `sendBytes`);
 * `FormData` serialised once, so that every attempt has the same boundary; a `Request`'s body read first, up
 * to `limitBytes`. A caller's `ReadableStream` is sent as it is read — the first attempt streams — while a copy
 * is kept up to `limitBytes`; past the limit the copy is dropped and the request is not sent again.
 */
export function replayableSend(
  input: RequestInfo | URL,
  init: RequestInit | undefined,
  limitBytes: number,
  // The call's context, not its signal: under a deadline, reading the signal builds it, which only a body to
  // read needs (~0.5 KB and a tenth of a call's time in memory, for every GET).
  context: { readonly signal?: AbortSignal | undefined },
  replayStream?: StreamReplay,
): Send | Promise<Send> {
  const initBody = init?.body;
  if (initBody == null) {
    const stream = bodyStream(input, init);
    return stream === null ? sendAsIs(input, init) : sendRequestBody(input as Request, init, limitBytes, context.signal);
  }
  if (typeof initBody === "string" || initBody instanceof URLSearchParams) return sendAsIs(input, init);
  if (typeof Blob !== "undefined" && initBody instanceof Blob) return sendAsIs(input, init);
  if (initBody instanceof ArrayBuffer || ArrayBuffer.isView(initBody)) return sendBytes(input, init as RequestInit);
  if (typeof FormData !== "undefined" && initBody instanceof FormData) return sendForm(input, init, initBody);
  // A caller's stream is sent again only with the `replayStreams` layer; without it, it is sent once, as given.
  if (initBody instanceof ReadableStream && replayStream) return replayStream(input, init, initBody, limitBytes);
  return sendAsIs(input, init); // a stream, or a body type this runtime knows and staunch does not: fetch decides
}

/**
 * undici (Node's fetch) cannot follow a 307/308 with a byte body: it detached its own copy of the bytes when it
 * sent them, and rejects with "fetch failed", caused by a `TypeError` about a detached `ArrayBuffer` (Node 20
 * and 22). A `Blob` body it redirects fine.
 */
function isDetachedBytesRedirect(error: unknown): boolean {
  const cause = (error as { cause?: unknown } | null)?.cause;
  return cause instanceof TypeError && /detached arraybuffer/i.test(cause.message);
}

/**
 * Bytes, sent as the caller's `init` holds them (`fetch` reads them anew each time), not as a `Blob`: in Node a
 * `Blob` costs more than the rest of the call (2.4 → 6.1 µs over an in-memory fetch). Where a redirect needs
 * one — undici fails a 307/308 with a byte body — the attempt is sent again at once, and every later one, with
 * a `Blob` of the bytes: the server sees the redirecting request twice, which is safe for a request that may
 * be sent again.
 */
function sendBytes(input: RequestInfo | URL, init: RequestInit): Send {
  let blob: Blob | undefined;
  const send = (fetchImpl: FetchFunction, signal: AbortSignal | undefined, headers?: Headers): Promise<Response> =>
    fetchImpl(
      input,
      attemptInit(init, signal, blob ? { body: blob, ...(headers && { headers }) } : headers && { headers }),
    );
  return {
    resendable: true,
    call: (fetchImpl, signal, headers) =>
      blob
        ? send(fetchImpl, signal, headers)
        : send(fetchImpl, signal, headers).catch((error: unknown) => {
            if (!isDetachedBytesRedirect(error)) throw error;
            blob = new Blob([init.body as BufferSource]);
            return send(fetchImpl, signal, headers);
          }),
    headers: () => headersOf(input, init),
    release: NOTHING_TO_RELEASE,
  };
}

/** Every attempt sends `body` (a Blob) in place of the caller's, with `headers` when the body needs its own. */
function sendWithBody(
  input: RequestInfo | URL,
  init: RequestInit | undefined,
  body: Blob,
  headers: Headers | undefined,
): Send {
  return {
    resendable: true,
    call: (fetchImpl, signal, hookHeaders) =>
      fetchImpl(
        input,
        attemptInit(init, signal, { body, ...((hookHeaders ?? headers) && { headers: hookHeaders ?? headers }) }),
      ),
    headers: () => new Headers(headers ?? headersOf(input, init)),
    release: NOTHING_TO_RELEASE,
  };
}

export const NOTHING_TO_RELEASE = (): void => {};

/** How a caller's `ReadableStream` body is sent so that it can be sent again: the `replayStreams` layer. */
export interface StreamReplay {
  /**
   * createFetch's own step: its shape may change in any release.
   *
   * @internal
   */
  // biome-ignore lint/style/useShorthandFunctionType: only a call signature can carry @internal for TypeDoc
  (input: RequestInfo | URL, init: RequestInit | undefined, stream: ReadableStream, limitBytes: number): Send;
}

/** Exported for the stream layer, which shares the way every attempt's init and headers are made. */
export { attemptInit, headersOf };

/** FormData draws a new boundary each time it is sent: serialised once, boundary and all. */
async function sendForm(input: RequestInfo | URL, init: RequestInit | undefined, form: FormData): Promise<Send> {
  const serialised = new Response(form);
  const bytes = await serialised.arrayBuffer();
  const headers = headersOf(input, init);
  if (!headers.has("content-type")) headers.set("content-type", serialised.headers.get("content-type") ?? "");
  // A Blob without a type: its type would be lower-cased into the content-type, and Chromium's boundary is not.
  return sendWithBody(input, init, new Blob([bytes]), headers);
}

/**
 * A `Request` with a body: read first, up to the limit (it may carry its body's own source, which a redirect
 * needs, and a stream made of it would not), and sent as a new `Request` of the same kind each attempt, so
 * that a fetch wrapper can read it. Past the limit, the bytes read and the rest are sent once.
 */
async function sendRequestBody(
  request: Request,
  init: RequestInit | undefined,
  limitBytes: number,
  signal: AbortSignal | undefined,
): Promise<Send> {
  const buffered = await bufferBody(request.body as ReadableStream<Uint8Array>, limitBytes, signal);
  // Without the caller's signal: a Request listens to its signal until it is collected.
  const fresh = (body: BodyInit): Request =>
    new Request(request, { body, signal: null, duplex: "half" } as RequestInit);
  if ("bytes" in buffered) {
    const blob = new Blob([buffered.bytes]);
    return {
      resendable: true,
      call: (fetchImpl, signal, headers) => fetchImpl(fresh(blob), attemptInit(init, signal, headers && { headers })),
      headers: () => new Headers(request.headers),
      release: NOTHING_TO_RELEASE,
    };
  }
  const { stream } = buffered;
  let taken = false;
  return {
    resendable: false,
    call: (fetchImpl, signal, headers) => {
      taken = true;
      return fetchImpl(fresh(stream), attemptInit(init, signal, headers && { headers }));
    },
    headers: () => new Headers(request.headers),
    release: () => {
      if (!taken) cancelUnsent(stream);
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
