/**
 * STREAM chunks of the age payload (C2SP age v1, "Payload"): ChaCha20-Poly1305 on node:crypto,
 * 64 KiB chunks, nonce = 11-byte big-endian chunk counter ‖ last-chunk flag. Shared by the
 * streaming path (payload.ts) and the file-range workers (parallel.ts), so both keep exactly
 * the same rules.
 */

import { createCipheriv, createDecipheriv, type KeyObject } from "node:crypto";
import { VaultError } from "../errors.ts";

export const CHUNK_SIZE = 64 * 1024;
export const TAG_SIZE = 16;
export const SEALED_CHUNK = CHUNK_SIZE + TAG_SIZE;

function setNonce(nonce: Buffer, counter: number, last: boolean): Buffer {
  // 2^53 chunks of 64 KiB is far beyond any file: the top counter bytes stay zero.
  nonce.writeUIntBE(Math.floor(counter / 2 ** 32), 3, 4);
  nonce.writeUInt32BE(counter % 2 ** 32, 7);
  nonce[11] = last ? 1 : 0;
  return nonce;
}

/** Seals one chunk given as pieces (views, never copied); returns ciphertext pieces then the tag. */
export function sealChunk(
  key: KeyObject,
  counter: number,
  last: boolean,
  parts: readonly Uint8Array[],
  nonce = Buffer.alloc(12),
): Buffer[] {
  const cipher = createCipheriv("chacha20-poly1305", key, setNonce(nonce, counter, last), { authTagLength: TAG_SIZE });
  const out: Buffer[] = [];
  for (const p of parts) {
    const ct = cipher.update(p);
    if (ct.length > 0) out.push(ct);
  }
  cipher.final();
  out.push(cipher.getAuthTag());
  return out;
}

function openChunk(key: KeyObject, nonce: Buffer, sealed: Uint8Array): Buffer | undefined {
  const decipher = createDecipheriv("chacha20-poly1305", key, nonce, { authTagLength: TAG_SIZE });
  decipher.setAuthTag(sealed.subarray(sealed.length - TAG_SIZE));
  const pt = decipher.update(sealed.subarray(0, sealed.length - TAG_SIZE));
  try {
    decipher.final();
  } catch {
    return undefined;
  }
  return pt;
}

/**
 * Opens consecutive sealed chunks with age's rules: a full-size chunk is opened as a middle
 * chunk first and, failing that, as the final one; nothing may follow the final chunk; the final
 * chunk may be empty only if it is the first. Plaintext is returned only once authenticated.
 */
export class ChunkOpener {
  private readonly key: KeyObject;
  private readonly nonce = Buffer.alloc(12);
  counter: number;
  sawFinal = false;

  constructor(key: KeyObject, counter = 0) {
    this.key = key;
    this.counter = counter;
  }

  /** Opens the next chunk; `atEnd`: no byte of the payload follows it. */
  next(sealed: Uint8Array, atEnd: boolean): Buffer {
    if (this.sawFinal) throw new VaultError("PAYLOAD_FAILURE", "data after the final STREAM chunk");
    if (sealed.length < TAG_SIZE) throw new VaultError("PAYLOAD_FAILURE", "truncated STREAM chunk");
    let pt = sealed.length === SEALED_CHUNK ? openChunk(this.key, setNonce(this.nonce, this.counter, false), sealed) : undefined;
    if (pt === undefined) {
      if (sealed.length === TAG_SIZE && this.counter > 0) throw new VaultError("PAYLOAD_FAILURE", "empty final STREAM chunk");
      if (sealed.length < SEALED_CHUNK && !atEnd) throw new VaultError("PAYLOAD_FAILURE", "short STREAM chunk");
      pt = openChunk(this.key, setNonce(this.nonce, this.counter, true), sealed);
      if (pt === undefined) throw new VaultError("PAYLOAD_FAILURE", `STREAM chunk ${this.counter} failed authentication`);
      this.sawFinal = true;
    }
    this.counter++;
    return pt;
  }

  /** At the end of the payload: it must have ended with a final chunk. */
  finish(): void {
    if (this.sawFinal) return;
    throw new VaultError(
      "PAYLOAD_FAILURE",
      this.counter === 0 ? "payload has no STREAM chunk" : "payload ends without a final STREAM chunk",
    );
  }
}
