/**
 * The blob store: content-addressed, verified, durable storage of byte streams as UnixFS
 * files (CIDv1, raw leaves, balanced DAG) in Helia 7, on disk or in memory.
 *
 * The vault core depends on the `BlobStore` interface only; unit tests pass
 * `createMemoryBlobStore()`, production `createBlobStore({ dir })`, or with a private swarm
 * of vault nodes `createBlobStore({ dir, swarm: await loadSwarmConfig(env) })`.
 */

import type { CID } from "multiformats/cid";
import type { SwarmView, UnpinReport } from "../swarm/index.ts";

export interface AbortOptions {
  signal?: AbortSignal;
}

/** A CID, or its string form as stored in the catalog. */
export type CidLike = CID | string;

export interface AddResult {
  /** The root: raw codec for a one-block file, dag-pb otherwise. */
  cid: CID;
  /** `cid.toString()`: base32 CIDv1. */
  cidString: string;
  /** Bytes of content. */
  size: number;
}

export interface CatOptions extends AbortOptions {
  offset?: number;
  length?: number;
}

/** A leaf of content whose SHA-256 its producer computed (the upload sealer does, in one pass). */
export interface HashedBlock {
  bytes: Uint8Array;
  sha256: Uint8Array;
}

export interface AddLeavesOptions extends AbortOptions {
  /** Called with a leaf's bytes once they are written and nothing here reads them again. */
  release?: (bytes: Uint8Array) => void;
}

export interface StoreStat {
  blockCount: number;
  byteCount: number;
  pinCount: number;
}

export type { SwarmView, UnpinReport };

export interface BlobStore {
  /**
   * Imports a byte stream and pins its root. When it resolves, every block and the pin are
   * durable on disk. Each input buffer is copied before the next is asked for, so the
   * producer may reuse its buffer. A failed or interrupted add leaves unpinned blocks that
   * `collect` removes.
   *
   * In a swarm with replication R > 1 it resolves only once R − 1 peers also hold and pin
   * the root durably; if too few confirm, it fails with `REPLICATION_FAILED`, and neither
   * this node nor any peer keeps a pin of it.
   */
  add(source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, options?: AbortOptions): Promise<AddResult>;
  /**
   * `add` for content already cut into leaves of `chunkSize` bytes (the last may be shorter)
   * and hashed: the same DAG and CIDs as `add` of the concatenated bytes, without hashing the
   * leaves again. A leaf of another size before the last fails the add (`INTERNAL`).
   */
  addLeaves(source: AsyncIterable<HashedBlock> | Iterable<HashedBlock>, options?: AddLeavesOptions): Promise<AddResult>;
  /** Bytes per leaf block. */
  readonly chunkSize: number;
  /**
   * Streams the content, or `length` bytes from `offset`. Every block is checked against its
   * CID as it is read: `INTEGRITY_FAILED` on a mismatch, a missing block or a malformed DAG,
   * `NOT_FOUND` if the root is absent. The caller owns the yielded buffers.
   *
   * In a swarm, blocks missing here are fetched from connected peers (and not kept); one
   * that no peer sends within the fetch timeout ends the stream with `NOT_FOUND`.
   */
  cat(cid: CidLike, options?: CatOptions): AsyncIterable<Uint8Array>;
  /** Whether the root block is present here (not the whole DAG; peers are not asked). */
  has(cid: CidLike, options?: AbortOptions): Promise<boolean>;
  /** Pins a root whose whole DAG is present (`NOT_FOUND` otherwise). Idempotent. */
  pin(cid: CidLike, options?: AbortOptions): Promise<void>;
  /**
   * Unpins a root on this node only, durably; its blocks go at the next `collect`. Swarm
   * peers keep their replicas (start-up recovery drops this node's orphans with it).
   * Idempotent.
   */
  unpin(cid: CidLike, options?: AbortOptions): Promise<void>;
  /**
   * Erasure: unpins a root here, durably, then asks every connected swarm peer to unpin it
   * too; resolves with how many peers were asked and how many confirmed (both 0 without a
   * swarm). Peers collect on their own; call `collect` for this node. A node that is down
   * or cut off now keeps its pin: its start-up recovery, against a shared catalog, drops it.
   */
  unpinEverywhere(cid: CidLike, options?: AbortOptions): Promise<UnpinReport>;
  /**
   * Whether this root is pinned here, by an add, a `pin` or as a replica for a peer (blocks
   * reachable from a pinned root are not "pinned" here).
   */
  isPinned(cid: CidLike, options?: AbortOptions): Promise<boolean>;
  /** The pinned roots, replicas included, as CIDv1. */
  pins(options?: AbortOptions): AsyncIterable<CID>;
  /**
   * Deletes every block not reachable from a pinned root, nor written by an add, checked by
   * a pin or fetched for a replica still in progress; returns how many. Deletions are
   * durable when it resolves.
   */
  collect(options?: AbortOptions): Promise<number>;
  /**
   * Deletes the blocks of an unpinned root's DAG now, without a full collect; returns how
   * many. Only for DAGs that share no block with another pinned DAG (encrypted payloads: each
   * under its own key). Keeps everything if the root is pinned again meanwhile.
   */
  discard(cid: CidLike, options?: AbortOptions): Promise<number>;
  stat(options?: AbortOptions): Promise<StoreStat>;
  /** Waits for adds, pins and collects in progress, then stops the swarm node and Helia. */
  stop(): Promise<void>;
  /** This node in its swarm (peer id, addresses, connected peers); absent without a swarm. */
  readonly swarm?: SwarmView;
}

export type { BlobStoreOptions } from "./store.ts";
export { createBlobStore, createMemoryBlobStore, DEFAULT_CHUNK_SIZE } from "./store.ts";
