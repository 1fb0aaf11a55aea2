/**
 * The `replayStreams` layer of createFetch: a caller's `ReadableStream` body that may be sent again. Without it
 * (the default, as issue 11 allows), such a body is sent once, as the caller made it, and not retried; with it,
 * the first attempt streams while a copy is kept up to `maxBufferedBodyBytes`, and a retry sends the copy and
 * then the rest. A value the user imports, so that a bundle without it carries no stream copy (~0.65 KB
 * min+gzip).
 */

import { StreamCopy, superseded } from "./replayable-body.ts";
import { attemptInit, headersOf, type Send, type StreamReplay } from "./send.ts";

/**
 * Lets createFetch send a streamed request body again (see {@link StreamReplay}): pass it as the
 * `replayStreams` option.
 *
 * @example
 * ```ts
 * const fetch = createFetch({ replayStreams });
 * const upload = new Blob(["large upload"]).stream();
 * await fetch(url, { method: "PUT", body: upload, duplex: "half" } as RequestInit); // retried whole on a 503
 * ```
 */
export const replayStreams: StreamReplay = (input, init, stream, limitBytes) =>
  sendStream(input, init, new StreamCopy(stream, limitBytes));

/** A caller's stream: each attempt gets a stream of the copy so far and then the rest; once read whole, a Blob. */
function sendStream(input: RequestInfo | URL, init: RequestInit | undefined, copy: StreamCopy): Send {
  /** Aborts the latest attempt's fetch. */
  let abortLatest: AbortController | undefined;
  // An attempt that is over is aborted as well as its body stopped: workerd lets go of a body it still reads
  // (after a reset, it keeps reading) only when its fetch is aborted, and logs a body that errors under it as
  // an uncaught error. Node and Deno go on uploading after an answer until the body errors.
  const endLatest = (): void => abortLatest?.abort(superseded());
  return {
    get resendable() {
      return copy.resendable;
    },
    call: (fetchImpl, signal, headers) => {
      endLatest();
      let body: ReadableStream<Uint8Array> | Blob;
      try {
        body = copy.body();
      } catch (error) {
        return Promise.reject(error); // before any byte went out: nothing is sent
      }
      let attemptSignal = signal;
      if (body instanceof ReadableStream) {
        abortLatest = new AbortController();
        attemptSignal = signal ? AbortSignal.any([signal, abortLatest.signal]) : abortLatest.signal;
      }
      const overrides = {
        body,
        ...(body instanceof ReadableStream && { duplex: "half" }),
        ...(headers && { headers }),
      };
      return fetchImpl(input, attemptInit(init, attemptSignal, overrides as RequestInit));
    },
    headers: () => headersOf(input, init),
    stopSending: () => {
      endLatest();
      copy.stop();
    },
    release: (answered) => copy.release(answered),
  };
}
