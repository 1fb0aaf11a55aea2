/**
 * Request bodies that can be sent again. A stream can be read only once, so a retry needs its bytes kept;
 * keeping them is bounded, and a body past the bound is sent once, whole, and never retried.
 */

export const superseded = (): DOMException =>
  new DOMException("A later attempt sends the request body now", "AbortError");
const cutShort = (): DOMException => new DOMException("The call is over: its request body was cancelled", "AbortError");

/** Why a body no attempt sent is cancelled: the caller's stream (a Worker's incoming body) must be let go. */
const notSent = (): DOMException => new DOMException("No attempt sent the request body", "AbortError");

/**
 * Cancels a stream no attempt sent, unless something else reads it. An unsent upload still holds the caller's
 * stream (in a Worker, the incoming request's body).
 */
export function cancelUnsent(stream: ReadableStream | null | undefined): void {
  if (stream == null || stream.locked) return;
  void stream.cancel(notSent()).catch(() => {});
}

/**
 * A retry whose body is gone: not a network failure (nothing was sent), and sending it again cannot help. A
 * `TypeError`, as `fetch` throws for a body it cannot send ("Body is unusable").
 */
const tooLargeToResend = (limitBytes: number): TypeError =>
  new TypeError(`createFetch: a streamed request body past maxBufferedBodyBytes (${limitBytes}) cannot be sent again`);

/**
 * A caller's stream, sent as it is read while a copy of what was read is kept, up to `limitBytes`. The source
 * is read only as fast as the attempt's `fetch` reads (no read-ahead): the upload streams, and a caller's
 * progress report follows the network. The next attempt gets the copy and then the rest of the source, or,
 * once the source was read whole, a `Blob` of it (which every runtime sends again on a 307/308 redirect).
 *
 * The chunk that takes the copy past the limit is kept too, until a stream sends it: that stream then sends
 * the rest of the source alone, the copy is dropped, and no later attempt may send the body — it fails, it
 * never sends part of it (an upload goes on after its answer came, during the backoff, so a retry decided
 * while the copy was whole can find it dropped). An attempt stopped before it sent that chunk leaves the copy
 * whole: the next one sends it.
 */
export class StreamCopy {
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  readonly #limitBytes: number;
  #chunks: Uint8Array<ArrayBuffer>[] = [];
  /** Bytes read into the copy; past the limit, its last chunk is the one that took it there. */
  #bytes = 0;
  #done = false;
  #started = false;
  /** The generation of the stream that sent the chunk past the limit, which alone sends the rest. */
  #droppedAt: number | undefined;
  /** The latest attempt's fetch still reads its body: neither cancelled it (it failed) nor was it stopped. */
  #live = false;
  /** The call is over: no attempt will follow. */
  #released = false;
  /** Cancelled by staunch: a read that then ends must fail the body, not end it short as if whole. */
  #sourceCancelled = false;
  #generation = 0;
  /** Reads of the source, one at a time, in order, whichever attempt's stream asked. */
  #reading: Promise<unknown> = Promise.resolve();

  constructor(source: ReadableStream<Uint8Array>, limitBytes: number) {
    this.#reader = source.getReader();
    this.#limitBytes = limitBytes;
  }

  /**
   * `false` once the copy was dropped: the body is past the limit and cannot be sent again. It can turn
   * `false` after a retry was decided, while the answered attempt still uploads: ask it again before sending.
   */
  get resendable(): boolean {
    return this.#droppedAt === undefined;
  }

