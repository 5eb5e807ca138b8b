/**
 * The blob store: content-addressed, verified, durable storage of byte streams as UnixFS
 * files (CIDv1, raw leaves, balanced DAG) in Helia 7, on disk or in memory.
 *
 * The vault core depends on the `BlobStore` interface only; unit tests pass
 * `createMemoryBlobStore()`, production `createBlobStore({ dir })`.
 */

import type { CID } from "multiformats/cid";

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

export interface StoreStat {
  blockCount: number;
  byteCount: number;
  pinCount: number;
}

export interface BlobStore {
  /**
   * Imports a byte stream and pins its root. When it resolves, every block and the pin are
   * durable on disk. Each input buffer is copied before the next is asked for, so the
   * producer may reuse its buffer. A failed or interrupted add leaves unpinned blocks that
   * `collect` removes.
   */
  add(source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, options?: AbortOptions): Promise<AddResult>;
  /**
   * Streams the content, or `length` bytes from `offset`. Every block is checked against its
   * CID as it is read: `INTEGRITY_FAILED` on a mismatch, a missing block or a malformed DAG,
   * `NOT_FOUND` if the root is absent. The caller owns the yielded buffers.
   */
  cat(cid: CidLike, options?: CatOptions): AsyncIterable<Uint8Array>;
  /** Whether the root block is present (not the whole DAG). */
  has(cid: CidLike, options?: AbortOptions): Promise<boolean>;
  /** Pins a root whose whole DAG is present (`NOT_FOUND` otherwise). Idempotent. */
  pin(cid: CidLike, options?: AbortOptions): Promise<void>;
  /** Unpins a root, durably; its blocks go at the next `collect`. Idempotent. */
  unpin(cid: CidLike, options?: AbortOptions): Promise<void>;
  /** Whether this root is pinned (blocks reachable from a pinned root are not "pinned" here). */
  isPinned(cid: CidLike, options?: AbortOptions): Promise<boolean>;
  /** The pinned roots, as CIDv1. */
  pins(options?: AbortOptions): AsyncIterable<CID>;
  /**
   * Deletes every block not reachable from a pinned root, nor written by an add or checked
   * by a pin still in progress; returns how many. Deletions are durable when it resolves.
   */
  collect(options?: AbortOptions): Promise<number>;
  stat(options?: AbortOptions): Promise<StoreStat>;
  /** Waits for adds, pins and collects in progress, then stops Helia. */
  stop(): Promise<void>;
}

export type { BlobStoreOptions } from "./store.ts";
export { createBlobStore, createMemoryBlobStore, DEFAULT_CHUNK_SIZE } from "./store.ts";
