/**
 * Seals an upload straight into store leaves: the age v1 payload (C2SP: nonce, then STREAM
 * chunks, as encryptPayload) cut into blocks of `leafSize` bytes, each with its SHA-256, plus
 * the plaintext's SHA-256. One pass over the bytes does all three, so the ciphertext is hashed
 * while it is still in cache and never crosses to another thread to be copied and hashed again
 * (the store's own leaf hashing, `src/store/leaves.ts`, is skipped for these blocks).
 *
 * Used by the stream worker (stream-worker.ts) and, with no worker, on the event loop
 * (offload.ts). Input buffers may be reused by the caller as soon as `push` returns: the
 * last chunk's bytes are copied aside, since whether it is final is known only later. Leaf
 * buffers come from `take` when needed and are handed out whole (the last one as a view of its
 * first bytes); one taken and not handed out (an upload that ends early) goes back to `give`.
 */

import { createHash, type Hash, type KeyObject } from "node:crypto";
import { CHUNK_SIZE, sealChunk } from "./chunks.ts";

/** A block of the payload and its SHA-256 (a raw leaf's digest). */
export type SealedLeaf = { bytes: Uint8Array; sha256: Uint8Array };

export class LeafSealer {
  readonly #key: KeyObject;
  readonly #leafSize: number;
  readonly #take: (size: number) => Uint8Array;
  readonly #give: (leaf: Uint8Array) => void;
  readonly #plain: Hash = createHash("sha256");
  readonly #chunkNonce = Buffer.alloc(12);
  /** Plaintext not sealed yet: at most one chunk, copied out of the caller's buffer. */
  readonly #carry = Buffer.allocUnsafeSlow(CHUNK_SIZE);
  #carried = 0;
  #counter = 0;
  #leaf: Uint8Array | undefined;
  #leafHash: Hash = createHash("sha256");
  #filled = 0;
  #out: SealedLeaf[] = [];

  constructor(
    key: KeyObject,
    nonce: Uint8Array,
    leafSize: number,
    take: (size: number) => Uint8Array,
    give: (leaf: Uint8Array) => void = () => {},
  ) {
    this.#key = key;
    this.#leafSize = leafSize;
    this.#take = take;
    this.#give = give;
    this.#emit(nonce);
  }

  /** Hashes and seals `plain` as far as it can be; returns the leaves completed meanwhile. */
  push(plain: Uint8Array): SealedLeaf[] {
    if (plain.byteLength === 0) return [];
    this.#plain.update(plain);
    let at = 0;
    // Complete a carried chunk first; it is sealed only once a byte is known to follow it.
    if (this.#carried > 0) {
      const n = Math.min(CHUNK_SIZE - this.#carried, plain.byteLength);
      this.#carry.set(plain.subarray(0, n), this.#carried);
      this.#carried += n;
      at = n;
      if (at === plain.byteLength) return this.#drain();
      this.#seal([this.#carry], false);
      this.#carried = 0;
    }
    // Full chunks with at least one byte after them are sealed in place, without a copy.
    while (plain.byteLength - at > CHUNK_SIZE) {
      this.#seal([plain.subarray(at, at + CHUNK_SIZE)], false);
      at += CHUNK_SIZE;
    }
    this.#carry.set(plain.subarray(at), 0);
    this.#carried = plain.byteLength - at;
    return this.#drain();
  }

  /** Seals the final chunk; returns the last leaves and the plaintext's SHA-256. */
  end(): { leaves: SealedLeaf[]; sha256: Uint8Array } {
    this.#seal([this.#carry.subarray(0, this.#carried)], true);
    this.#carried = 0;
    if (this.#filled > 0) this.#finishLeaf();
    this.#carry.fill(0);
    return { leaves: this.#drain(), sha256: new Uint8Array(this.#plain.digest()) };
  }

  /** Wipes the plaintext still held and gives back a leaf not handed out; for any ending. */
  dispose(): void {
    this.#carry.fill(0);
    this.#carried = 0;
    if (this.#leaf !== undefined) this.#give(this.#leaf);
    this.#leaf = undefined;
  }

  #seal(parts: Uint8Array[], last: boolean): void {
    for (const piece of sealChunk(this.#key, this.#counter++, last, parts, this.#chunkNonce)) this.#emit(piece);
  }

  /** Appends payload bytes to the current leaf, hashing them on the way. */
  #emit(bytes: Uint8Array): void {
    for (let at = 0; at < bytes.byteLength; ) {
      this.#leaf ??= this.#take(this.#leafSize);
      const n = Math.min(this.#leafSize - this.#filled, bytes.byteLength - at);
      const part = bytes.subarray(at, at + n);
      this.#leaf.set(part, this.#filled);
      this.#leafHash.update(part);
      this.#filled += n;
      at += n;
      if (this.#filled === this.#leafSize) this.#finishLeaf();
    }
  }

  #finishLeaf(): void {
    const leaf = this.#leaf as Uint8Array;
    const bytes = this.#filled === this.#leafSize ? leaf : leaf.subarray(0, this.#filled);
    this.#out.push({ bytes, sha256: new Uint8Array(this.#leafHash.digest()) });
    this.#leafHash = createHash("sha256");
    this.#leaf = undefined;
    this.#filled = 0;
  }

  #drain(): SealedLeaf[] {
    const out = this.#out;
    this.#out = [];
    return out;
  }
}

/**
 * Leaf buffers given back for reuse, by size: at most `max` of each size are kept (about what a
 * store holds in flight). Shared by the worker and the event-loop path.
 */
export class LeafPool {
  readonly #max: number;
  readonly #spare = new Map<number, Uint8Array[]>();

  constructor(max = 48) {
    this.#max = max;
  }

  take = (size: number): Uint8Array => this.#spare.get(size)?.pop() ?? Buffer.allocUnsafeSlow(size);

  /** Keeps the whole buffer under `bytes` (a short last leaf is a view of a full one). */
  give = (bytes: Uint8Array): void => {
    const size = bytes.buffer.byteLength;
    const list = this.#spare.get(size) ?? [];
    this.#spare.set(size, list);
    if (size > 0 && list.length < this.#max) list.push(new Uint8Array(bytes.buffer));
  };

  clear(): void {
    this.#spare.clear();
  }
}