  /**
   * The body for the next attempt; any earlier attempt's stream stops. Throws the `TypeError` of a body that
   * cannot be sent again once the copy was dropped: a stream of the rest alone, or a `Blob` of nothing, would
   * be a well-framed body without its beginning, which a server would accept.
   */
  body(): ReadableStream<Uint8Array> | Blob {
    const generation = ++this.#generation;
    this.#live = this.#droppedAt === undefined;
    if (!this.#live) throw tooLargeToResend(this.#limitBytes);
    this.#started = true;
    if (this.#done) return new Blob(this.#chunks);
    let index = 0;
    const fail = (controller: ReadableStreamDefaultController<Uint8Array>, error: unknown): void => {
      if (generation === this.#generation) this.#live = false;
      controller.error(error);
    };
    return new ReadableStream<Uint8Array>(
      {
        pull: async (controller) => {
          for (;;) {
            if (generation !== this.#generation) return fail(controller, superseded());
            if (this.#droppedAt === generation) {
              // Past the limit this stream alone sends the body, and it has sent every chunk so far.
              const { done, value } = await this.#reader.read();
              if (!done) return controller.enqueue(value);
              if (this.#sourceCancelled) return fail(controller, cutShort());
              this.#done = true;
              return controller.close();
            }
            if (index < this.#chunks.length) {
              const chunk = this.#chunks[index++] as Uint8Array<ArrayBuffer>;
              if (index < this.#chunks.length || this.#bytes <= this.#limitBytes) {
                // A copy goes out: a runtime may take over the buffer it sends, and the next attempt needs it.
                return controller.enqueue(chunk.slice());
              }
              // The chunk past the limit: from here on, nothing is kept.
              this.#droppedAt = generation;
              this.#chunks = [];
              return controller.enqueue(chunk);
            }
            if (this.#done) return controller.close();
            if (this.#sourceCancelled) return fail(controller, cutShort());
            await this.#read();
          }
        },
        // A failed attempt's fetch cancels its body; the source must live on for the next attempt, unless the
        // call is over.
        cancel: (reason) => {
          if (generation !== this.#generation) return;
          this.#live = false;
          if (this.#released) this.#cancelSource(reason);
        },
      },
      { highWaterMark: 0 },
    );
  }

  /**
   * The latest attempt's answer came and a retry was decided: its stream stops at its next read, so that an
   * upload that goes on during the backoff does not send the source past the limit and leave the retry
   * nothing to send.
   */
  stop(): void {
    this.#generation++;
    this.#live = false;
  }

  /** Reads one chunk into the copy, unless the source ended or the copy already holds the chunk past the limit. */
  #read(): Promise<void> {
    const next = this.#reading.then(async () => {
      if (this.#done || this.#bytes > this.#limitBytes) return;
      const { done, value } = await this.#reader.read();
      if (done) {
        // A cancelled source reads as ended: it is not, and no attempt may send it as if it were.
        if (!this.#sourceCancelled) this.#done = true;
        return;
      }
      this.#bytes += value.byteLength;
      this.#chunks.push(value as Uint8Array<ArrayBuffer>);
    });
    this.#reading = next.catch(() => {});
    return next;
  }

  /**
   * The call is over: cancels the source unless it was read whole or an attempt's fetch still sends it (then
   * when that fetch cancels it). An upload nobody finishes still holds the caller's stream.
   */
  release(answered: boolean): void {
    this.#released = true;
    // The call's answer may have come before the upload ended: the fetch still sends the body, and cancels it
    // or reads it to the end.
    if (answered && this.#live) return;
    this.#cancelSource(
      this.#started ? new DOMException("The request body was not sent whole", "AbortError") : notSent(),
    );
  }

  #cancelSource(reason: unknown): void {
    if (this.#done || this.#sourceCancelled) return;
    this.#sourceCancelled = true;
    void this.#reader.cancel(reason).catch(() => {});
  }
}

/** A body held in memory, or a stream too large to hold that must be sent exactly once. */
export type BufferedBody =
  | { readonly bytes: Uint8Array<ArrayBuffer> }
  | { readonly stream: ReadableStream<Uint8Array> };

/** The chunks, `total` bytes in all, as one array. */
export function concat(chunks: readonly Uint8Array[], total: number): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
}

/**
 * Reads `stream` into memory if it holds at most `limitBytes`. Past the limit, returns a stream that yields
 * the chunks already read and then the rest of the original, so nothing is lost or truncated.
 */
export async function bufferBody(
  stream: ReadableStream<Uint8Array>,
  limitBytes: number,
  signal?: AbortSignal,
): Promise<BufferedBody> {
  if (signal?.aborted) {
    await stream.cancel(signal.reason).catch(() => {});
    throw signal.reason;
  }
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  // A body that stalls must not outlive the caller's patience: an abort cancels the read in progress.
  const onAbort = (): void => void reader.cancel(signal?.reason).catch(() => {});
  signal?.addEventListener("abort", onAbort, { once: true });
  try {
    for (;;) {
      const { done, value } = await reader.read();
      // A cancelled read ends as "done": without this check a cancelled body would pass for a short one.
      if (signal?.aborted) throw signal.reason;
      if (done) return { bytes: concat(chunks, total) };
      chunks.push(value);
      total += value.byteLength;
      if (total > limitBytes) break;
    }
  } finally {
    signal?.removeEventListener("abort", onAbort);
  }
  let index = 0;
  return {
    stream: new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (index < chunks.length) {
          controller.enqueue(chunks[index] as Uint8Array);
          chunks[index++] = new Uint8Array(0); // let the replayed chunk be collected
          return;
        }
        const { done, value } = await reader.read();
        if (done) controller.close();
        else controller.enqueue(value);
      },
      cancel(reason) {
        return reader.cancel(reason);
      },
    }),
  };
}

/** A byte stream, told apart without reading it: only a byte stream gives a BYOB reader. */
export function isByteStream(stream: ReadableStream): boolean {
  try {
    stream.getReader({ mode: "byob" }).releaseLock();
    return true;
  } catch {
    return false;
  }
}
