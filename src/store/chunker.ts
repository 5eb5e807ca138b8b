/**
 * Fixed-size chunking for the UnixFS importer, copying each input buffer once into a chunk
 * before asking for the next one.
 *
 * The importer's own `fixedSize` chunker keeps references to the caller's buffers until a
 * chunk is full, so a producer that reuses its output buffer (as the encryption stream does,
 * to spare the garbage collector) would have its earlier bytes overwritten inside pending
 * chunks. Copying costs one memcpy per byte, which `fixedSize` pays anyway whenever input
 * and chunk boundaries differ.
 *
 * Full chunks come from a `ChunkPool`: the store gives a chunk back once its block write has
 * finished (the importer never reads a leaf's bytes after persisting it), so an upload
 * cycles through a few dozen chunks instead of allocating 1 MiB per block for the garbage
 * collector.
 */

import { VaultError } from "../errors.ts";
import type { AbortOptions } from "./index.ts";

export type Chunker = (source: AsyncIterable<Uint8Array>) => AsyncGenerator<Uint8Array>;

/** Chunks of one size, handed out and given back; a chunk is reused only once given back. */
export class ChunkPool {
  readonly size: number;
  readonly #max: number;
  readonly #free: Buffer[] = [];
  /** Chunks handed out and not yet given back: only these are accepted, each once. */
  readonly #out = new Set<ArrayBufferLike>();

  constructor(size: number, max = 64) {
    this.size = size;
    this.#max = max;
  }

  take(): Buffer {
    const chunk = this.#free.pop() ?? Buffer.allocUnsafeSlow(this.size);
    this.#out.add(chunk.buffer);
    return chunk;
  }

  /** Gives back a chunk from `take` whose bytes nobody will read again; anything else is ignored. */
  give(bytes: Uint8Array): void {
    if (!this.#out.delete(bytes.buffer)) return;
    if (bytes.byteOffset !== 0 || bytes.byteLength !== this.size || this.#free.length >= this.#max) return;
    this.#free.push(bytes as Buffer);
  }
}

/** `onBytes` is called with the length of every input buffer, so callers can count the size. */
export function copyingChunker(
  chunkSize: number,
  onBytes: (n: number) => void,
  options: AbortOptions = {},
  pool: ChunkPool = new ChunkPool(chunkSize, 0),
): Chunker {
  return async function* chunk(source) {
    let chunk = pool.take();
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
          chunk = pool.take();
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

/**
 * For content already cut into leaves (`addLeaves`): passes them through as chunks, uncopied,
 * after checking that every one but the last has `chunkSize` bytes, so the DAG is the one
 * `copyingChunker` would give for the same bytes.
 */
export function leafChunker(chunkSize: number, onBytes: (n: number) => void, options: AbortOptions = {}): Chunker {
  return async function* chunk(source) {
    let short = false;
    let emitted = false;
    for await (const leaf of source) {
      options.signal?.throwIfAborted();
      if (short || leaf.byteLength > chunkSize || (leaf.byteLength === 0 && emitted)) {
        throw new VaultError("INTERNAL", `a leaf of ${leaf.byteLength} bytes does not fit ${chunkSize}-byte chunks`);
      }
      short = leaf.byteLength < chunkSize;
      onBytes(leaf.byteLength);
      yield leaf;
      emitted = true;
    }
    if (!emitted) yield new Uint8Array(0);
  };
}
