/**
 * Request bodies that can be sent again. A stream can be read only once, so a retry needs its bytes kept;
 * keeping them is bounded, and a body past the bound is sent once, whole, and never retried.
 */

const superseded = (): DOMException => new DOMException("A later attempt sends the request body now", "AbortError");
const cutShort = (): DOMException => new DOMException("The call is over: its request body was cancelled", "AbortError");

/**
 * A caller's stream, sent as it is read while a copy of what was read is kept, up to `limitBytes`. The source
 * is read only as fast as the attempt's `fetch` reads (no read-ahead): the upload streams, and a caller's
 * progress report follows the network. The next attempt gets the copy and then the rest of the source, or,
 * once the source was read whole, a `Blob` of it (which every runtime sends again on a 307/308 redirect).
 * Past the limit the copy is dropped: the attempt under way goes on, and no other may follow.
 */
export class StreamCopy {
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  readonly #limitBytes: number;
  #chunks: Uint8Array<ArrayBuffer>[] = [];
  #bytes = 0;
  #kept = true;
  #done = false;
  #started = false;
  /** A chunk past the limit went to an attempt's stream that a later attempt had replaced. */
  #lost = false;
  /** The latest attempt's fetch cancelled its body (it failed): nobody reads the source now. */
  #liveCancelled = false;
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

  /** `false` once the copy was dropped: the body is past the limit and cannot be sent again. */
  get resendable(): boolean {
    return this.#kept;
  }

  /** The body for the next attempt; any earlier attempt's stream stops. */
  body(): ReadableStream<Uint8Array> | Blob {
    const generation = ++this.#generation;
    this.#started = true;
    this.#liveCancelled = false;
    if (this.#done) return new Blob(this.#chunks);
    let index = 0;
    return new ReadableStream<Uint8Array>(
      {
        pull: async (controller) => {
          for (;;) {
            if (generation !== this.#generation) return controller.error(superseded());
            // A copy of each kept chunk goes out: a runtime may take over the buffer it sends.
            if (index < this.#chunks.length) return controller.enqueue((this.#chunks[index++] as Uint8Array).slice());
            if (this.#done) return controller.close();
            if (this.#sourceCancelled) return controller.error(cutShort());
            if (!this.#kept) {
              // Past the limit only one attempt can send the body, and it must have every chunk.
              if (this.#lost) return controller.error(superseded());
              const { done, value } = await this.#reader.read();
              if (!done) return controller.enqueue(value);
              if (this.#sourceCancelled) return controller.error(cutShort());
              this.#done = true;
              return controller.close();
            }
            const overflow = await this.#read();
            if (overflow !== undefined) {
              // This read took the copy past the limit: its chunk goes out once, from the attempt that asked.
              if (generation !== this.#generation) this.#lost = true;
              else return controller.enqueue(overflow);
            }
          }
        },
        // A failed attempt's fetch cancels its body; the source must live on for the next attempt, unless the
        // call is over.
        cancel: (reason) => {
          if (generation !== this.#generation) return;
          this.#liveCancelled = true;
          if (this.#released) this.#cancelSource(reason);
        },
      },
      { highWaterMark: 0 },
    );
  }

  /** Reads one chunk into the copy; returns it when it took the copy past the limit (the copy is dropped). */
  #read(): Promise<Uint8Array | undefined> {
    const next = this.#reading.then(async () => {
      if (this.#done || !this.#kept) return undefined;
      const { done, value } = await this.#reader.read();
      if (done) {
        // A cancelled source reads as ended: it is not, and no attempt may send it as if it were.
        if (!this.#sourceCancelled) this.#done = true;
        return undefined;
      }
      this.#bytes += value.byteLength;
      if (this.#bytes > this.#limitBytes) {
        this.#kept = false;
        this.#chunks = [];
        return value;
      }
      this.#chunks.push(value as Uint8Array<ArrayBuffer>);
      return undefined;
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
    if (answered && this.#started && !this.#liveCancelled) return;
    this.#cancelSource(
      new DOMException(
        this.#started ? "The request body was not sent whole" : "No attempt sent the request body",
        "AbortError",
      ),
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

function concat(chunks: readonly Uint8Array[], total: number): Uint8Array<ArrayBuffer> {
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
