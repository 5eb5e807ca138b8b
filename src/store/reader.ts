/**
 * Streaming a UnixFS file (or a byte range of it) out of verified blocks, with flat memory.
 *
 * Why not `@helia/unixfs` `cat`: its exporter reads every child of a node at once (no read
 * concurrency limit by default) and pushes them into an unbounded queue whatever the
 * consumer's pace, so a slow download of a large recording holds the whole file in memory.
 * Here leaves are read `readAhead` at a time, in order, and only when the consumer pulls.
 */

import type { CID } from "multiformats/cid";
import { VaultError } from "../errors.ts";
import type { FileNode } from "./dag.ts";
import { DAG_PB_CODE, decodeFileNode, isNotFound, RAW_CODE } from "./dag.ts";
import type { AbortOptions } from "./index.ts";

export type ReadBlock = (cid: CID, options?: AbortOptions) => Promise<Uint8Array>;

export interface ReadOptions extends AbortOptions {
  offset?: number;
  length?: number;
  /** Leaf blocks read ahead of the consumer. */
  readAhead?: number;
}

const DEFAULT_READ_AHEAD = 8;

/** A piece of the output: bytes in hand, or a raw leaf to read. */
type Piece = { bytes: Uint8Array } | { cid: CID; blockStart: number; size: number };

export async function* readFile(root: CID, readBlock: ReadBlock, options: ReadOptions = {}): AsyncGenerator<Uint8Array> {
  const readAhead = options.readAhead ?? DEFAULT_READ_AHEAD;
  let rootBytes: Uint8Array;
  try {
    rootBytes = await readBlock(root, options);
  } catch (error) {
    if (isNotFound(error)) throw new VaultError("NOT_FOUND", `${root} is not in the store`, { cause: error });
    throw error;
  }

  if (root.code === RAW_CODE) {
    const [start, end] = range(rootBytes.byteLength, options);
    if (end > start) yield rootBytes.subarray(start, end);
    return;
  }
  if (root.code !== DAG_PB_CODE) {
    throw new VaultError("UNSUPPORTED", `${root}: codec 0x${root.code.toString(16)} is not a UnixFS file`);
  }
  const file = decodeFileNode(root, rootBytes);
  const [start, end] = range(Number(file.unixfs.fileSize()), options);
  if (end === start) return;

  const readChild = async (cid: CID): Promise<Uint8Array> => {
    try {
      return await readBlock(cid, options);
    } catch (error) {
      if (isNotFound(error)) {
        throw new VaultError("INTEGRITY_FAILED", `block ${cid} of ${root} is missing`, { cause: error });
      }
      throw error;
    }
  };
  const readLeaf = async (piece: { cid: CID; blockStart: number; size: number }): Promise<Uint8Array> => {
    const bytes = await readChild(piece.cid);
    if (bytes.byteLength !== piece.size) {
      throw new VaultError("INTEGRITY_FAILED", `block ${piece.cid} has ${bytes.byteLength} bytes, its parent says ${piece.size}`);
    }
    return clip(bytes, piece.blockStart, start, end);
  };

  const pieces = plan(file, 0, start, end, readChild);
  const window: Promise<Uint8Array>[] = [];
  let exhausted = false;
  let delivered = 0;
  try {
    for (;;) {
      while (!exhausted && window.length < readAhead) {
        const next = await pieces.next();
        if (next.done === true) {
          exhausted = true;
          break;
        }
        const piece = next.value;
        const pending = "bytes" in piece ? Promise.resolve(piece.bytes) : readLeaf(piece);
        // Reads still in flight when the consumer stops or another read fails are dropped.
        pending.catch(() => {});
        window.push(pending);
      }
      const pending = window.shift();
      if (pending === undefined) break;
      const bytes = await pending;
      delivered += bytes.byteLength;
      if (bytes.byteLength > 0) yield bytes;
    }
  } finally {
    await pieces.return(undefined);
  }
  if (delivered !== end - start) {
    throw new VaultError("INTEGRITY_FAILED", `${root}: its blocks hold ${delivered} of the ${end - start} bytes it declares`);
  }
}

/** Yields the pieces of `[start, end)` under a file node that begins at `nodeStart`. */
async function* plan(
  file: FileNode,
  nodeStart: number,
  start: number,
  end: number,
  readChild: (cid: CID) => Promise<Uint8Array>,
): AsyncGenerator<Piece> {
  const { node, unixfs } = file;
  let position = nodeStart;
  const data = unixfs.data;
  if (data !== undefined && data.byteLength > 0) {
    if (position + data.byteLength > start && position < end) yield { bytes: clip(data, position, start, end) };
    position += data.byteLength;
  }
  for (let i = 0; i < node.Links.length; i++) {
    const cid = (node.Links[i] as (typeof node.Links)[number]).Hash;
    const size = Number(unixfs.blockSizes[i]);
    const childStart = position;
    position += size;
    if (size === 0 || position <= start) continue;
    if (childStart >= end) return;
    if (cid.code === RAW_CODE) {
      yield { cid, blockStart: childStart, size };
    } else if (cid.code === DAG_PB_CODE) {
      const child = decodeFileNode(cid, await readChild(cid));
      if (Number(child.unixfs.fileSize()) !== size) {
        throw new VaultError("INTEGRITY_FAILED", `block ${cid} holds ${child.unixfs.fileSize()} bytes, its parent says ${size}`);
      }
      yield* plan(child, childStart, start, end, readChild);
    } else {
      throw new VaultError("INTEGRITY_FAILED", `block ${cid}: codec 0x${cid.code.toString(16)} in a UnixFS file`);
    }
  }
}

/** The part of a block starting at `blockStart` that falls in `[start, end)`. */
function clip(bytes: Uint8Array, blockStart: number, start: number, end: number): Uint8Array {
  const from = Math.max(start - blockStart, 0);
  const to = Math.min(end - blockStart, bytes.byteLength);
  return from === 0 && to === bytes.byteLength ? bytes : bytes.subarray(from, to);
}

function range(size: number, options: ReadOptions): [number, number] {
  const offset = options.offset ?? 0;
  if (!Number.isSafeInteger(offset) || offset < 0) throw new VaultError("BAD_REQUEST", "offset: expected a non-negative integer");
  if (offset > size) throw new VaultError("BAD_REQUEST", `offset ${offset} is past the end (${size} bytes)`);
  const length = options.length ?? size - offset;
  if (!Number.isSafeInteger(length) || length < 0) throw new VaultError("BAD_REQUEST", "length: expected a non-negative integer");
  return [offset, Math.min(offset + length, size)];
}
