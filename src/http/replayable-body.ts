/**
 * Request bodies that can be sent again. A stream can be read only once, so a retry needs its bytes kept;
 * keeping them is bounded, and a body past the bound is sent once, whole, and never retried.
 */

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
