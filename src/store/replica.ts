/**
 * Fetching a whole DAG from swarm peers into the store, for a replica: every block this
 * store lacks is fetched (checked against its CID), written durably (`DiskBlockstore.put`
 * fdatasyncs) and kept from collect by the caller's guard, exactly as an add's blocks are.
 *
 * dag-pb nodes are read one after another (their links say what comes next); raw leaves,
 * nearly all of a file, are fetched `FETCH_CONCURRENCY` at a time across the whole store:
 * one at a time, each would pay bitswap's wantlist debounce and a round trip.
 */

import type { CID } from "multiformats/cid";
import { isNotFound, RAW_CODE, walkDag } from "./dag.ts";
import type { AbortOptions } from "./index.ts";
import type { VerifiedBlockstore } from "./verify.ts";
import type { WriteQueue } from "./writer.ts";
import { createWriteQueue } from "./writer.ts";

/** Leaf fetches in flight for the whole store: 16 MiB at the default chunk size. */
export const FETCH_CONCURRENCY = 16;

export interface ReplicaFetchContext {
  blocks: VerifiedBlockstore;
  /** A verified block from peers; `NOT_FOUND` when none sends it in time. */
  fetchBlock(cid: CID, options: AbortOptions): Promise<Uint8Array>;
  /** Runs a block check or write under the store's shared lock (see store.ts). */
  underSharedLock<T>(fn: () => Promise<T>): Promise<T>;
  /** Leaf fetches in flight, shared by every replica being fetched. */
  queue: WriteQueue;
}

export function createFetchQueue(): WriteQueue {
  return createWriteQueue(FETCH_CONCURRENCY);
}

export interface FetchDagOptions {
  signal: AbortSignal;
  /**
   * Called before each block is looked at, in the store's guard protocol: records the
   * block's key in the operation's guard; false if it was recorded already (a block that
   * occurs twice in the DAG is handled once).
   */
  claim(cid: CID): boolean;
  /** Blocks present so far, fetched or found. */
  onProgress?(blocks: number): void;
}

/** Resolves when every block under `root` is in the store; the caller syncs and pins. */
export async function fetchDag(root: CID, context: ReplicaFetchContext, options: FetchDagOptions): Promise<void> {
  const { blocks, underSharedLock } = context;
  const { signal } = options;
  const fetches = context.queue.session();
  let present = 0;
  const done = () => {
    present++;
    options.onProgress?.(present);
  };

  /** A block's bytes, from the store or else from peers (then stored). */
  const obtain = async (cid: CID): Promise<Uint8Array> => {
    try {
      const bytes = await underSharedLock(() => blocks.read(cid, { signal }));
      done();
      return bytes;
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
    const bytes = await context.fetchBlock(cid, { signal });
    await underSharedLock(async () => blocks.put(cid, bytes, { signal }));
    done();
    return bytes;
  };

  /** A leaf is only checked for presence (as `pin` does), not read. */
  const ensureLeaf = async (cid: CID): Promise<void> => {
    if (await underSharedLock(async () => blocks.has(cid, { signal }))) {
      done();
      return;
    }
    await obtain(cid);
  };

  try {
    await walkDag(root, {
      enter: async (cid) => {
        signal.throwIfAborted();
        if (!options.claim(cid)) return false;
        if (cid.code === RAW_CODE) await fetches.write(() => ensureLeaf(cid));
        return true;
      },
      read: obtain,
    });
    await fetches.flush();
  } finally {
    await fetches.settle();
  }
}
