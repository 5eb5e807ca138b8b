/**
 * Fixed-size chunking for the UnixFS importer, copying each input buffer once into a fresh
 * chunk before asking for the next one.
 *
 * The importer's own `fixedSize` chunker keeps references to the caller's buffers until a
 * chunk is full, so a producer that reuses its output buffer (as the encryption stream does,
 * to spare the garbage collector) would have its earlier bytes overwritten inside pending
 * chunks. Copying costs one memcpy per byte, which `fixedSize` pays anyway whenever input
 * and chunk boundaries differ.
 */

import type { AbortOptions } from "./index.ts";

export type Chunker = (source: AsyncIterable<Uint8Array>) => AsyncGenerator<Uint8Array>;

/** `onBytes` is called with the length of every input buffer, so callers can count the size. */
export function copyingChunker(chunkSize: number, onBytes: (n: number) => void, options: AbortOptions = {}): Chunker {
  return async function* chunk(source) {
    let chunk = Buffer.allocUnsafeSlow(chunkSize);
    let filled = 0;
    let emitted = false;
    for await (const input of source) {
      options.signal?.throwIfAborted();
      onBytes(input.byteLength);
      let position = 0;
      while (position < input.byteLength) {
        const n = Math.min(chunkSize - filled, input.byteLength - position);
        chunk.set(input.subarray(position, position + n), filled);
        filled += n;
        position += n;
        if (filled === chunkSize) {
          yield chunk;
          emitted = true;
          chunk = Buffer.allocUnsafeSlow(chunkSize);
          filled = 0;
        }
      }
    }
    // An empty file is one empty chunk; a short tail is copied out so that a kept block
    // (MemoryBlockstore keeps what it is given) does not pin a whole chunk's memory.
    if (filled > 0 || !emitted) {
      const tail = new Uint8Array(filled);
      tail.set(chunk.subarray(0, filled));
      yield tail;
    }
  };
}
