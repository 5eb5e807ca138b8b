/**
 * The age v1 payload (C2SP age specification, "Payload"): a 16-byte nonce, then STREAM over
 * ChaCha20-Poly1305 in 64 KiB chunks, keyed by HKDF-SHA-256(file key, salt = nonce,
 * info = "payload"). Chunk nonce = 11-byte big-endian counter ‖ last-chunk flag.
 *
 * This runs on node:crypto (OpenSSL), about 15× the pure-JS speed. Input chunks are never
 * copied: a 64 KiB STREAM chunk is fed to the cipher from the caller's pieces, which are only
 * held (not mutated) until we know whether more data follows, because the last chunk is
 * encrypted with a different nonce. Callers must not reuse a buffer after yielding it.
 *
 * Decryption releases a chunk only after its tag verified, so a failure part-way leaves the
 * consumer with authenticated plaintext only.
 */

import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from "node:crypto";
import { VaultError } from "../errors.ts";

export const CHUNK_SIZE = 64 * 1024;
export const TAG_SIZE = 16;
export const NONCE_SIZE = 16;
const SEALED_CHUNK = CHUNK_SIZE + TAG_SIZE;

export function payloadKey(fileKey: Uint8Array, nonce: Uint8Array): Buffer {
  return Buffer.from(hkdfSync("sha256", fileKey, nonce, "payload", 32));
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
class Framer {
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
}

class ChunkNonce {
  readonly bytes = Buffer.alloc(12);
  private counter = 0;

  next(last: boolean): Buffer {
    // 2^53 chunks of 64 KiB is far beyond any file; the high counter bytes stay zero.
    this.bytes.writeUIntBE(Math.floor(this.counter / 2 ** 32), 3, 4);
    this.bytes.writeUInt32BE(this.counter % 2 ** 32, 7);
    this.bytes[11] = last ? 1 : 0;
    this.counter++;
    return this.bytes;
  }
}

/**
 * Encrypts `source` into an age payload: yields the nonce, then ciphertext and tags as they
 * are produced (several pieces per chunk; concatenate or write them in order).
 */
export async function* encryptPayload(
  fileKey: Uint8Array,
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  options: { nonce?: Uint8Array; signal?: AbortSignal } = {},
): AsyncGenerator<Uint8Array> {
  const nonce = options.nonce ?? randomBytes(NONCE_SIZE);
  if (nonce.length !== NONCE_SIZE) throw new VaultError("BAD_REQUEST", "payload nonce must be 16 bytes");
  const key = payloadKey(fileKey, nonce);
  const chunkNonce = new ChunkNonce();
  const framer = new Framer(CHUNK_SIZE);
  yield nonce;

  const seal = (last: boolean): Uint8Array[] => {
    const cipher = createCipheriv("chacha20-poly1305", key, chunkNonce.next(last), { authTagLength: TAG_SIZE });
    const out: Uint8Array[] = [];
    for (const part of framer.take()) {
      const ct = cipher.update(part);
      if (ct.length > 0) out.push(ct);
    }
    cipher.final();
    out.push(cipher.getAuthTag());
    return out;
  };

  for await (const piece of source) {
    options.signal?.throwIfAborted();
    framer.push(piece);
    // Seal only chunks known not to be last: a full chunk with at least one byte after it.
    while (framer.size > CHUNK_SIZE) yield* seal(false);
  }
  yield* seal(true);
}

/**
 * Decrypts an age payload (nonce first). Yields plaintext chunk by chunk, each only after its
 * tag verified. A full-size chunk is opened as a middle chunk first and, failing that, as the
 * final one (age's rule for a payload ending on a chunk boundary). Throws `PAYLOAD_FAILURE` on
 * a bad tag, truncation, data after the final chunk, or an empty final chunk after a full one;
 * `HEADER_FAILURE` when the nonce itself is missing or short (as the age vectors classify it).
 */
export async function* decryptPayload(
  fileKey: Uint8Array,
  source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  options: { signal?: AbortSignal } = {},
): AsyncGenerator<Uint8Array> {
  const framer = new Framer(SEALED_CHUNK);
  const nonceFramer = new Framer(NONCE_SIZE);
  let key: Buffer | undefined;
  let counter = 0;
  let sawFinal = false;
  const nonce = Buffer.alloc(12);
  const tag = Buffer.alloc(TAG_SIZE);

  const tryOpen = (parts: Uint8Array[], total: number, last: boolean): Uint8Array[] | undefined => {
    nonce.writeUIntBE(Math.floor(counter / 2 ** 32), 3, 4);
    nonce.writeUInt32BE(counter % 2 ** 32, 7);
    nonce[11] = last ? 1 : 0;
    const decipher = createDecipheriv("chacha20-poly1305", key as Buffer, nonce, { authTagLength: TAG_SIZE });
    // The tag is the last 16 bytes, which may straddle pieces.
    let bodyLeft = total - TAG_SIZE;
    let tagAt = 0;
    const out: Uint8Array[] = [];
    for (const p of parts) {
      const bodyPart = p.subarray(0, Math.min(p.length, bodyLeft));
      bodyLeft -= bodyPart.length;
      if (bodyPart.length > 0) {
        const pt = decipher.update(bodyPart);
        if (pt.length > 0) out.push(pt);
      }
      const tagPart = p.subarray(bodyPart.length);
      tag.set(tagPart, tagAt);
      tagAt += tagPart.length;
    }
    decipher.setAuthTag(tag);
    try {
      decipher.final();
    } catch {
      return undefined;
    }
    return out;
  };

  const open = (atEnd: boolean): Uint8Array[] => {
    const parts = framer.take();
    const total = parts.reduce((n, p) => n + p.length, 0);
    if (total < TAG_SIZE) throw new VaultError("PAYLOAD_FAILURE", "truncated STREAM chunk");
    let out = total === SEALED_CHUNK ? tryOpen(parts, total, false) : undefined;
    if (out === undefined) {
      if (total === TAG_SIZE && counter > 0) throw new VaultError("PAYLOAD_FAILURE", "empty final STREAM chunk");
      if (total < SEALED_CHUNK && !atEnd) throw new VaultError("PAYLOAD_FAILURE", "short STREAM chunk");
      out = tryOpen(parts, total, true);
      if (out === undefined) throw new VaultError("PAYLOAD_FAILURE", `STREAM chunk ${counter} failed authentication`);
      sawFinal = true;
    }
    counter++;
    return out;
  };

  for await (let piece of source) {
    options.signal?.throwIfAborted();
    if (key === undefined) {
      const need = NONCE_SIZE - nonceFramer.size;
      nonceFramer.push(piece.subarray(0, need));
      piece = piece.subarray(need);
      if (nonceFramer.size < NONCE_SIZE) continue;
      key = payloadKey(fileKey, Buffer.concat(nonceFramer.take()));
    }
    if (sawFinal && piece.length > 0) throw new VaultError("PAYLOAD_FAILURE", "data after the final STREAM chunk");
    framer.push(piece);
    while (framer.size >= SEALED_CHUNK) {
      if (sawFinal) throw new VaultError("PAYLOAD_FAILURE", "data after the final STREAM chunk");
      yield* open(false);
    }
  }
  if (key === undefined) throw new VaultError("HEADER_FAILURE", "payload nonce missing or short");
  if (sawFinal) {
    if (framer.size > 0) throw new VaultError("PAYLOAD_FAILURE", "data after the final STREAM chunk");
    return;
  }
  if (framer.size === 0) {
    throw new VaultError("PAYLOAD_FAILURE", counter === 0 ? "payload has no STREAM chunk" : "payload ends without a final STREAM chunk");
  }
  yield* open(true);
}
