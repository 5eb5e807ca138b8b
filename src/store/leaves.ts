/**
 * Raw leaves for the UnixFS importer, hashed off the event loop.
 *
 * The importer's own leaf builder hashes every 1 MiB leaf with a synchronous SHA-256 on the
 * event loop, which the upload's multipart parsing, encryption and writes share: a fifth of
 * an upload's main-thread time in the profile. `crypto.subtle.digest` runs the same SHA-256 as
 * an async job in libuv's thread pool (it copies its input first, so the chunk may be reused as
 * soon as the put has returned), and the importer keeps `blockWriteConcurrency` leaves in
 * flight, so several leaves hash at once on the other cores. Same bytes, same CIDs: CIDv1, raw
 * codec, sha2-256. Blocks an upload's sealer already hashed (`addLeaves`) are not hashed again.
 */

import type { BufferImporter } from "ipfs-unixfs-importer";
import { CID } from "multiformats/cid";
import * as raw from "multiformats/codecs/raw";
import * as Digest from "multiformats/hashes/digest";
import type { AbortOptions } from "./index.ts";

const SHA2_256 = 0x12;

export async function rawLeafCid(block: Uint8Array): Promise<CID> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", block as Uint8Array<ArrayBuffer>));
  return CID.createV1(raw.code, Digest.create(SHA2_256, digest));
}

/** `known` gives the SHA-256 of a block its producer already hashed (`addLeaves`). */
export function rawLeafImporter(options: AbortOptions = {}, known?: (block: Uint8Array) => Uint8Array | undefined): BufferImporter {
  return async function* importLeaves(file, blockstore) {
    for await (const block of file.content) {
      yield async () => {
        const digest = known?.(block);
        const cid = digest === undefined ? await rawLeafCid(block) : CID.createV1(raw.code, Digest.create(SHA2_256, digest));
        await blockstore.put(cid, block, options);
        return { cid, size: BigInt(block.byteLength), block };
      };
    }
  };
}
