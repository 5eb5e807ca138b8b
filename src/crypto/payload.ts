/**
 * The age v1 payload (C2SP age specification, "Payload"): a 16-byte nonce, then STREAM over
 * ChaCha20-Poly1305 in 64 KiB chunks, keyed by HKDF-SHA-256(file key, salt = nonce,
 * info = "payload"). Chunk nonce = 11-byte big-endian counter ‖ last-chunk flag.
 *
 * This runs on node:crypto (OpenSSL), about 15× the pure-JS speed. Input is never copied on
 * the way in: a chunk is fed to the cipher from the caller's pieces, held (not mutated) until we
 * know whether more data follows, because the last chunk is sealed with a different nonce.
 * Callers must not mutate a buffer after yielding it. Regular files can instead be processed by
 * several threads at once (parallel.ts).
 *
 * Decryption releases plaintext only after its tags verified, so a failure part-way leaves the
 * consumer with authenticated plaintext only.
 */

import { createHash, createSecretKey, hkdfSync, type KeyObject, randomBytes } from "node:crypto";
import { VaultError } from "../errors.ts";
import { CHUNK_SIZE, ChunkOpener, SEALED_CHUNK, sealChunk, TAG_SIZE } from "./chunks.ts";
import { Reader } from "./reader.ts";

export { CHUNK_SIZE, SEALED_CHUNK, TAG_SIZE } from "./chunks.ts";
export const NONCE_SIZE = 16;

type Source = AsyncIterable<Uint8Array> | Iterable<Uint8Array>;

export function payloadKeyBytes(fileKey: Uint8Array, nonce: Uint8Array): Uint8Array {
  return new Uint8Array(hkdfSync("sha256", fileKey, nonce, "payload", 32));
}

/** The STREAM key as a KeyObject, made once: raw key bytes would cost a key import per chunk. */
export function payloadKey(fileKey: Uint8Array, nonce: Uint8Array): KeyObject {
  return createSecretKey(payloadKeyBytes(fileKey, nonce));
}

/** Size of the payload (nonce included) for a plaintext of `size` bytes. */
export function payloadSize(size: number): number {
  const chunks = Math.max(1, Math.ceil(size / CHUNK_SIZE));
  return NONCE_SIZE + size + chunks * TAG_SIZE;
}

/** Size of the plaintext for a payload of `size` bytes (nonce included); throws on an impossible size. */
export function plaintextSize(size: number): number {
  const body = size - NONCE_SIZE;
  if (body < TAG_SIZE) throw new VaultError("PAYLOAD_FAILURE", "payload too short");
  const full = Math.floor(body / SEALED_CHUNK);
  const rest = body % SEALED_CHUNK;
  if (rest > 0 && rest <= TAG_SIZE && !(full === 0 && rest === TAG_SIZE)) {
    throw new VaultError("PAYLOAD_FAILURE", "payload size is not a valid STREAM size");
  }
  return body - (full + (rest > 0 ? 1 : 0)) * TAG_SIZE;
}

/** Holds incoming pieces without copying and hands them out in frames of `frame` bytes. */
export class Framer {
  readonly frame: number;
  private pieces: Uint8Array[] = [];
  private held = 0;

  constructor(frame: number) {
    this.frame = frame;
  }

  get size(): number {
    return this.held;
  }

  push(piece: Uint8Array): void {
    if (piece.length === 0) return;
    this.pieces.push(piece);
    this.held += piece.length;
  }

  /** Removes and returns up to `frame` bytes as a list of views. */
  take(): Uint8Array[] {
    const out: Uint8Array[] = [];
    let want = Math.min(this.frame, this.held);
    this.held -= want;
    while (want > 0) {
      const p = this.pieces[0] as Uint8Array;
      if (p.length <= want) {
        out.push(p);
        this.pieces.shift();
        want -= p.length;
      } else {
        out.push(p.subarray(0, want));
        this.pieces[0] = p.subarray(want);
        want = 0;
      }
    }
    return out;
  }

  /** Like take(), as one contiguous array (copied only when the frame straddles pieces). */
  takeContiguous(): Uint8Array {
    const parts = this.take();
    return parts.length === 1 ? (parts[0] as Uint8Array) : Buffer.concat(parts);
  }
}

/**
 * Encrypts `source` into an age payload: yields the nonce, then ciphertext and tags as they
 * are produced (several pieces per chunk; concatenate or write them in order).
 */
export async function* encryptPayload(
  fileKey: Uint8Array,
  source: Source,
  options: { nonce?: Uint8Array; signal?: AbortSignal } = {},
): AsyncGenerator<Uint8Array> {
  const nonce = options.nonce ?? randomBytes(NONCE_SIZE);
  if (nonce.length !== NONCE_SIZE) throw new VaultError("BAD_REQUEST", "payload nonce must be 16 bytes");
  const key = payloadKey(fileKey, nonce);
  const framer = new Framer(CHUNK_SIZE);
  const chunkNonce = Buffer.alloc(12);
  let counter = 0;
  yield nonce;
  for await (const piece of source) {
    options.signal?.throwIfAborted();
    framer.push(piece);
    // Seal only chunks known not to be last: a full chunk with at least one byte after it.
    while (framer.size > CHUNK_SIZE) yield* sealChunk(key, counter++, false, framer.take(), chunkNonce);
  }
  yield* sealChunk(key, counter, true, framer.take(), chunkNonce);
}

/**
 * Decrypts an age payload (nonce first). Yields plaintext chunk by chunk, each only after its
 * tag verified. Throws `PAYLOAD_FAILURE` on a bad tag, truncation, data after the final chunk,
 * or an empty final chunk after a full one; `HEADER_FAILURE` when the nonce itself is missing or
 * short (as the age vectors classify it).
 */
export async function* decryptPayload(
  fileKey: Uint8Array,
  source: Source,
  options: { signal?: AbortSignal } = {},
): AsyncGenerator<Uint8Array> {
  const reader = new Reader(source);
  while (reader.buffered < NONCE_SIZE && (await reader.pull())) {}
  if (reader.buffered < NONCE_SIZE) throw new VaultError("HEADER_FAILURE", "payload nonce missing or short");
  const opener = new ChunkOpener(payloadKey(fileKey, reader.take(NONCE_SIZE)));
  const framer = new Framer(SEALED_CHUNK);
  for await (const piece of reader.rest()) {
    options.signal?.throwIfAborted();
    framer.push(piece);
    while (framer.size > SEALED_CHUNK) yield opener.next(framer.takeContiguous(), false);
  }
  if (framer.size > 0) yield opener.next(framer.takeContiguous(), true);
  opener.finish();
}

/** A plaintext stream and its SHA-256, known once the stream has ended. */
export type HashedStream = { stream: AsyncGenerator<Uint8Array>; sha256(): Uint8Array };

/** decryptPayload plus the SHA-256 of the plaintext it released. */
export function decryptPayloadHashed(fileKey: Uint8Array, source: Source, options: { signal?: AbortSignal } = {}): HashedStream {
  const hash = createHash("sha256");
  let digest: Uint8Array | undefined;
  return {
    stream: (async function* () {
      for await (const piece of decryptPayload(fileKey, source, options)) {
        hash.update(piece);
        yield piece;
      }
      digest = new Uint8Array(hash.digest());
    })(),
    sha256() {
      if (digest === undefined) throw new VaultError("INTERNAL", "the payload stream has not ended");
      return digest;
    },
  };
}
