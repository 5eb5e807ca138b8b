/**
 * Block verification: every block read from a store is re-hashed and compared with its CID.
 * FsBlockstore trusts the disk on local reads and Helia verifies only blocks fetched from the
 * network, so a flipped bit on disk would otherwise reach the caller. Messages name the CID,
 * never content.
 */

import { createHash } from "node:crypto";
import type { Blockstore, InputPair, Pair } from "interface-blockstore";
import type { CID } from "multiformats/cid";
import { VaultError } from "../errors.ts";
import type { AbortOptions } from "./index.ts";

const SHA2_256 = 0x12;
const IDENTITY = 0x00;

/** Throws `INTEGRITY_FAILED` unless `bytes` hash to the digest in `cid`. */
export function verifyBlock(cid: CID, bytes: Uint8Array): void {
  const { code, digest } = cid.multihash;
  let actual: Uint8Array;
  if (code === SHA2_256) {
    actual = createHash("sha256").update(bytes).digest();
  } else if (code === IDENTITY) {
    actual = bytes;
  } else {
    throw new VaultError("UNSUPPORTED", `block ${cid}: hash 0x${code.toString(16)} is not supported`);
  }
  if (!equalBytes(actual, digest)) {
    throw new VaultError("INTEGRITY_FAILED", `block ${cid} does not match its CID`);
  }
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);
}

/** Gathers a block's chunks into one array; a one-chunk block (the usual case) is not copied. */
export async function blockBytes(source: Iterable<Uint8Array> | AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let length = 0;
  for await (const chunk of source) {
    chunks.push(chunk);
    length += chunk.byteLength;
  }
  if (chunks.length === 1) return chunks[0] as Uint8Array;
  return Buffer.concat(chunks, length);
}

/**
 * A blockstore whose `get` yields a block only after checking it against its CID, as one
 * chunk. Everything else passes through. Helia gets this as its blockstore, so any read
 * through Helia is verified too.
 */
export class VerifiedBlockstore implements Blockstore {
  readonly inner: Blockstore;

  constructor(inner: Blockstore) {
    this.inner = inner;
  }

  /** Reads and verifies one block. */
  async read(cid: CID, options?: AbortOptions): Promise<Uint8Array> {
    const bytes = await blockBytes(this.inner.get(cid, options));
    verifyBlock(cid, bytes);
    return bytes;
  }

  async *get(cid: CID, options?: AbortOptions): AsyncGenerator<Uint8Array> {
    yield await this.read(cid, options);
  }

  async *getMany(cids: Iterable<CID> | AsyncIterable<CID>, options?: AbortOptions): AsyncGenerator<Pair> {
    for await (const cid of cids) {
      const bytes = await this.read(cid, options);
      yield {
        cid,
        bytes: (function* () {
          yield bytes;
        })(),
      };
    }
  }

  has(cid: CID, options?: AbortOptions): boolean | Promise<boolean> {
    return this.inner.has(cid, options);
  }

  put(cid: CID, bytes: InputPair["bytes"], options?: AbortOptions): CID | Promise<CID> {
    return this.inner.put(cid, bytes, options);
  }

  putMany(source: Iterable<InputPair> | AsyncIterable<InputPair>, options?: AbortOptions): AsyncGenerator<CID> | Generator<CID> {
    return this.inner.putMany(source, options);
  }

  delete(cid: CID, options?: AbortOptions): void | Promise<void> {
    return this.inner.delete(cid, options);
  }

  deleteMany(source: Iterable<CID> | AsyncIterable<CID>, options?: AbortOptions): AsyncGenerator<CID> | Generator<CID> {
    return this.inner.deleteMany(source, options);
  }

  getAll(options?: AbortOptions): AsyncGenerator<Pair> | Generator<Pair> {
    return this.inner.getAll(options);
  }
}
