/**
 * The blob store over Helia 7 (a light node, `helia.ts`: no libp2p, no routers, no block brokers,
 * so no network at all) and `@helia/unixfs` 8.
 *
 * - add: `addByteStream` with the `unixfs-v1-2025` profile (CIDv1, raw leaves, balanced
 *   DAG, 1024 links per node) and a copying 1 MiB chunker; blocks are written behind the
 *   importer (`writer.ts`) and fdatasync'ed as they are written (`disk.ts`), their
 *   directories fsync'ed once at the end, then the root is pinned.
 * - addLeaves: the same for content its producer already cut into hashed leaves (an upload's
 *   sealer): passed through uncopied, their digests taken as given, their buffers handed back
 *   once written.
 * - cat: `reader.ts`, each block verified against its CID (`verify.ts`).
 * - pins and collect: one pin file per root (`pins.ts`) and mark-and-sweep. Blocks written
 *   by an add, or checked by a pin, still in progress are guarded from collect (see `lock`).
 * - with a swarm (`../swarm/`): blocks missing here are read from peers over bitswap; an add
 *   resolves once `replication - 1` peers pinned it too; a peer's request to hold a root
 *   fetches it (`replica.ts`) under the same guards and pins it like any other root. Without
 *   a swarm nothing listens and nothing is fetched.
 */

import { mkdir } from "node:fs/promises";
import { dirname, join } from "node:path";
import { unixfs } from "@helia/unixfs";
import { MemoryBlockstore } from "blockstore-core";
import { MemoryDatastore } from "datastore-core";
import { FsDatastore } from "datastore-fs";
import type { Blockstore, InputPair } from "interface-blockstore";
import type { Datastore } from "interface-datastore";
import type { BufferImporter } from "ipfs-unixfs-importer";
import { CID } from "multiformats/cid";
import { VaultError } from "../errors.ts";
import type { ReplicaHost, Swarm, SwarmConfig, UnpinReport } from "../swarm/index.ts";
import { type Chunker, ChunkPool, copyingChunker, leafChunker } from "./chunker.ts";
import { isNotFound, RAW_CODE, walkDag } from "./dag.ts";
import type { DiskUsage } from "./disk.ts";
import { DiskBlockstore, fsyncDir } from "./disk.ts";
import { createLightHelia } from "./helia.ts";
import type { AbortOptions, AddLeavesOptions, AddResult, BlobStore, CatOptions, CidLike, HashedBlock, StoreStat } from "./index.ts";
import { createRwLock } from "./lock.ts";
import type { PinSet } from "./pins.ts";
import { createMemoryPins, openDiskPins } from "./pins.ts";
import { readFile } from "./reader.ts";
import { createFetchQueue, fetchDag } from "./replica.ts";
import "./varint.ts"; // fixes the encoding of 2-4 GiB UnixFS roots (see there)
import { rawLeafImporter } from "./leaves.ts";
import { VerifiedBlockstore, verifyBlock } from "./verify.ts";
import { createWriteQueue } from "./writer.ts";

/** 1 MiB: see bench/store.ts for 256 KiB against 1 MiB. Also the unixfs-v1-2025 profile's. */
export const DEFAULT_CHUNK_SIZE = 1_048_576;
const MIN_CHUNK_SIZE = 1024;
/** Larger blocks would not travel over bitswap (2 MiB message limit) to swarm peers. */
const MAX_CHUNK_SIZE = 1_048_576;
const DELETE_BATCH = 256;
/** Pinned DAGs walked at once by collect's mark phase. */
const MARK_CONCURRENCY = 16;
/** Block writes in flight for the whole store: 32 MiB at the default chunk size. */
const WRITE_BEHIND_BLOCKS = 32;

export interface BlobStoreOptions extends AbortOptions {
  /**
   * Holds `blocks/` (blockstore-fs layout), `pins/` and `datastore/` (Helia's own); with a
   * swarm also `peer.key` (the libp2p identity, mode 0600).
   */
  dir: string;
  chunkSize?: number;
  /** Join a private swarm (`loadSwarmConfig(env)`); absent: no network at all. */
  swarm?: SwarmConfig;
}

/** What differs between disk and memory. */
interface Backend {
  blockstore: Blockstore;
  datastore: Datastore;
  pins: PinSet;
  /** The libp2p identity, for a store in a swarm. */
  peerKeyPath?: string;
  /** Makes blocks written and deleted so far durable. */
  sync(): Promise<void>;
  usage(): Promise<DiskUsage>;
  /** Called under the exclusive lock, when no block write is in progress. */
  removeTemporaryFiles(): Promise<number>;
}

export async function createBlobStore(options: BlobStoreOptions): Promise<BlobStore> {
  const { dir, signal } = options;
  if (typeof dir !== "string" || dir === "") throw new VaultError("BAD_REQUEST", "dir: expected a directory path");
  let backend: Backend;
  try {
    signal?.throwIfAborted();
    const created = await mkdir(dir, { recursive: true });
    if (created !== undefined) await fsyncDir(dirname(created));
    const blockstore = new DiskBlockstore(join(dir, "blocks"));
    await blockstore.open();
    const datastore = new FsDatastore(join(dir, "datastore"));
    await datastore.open();
    const pins = await openDiskPins(join(dir, "pins"));
    await fsyncDir(dir);
    signal?.throwIfAborted();
    backend = {
      blockstore,
      datastore,
      pins,
      peerKeyPath: join(dir, "peer.key"),
      sync: () => blockstore.sync(),
      usage: () => blockstore.usage(),
      removeTemporaryFiles: () => blockstore.removeTemporaryFiles(),
    };
  } catch (error) {
    throw toVaultError(error, "opening the blob store");
  }
  return openStore(backend, options);
}

/** Same interface in memory, for unit tests of the vault core. */
export async function createMemoryBlobStore(options: Omit<BlobStoreOptions, "dir" | "swarm"> = {}): Promise<BlobStore> {
  const blockstore = new CopyingMemoryBlockstore();
  return openStore(
    {
      blockstore,
      datastore: new MemoryDatastore(),
      pins: createMemoryPins(),
      sync: async () => {},
      usage: async () => {
        const usage: DiskUsage = { blockCount: 0, byteCount: 0 };
        for await (const { bytes } of blockstore.getAll()) {
          usage.blockCount++;
          for await (const chunk of bytes) usage.byteCount += chunk.byteLength;
        }
        return usage;
      },
      removeTemporaryFiles: async () => 0,
    },
    options,
  );
}

/**
 * Keeps and yields copies, as the disk does: a caller decrypting in place cannot alter the
 * store, and an import may reuse a block's buffer once its put has returned (`ChunkPool`).
 */
class CopyingMemoryBlockstore extends MemoryBlockstore {
  put(cid: CID, bytes: InputPair["bytes"], options?: AbortOptions): CID | Promise<CID> {
    return super.put(cid, bytes instanceof Uint8Array ? new Uint8Array(bytes) : bytes, options);
  }

  *get(cid: CID, options?: AbortOptions): Generator<Uint8Array> {
    for (const chunk of super.get(cid, options)) yield new Uint8Array(chunk);
  }
}

async function openStore(backend: Backend, options: Omit<BlobStoreOptions, "dir">): Promise<BlobStore> {
  const chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
  if (!Number.isSafeInteger(chunkSize) || chunkSize < MIN_CHUNK_SIZE || chunkSize > MAX_CHUNK_SIZE) {
    throw new VaultError("BAD_REQUEST", `chunkSize: expected an integer from ${MIN_CHUNK_SIZE} to ${MAX_CHUNK_SIZE}`);
  }
  const blocks = new VerifiedBlockstore(backend.blockstore);
  let helia: Awaited<ReturnType<typeof createLightHelia>>;
  try {
    helia = await createLightHelia({ blockstore: blocks, datastore: backend.datastore });
    await helia.start();
  } catch (error) {
    throw toVaultError(error, "starting Helia");
  }

  // Collect deletes in batches under `lock.exclusive()`; a block write or existence check
  // made on behalf of an add or a pin first records the block's key in that operation's
  // guard, then runs under `lock.shared()`. So collect either sees the key and keeps the
  // block, or deletes it before the write (which then rewrites it) or the check (which
  // then fails). Guards of operations that end while a collect runs stay in `retained`
  // until it finishes, because its mark phase may have listed the pins before theirs.
  const lock = createRwLock();
  const writeQueue = createWriteQueue(WRITE_BEHIND_BLOCKS);
  const guards = new Set<Set<string>>();
  let retained: Set<string>[] | undefined;
  let collecting: Promise<unknown> = Promise.resolve();
  /** The collect queued behind the running one: every call made meanwhile joins it. */
  let queued: Promise<number> | undefined;
  const inflight = new Set<Promise<unknown>>();
  let stopped = false;
  let swarm: Swarm | undefined;
  const fetchQueue = createFetchQueue();
  /** Replica fetches running, by root: unpinning that root aborts the fetch and waits for it. */
  const replicating = new Map<string, { controller: AbortController; done: Promise<void> }>();

  function openGuard(): Set<string> {
    const guard = new Set<string>();
    guards.add(guard);
    return guard;
  }

  function closeGuard(guard: Set<string>): void {
    guards.delete(guard);
    retained?.push(guard);
  }

  function isGuarded(key: string): boolean {
    for (const guard of guards) if (guard.has(key)) return true;
    for (const guard of retained ?? []) if (guard.has(key)) return true;
    return false;
  }

  async function underSharedLock<T>(fn: () => Promise<T>): Promise<T> {
    const release = await lock.shared();
    try {
      return await fn();
    } finally {
      release();
    }
  }

  function track<T>(operation: string, fn: () => Promise<T>): Promise<T> {
    if (stopped) return Promise.reject(new VaultError("INTERNAL", "the blob store is stopped"));
    const running = fn().catch((error: unknown) => {
      throw toVaultError(error, operation);
    });
    inflight.add(running);
    const forget = () => inflight.delete(running);
    running.then(forget, forget);
    return running;
  }

  /** Imports one file with `chunker`; `written` is told of each block once it is on disk. */
  async function importFile(
    source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
    chunker: Chunker,
    bufferImporter: BufferImporter,
    written: (bytes: Uint8Array) => void,
    options: AbortOptions,
  ): Promise<CID> {
    const guard = openGuard();
    const writes = writeQueue.session();
    try {
      const guarded = {
        get: (cid: CID, opts?: AbortOptions) => helia.blockstore.get(cid, opts),
        has: (cid: CID, opts?: AbortOptions) => helia.blockstore.has(cid, opts),
        put: async (cid: CID, bytes: InputPair["bytes"], opts?: AbortOptions): Promise<CID> => {
          guard.add(blockKey(cid));
          await writes.write(async () => {
            await underSharedLock(async () => helia.blockstore.put(cid, bytes as Uint8Array, opts));
            // Written (or already stored): nothing reads these bytes again.
            written(bytes as Uint8Array);
          });
          return cid;
        },
      };
      const cid = await unixfs({ blockstore: guarded }).addByteStream(source, {
        profile: "unixfs-v1-2025",
        cidVersion: 1,
        rawLeaves: true,
        reduceSingleLeafToSelf: true,
        // Puts return once queued (write-behind), so a batch only bounds the chunks the
        // importer holds while hashing: 4 is as fast as the default 10, with less memory.
        blockWriteConcurrency: 4,
        bufferImporter,
        chunker,
        ...(options.signal === undefined ? {} : { signal: options.signal }),
      });
      await writes.flush();
      await backend.sync();
      const pinnedBefore = swarm !== undefined && (await backend.pins.has(cid));
      await backend.pins.add(cid);
      if (swarm !== undefined) {
        try {
          await swarm.replicate(cid, options);
        } catch (error) {
          // Unpinned, its blocks go at the next collect (the guard closes below).
          if (!pinnedBefore) await backend.pins.delete(cid).catch(() => {});
          throw error;
        }
      }
      return cid;
    } finally {
      await writes.settle();
      closeGuard(guard);
    }
  }

  async function add(source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, options: AbortOptions = {}): Promise<AddResult> {
    // Enough for the blocks the write queue and the importer's batch can hold at once.
    const pool = new ChunkPool(chunkSize, WRITE_BEHIND_BLOCKS + 8);
    let size = 0;
    const chunker = copyingChunker(chunkSize, (n) => (size += n), options, pool);
    // Leaves hashed in the thread pool (same CIDs as the importer's own builder).
    const cid = await importFile(source, chunker, rawLeafImporter(options), (bytes) => pool.give(bytes), options);
    return { cid, cidString: cid.toString(), size };
  }

  async function addLeaves(source: AsyncIterable<HashedBlock> | Iterable<HashedBlock>, options: AddLeavesOptions = {}): Promise<AddResult> {
    const digests = new WeakMap<Uint8Array, Uint8Array>();
    const blocks = (async function* () {
      for await (const leaf of source) {
        if (leaf.sha256.byteLength !== 32) throw new VaultError("INTERNAL", "a leaf's SHA-256 must be 32 bytes");
        digests.set(leaf.bytes, leaf.sha256);
        yield leaf.bytes;
      }
    })();
    let size = 0;
    const chunker = leafChunker(chunkSize, (n) => (size += n), options);
    const importer = rawLeafImporter(options, (block) => digests.get(block));
    // Only the caller's leaves go back to it (the DAG's own nodes are written the same way).
    const written = (bytes: Uint8Array) => (digests.has(bytes) ? options.release?.(bytes) : undefined);
    const cid = await importFile(blocks, chunker, importer, written, options);
    return { cid, cidString: cid.toString(), size };
  }

  async function pin(root: CID, options: AbortOptions): Promise<void> {
    if (await backend.pins.has(root)) return;
    const guard = openGuard();
    try {
      await walkDag(root, {
        enter: async (cid) => {
          const key = blockKey(cid);
          if (guard.has(key)) return false;
          guard.add(key);
          if (cid.code === RAW_CODE && !(await underSharedLock(async () => blocks.has(cid, options)))) {
            throw new VaultError("NOT_FOUND", `block ${cid} of ${root} is not in the store`);
          }
          return true;
        },
        read: (cid) => underSharedLock(() => blocks.read(cid, options)),
      });
      await backend.sync();
      await backend.pins.add(root);
    } catch (error) {
      if (isNotFound(error)) throw new VaultError("NOT_FOUND", `a block of ${root} is not in the store`, { cause: error });
      throw error;
    } finally {
      closeGuard(guard);
    }
  }

  async function collect(options: AbortOptions): Promise<number> {
    retained = [];
    try {
      const live = new Set<string>();
      const roots: CID[] = [];
      for await (const root of backend.pins.list()) roots.push(root);
      // Several walks at once: on a busy event loop each block read waits its turn, and one
      // root after another made an erasure under load wait seconds for the mark alone. A block
      // entered by one walk is skipped by the others; all of them end before the sweep.
      let next = 0;
      let failed = false;
      const walker = async () => {
        while (!failed && next < roots.length) {
          const root = roots[next++] as CID;
          try {
            await walkDag(root, {
              enter: (cid) => {
                const key = blockKey(cid);
                if (live.has(key)) return false;
                live.add(key);
                return true;
              },
              read: (cid) => blocks.read(cid, options),
            });
          } catch (error) {
            failed = true;
            // Without the whole DAG the live set is unknown: delete nothing.
            throw new VaultError("INTEGRITY_FAILED", `pinned ${root} cannot be walked, nothing collected`, { cause: error });
          }
        }
      };
      const walks = await Promise.allSettled(Array.from({ length: MARK_CONCURRENCY }, walker));
      for (const walk of walks) if (walk.status === "rejected") throw walk.reason;
      let removed = 0;
      let batch: CID[] = [];
      const flush = async () => {
        const release = await lock.exclusive();
        try {
          for (const cid of batch) {
            if (isGuarded(blockKey(cid))) continue;
            await blocks.delete(cid, options);
            removed++;
          }
        } finally {
          release();
        }
        batch = [];
      };
      for await (const { cid } of blocks.getAll(options)) {
        if (live.has(blockKey(cid))) continue;
        batch.push(cid);
        if (batch.length >= DELETE_BATCH) await flush();
      }
      await flush();
      const release = await lock.exclusive();
      try {
        await backend.removeTemporaryFiles();
      } finally {
        release();
      }
      await backend.sync();
      return removed;
    } finally {
      retained = undefined;
    }
  }

  /**
   * Deletes the blocks of an unpinned root's DAG at once, instead of a full mark-and-sweep
   * (which lists every block in the store: seconds under load). Only for DAGs that share no
   * block with another pinned DAG, which holds for medvault's payloads: every block is
   * ciphertext under the file's own random key (the first also carries a random nonce), and
   * interior nodes link to those. A root pinned again meanwhile, and blocks an add, pin or
   * replica fetch in progress has claimed, are kept. If the DAG cannot be walked (a block
   * missing or damaged), a full collect does the job instead.
   */
  async function discard(root: CID, options: AbortOptions): Promise<number> {
    // Not pinned here, or never held here (a swarm node that only served reads): nothing to do.
    if ((await backend.pins.has(root)) || !(await blocks.has(root, options))) return 0;
    const dag: CID[] = [];
    const seen = new Set<string>();
    try {
      await walkDag(root, {
        enter: (cid) => {
          const key = blockKey(cid);
          if (seen.has(key)) return false;
          seen.add(key);
          dag.push(cid);
          return true;
        },
        read: (cid) => underSharedLock(() => blocks.read(cid, options)),
      });
    } catch {
      return collectShared(options);
    }
    let removed = 0;
    const release = await lock.exclusive();
    try {
      if (await backend.pins.has(root)) return 0;
      for (const cid of dag) {
        if (isGuarded(blockKey(cid))) continue;
        if (!(await blocks.has(cid, options))) continue;
        await blocks.delete(cid, options);
        removed++;
      }
    } finally {
      release();
    }
    await backend.sync();
    return removed;
  }

  /** One collect at a time; see `collect` below. */
  function collectShared(options: AbortOptions): Promise<number> {
    // A call made during a collect gets a fresh one after it, since the running one may have
    // listed the pins before the caller's unpin. Calls made during the same run share that
    // fresh one: one each queued them end to end (under load, dozens of erasures waited for
    // each other's full mark-and-sweep).
    if (queued !== undefined) return queued;
    const run = () => {
      queued = undefined;
      return collect(options);
    };
    const result = collecting.then(run, run);
    queued = result;
    collecting = result.catch(() => {});
    return result;
  }

  /** A block this store lacks, from swarm peers, checked against its CID here too. */
  async function fetchBlock(cid: CID, options: AbortOptions): Promise<Uint8Array> {
    if (swarm === undefined) throw new VaultError("NOT_FOUND", `block ${cid} is not in the store`);
    const bytes = await swarm.fetch(cid, options);
    verifyBlock(cid, bytes);
    return bytes;
  }

  /** What `cat` reads: local blocks, and with a swarm, blocks from peers (not kept). */
  async function readBlock(cid: CID, options: AbortOptions): Promise<Uint8Array> {
    try {
      return await blocks.read(cid, options);
    } catch (error) {
      if (swarm === undefined || !isNotFound(error)) throw error;
      return fetchBlock(cid, options);
    }
  }

  /** A peer asked this node to hold `root`: fetch what is missing, then pin it as a replica. */
  async function pinReplica(root: CID, options: { signal: AbortSignal; onProgress: (blocks: number) => void }): Promise<void> {
    const key = root.toV1().toString();
    const running = replicating.get(key);
    if (running !== undefined) return running.done;
    if (await backend.pins.has(root)) return;
    const controller = new AbortController();
    const signal = AbortSignal.any([controller.signal, options.signal]);
    const guard = openGuard();
    const claim = (cid: CID) => {
      const blockId = blockKey(cid);
      if (guard.has(blockId)) return false;
      guard.add(blockId);
      return true;
    };
    const done = (async () => {
      try {
        await fetchDag(root, { blocks, fetchBlock, underSharedLock, queue: fetchQueue }, { signal, claim, onProgress: options.onProgress });
        await backend.sync();
        signal.throwIfAborted();
        await backend.pins.add(root);
      } finally {
        closeGuard(guard);
      }
    })();
    replicating.set(key, { controller, done });
    try {
      await done;
    } finally {
      replicating.delete(key);
    }
  }

  /** Unpins `root` here after stopping any replica fetch of it in progress (which would pin it). */
  async function unpinHere(root: CID): Promise<void> {
    const running = replicating.get(root.toV1().toString());
    if (running !== undefined) {
      running.controller.abort(new VaultError("GONE", `${root} was unpinned while being fetched`));
      await running.done.catch(() => {});
    }
    await backend.pins.delete(root);
  }

  const host: ReplicaHost = {
    pinReplica: (root, options) => track("replica", () => pinReplica(root, options)),
    unpin: (root) =>
      track("unpin", async () => {
        await unpinHere(root);
        // The vault discards after its own unpin; a peer drops the DAG's blocks on its own, soon after.
        track("discard", () => discard(root, {})).catch(() => {});
      }),
  };

  if (options.swarm !== undefined) {
    try {
      if (backend.peerKeyPath === undefined) throw new VaultError("BAD_REQUEST", "a swarm needs a store on disk");
      // Loaded only here: a store without a swarm never loads libp2p.
      const { startSwarm } = await import("../swarm/index.ts");
      swarm = await startSwarm({ config: options.swarm, peerKeyPath: backend.peerKeyPath, blocks, host });
    } catch (error) {
      stopped = true;
      await Promise.allSettled([...inflight]);
      await helia.stop().catch(() => {});
      throw error;
    }
  }
  const swarmView = swarm?.view;

  const store: BlobStore = {
    ...(swarmView === undefined ? {} : { swarm: swarmView }),

    chunkSize,

    add: (source, options = {}) => track("add", () => add(source, options)),

    addLeaves: (source, options = {}) => track("add", () => addLeaves(source, options)),

    cat(cid: CidLike, options: CatOptions = {}) {
      return (async function* () {
        if (stopped) throw new VaultError("INTERNAL", "the blob store is stopped");
        const root = parseCid(cid);
        try {
          yield* readFile(root, (block, opts) => readBlock(block, opts ?? {}), options);
        } catch (error) {
          throw toVaultError(error, "cat");
        }
      })();
    },

    has: (cid, options = {}) => track("has", async () => blocks.has(parseCid(cid), options)),

    pin: (cid, options = {}) => track("pin", () => pin(parseCid(cid), options)),

    unpin: (cid, options = {}) =>
      track("unpin", async () => {
        options.signal?.throwIfAborted();
        await backend.pins.delete(parseCid(cid));
      }),

    unpinEverywhere: (cid, options = {}) =>
      track("unpinEverywhere", async (): Promise<UnpinReport> => {
        options.signal?.throwIfAborted();
        const root = parseCid(cid);
        await unpinHere(root);
        if (swarm === undefined) return { peersAsked: 0, peersConfirmed: 0 };
        return swarm.unpinOnPeers(root, options);
      }),

    isPinned: (cid, options = {}) =>
      track("isPinned", async () => {
        options.signal?.throwIfAborted();
        return backend.pins.has(parseCid(cid));
      }),

    pins(options = {}) {
      return (async function* () {
        if (stopped) throw new VaultError("INTERNAL", "the blob store is stopped");
        try {
          for await (const root of backend.pins.list()) {
            options.signal?.throwIfAborted();
            yield root;
          }
        } catch (error) {
          throw toVaultError(error, "listing pins");
        }
      })();
    },

    collect: (options = {}) => track("collect", () => collectShared(options)),

    discard: (cid, options = {}) => track("discard", () => discard(parseCid(cid), options)),

    stat: (options = {}) =>
      track("stat", async () => {
        options.signal?.throwIfAborted();
        const usage = await backend.usage();
        let pinCount = 0;
        for await (const _ of backend.pins.list()) pinCount++;
        return { ...usage, pinCount } satisfies StoreStat;
      }),

    async stop() {
      if (stopped) return;
      stopped = true;
      await Promise.allSettled([...inflight]);
      await swarm?.stop();
      await helia.stop();
    },
  };
  return store;
}

function parseCid(cid: CidLike): CID {
  if (typeof cid === "string") {
    try {
      return CID.parse(cid);
    } catch (error) {
      throw new VaultError("BAD_REQUEST", "not a CID", { cause: error });
    }
  }
  const parsed = CID.asCID(cid);
  if (parsed === null) throw new VaultError("BAD_REQUEST", "not a CID");
  return parsed;
}

/** Blocks are stored by multihash, whatever the codec in the CID. */
function blockKey(cid: CID): string {
  const bytes = cid.multihash.bytes;
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64");
}

function toVaultError(error: unknown, operation: string): unknown {
  if (error instanceof VaultError) return error;
  if (error instanceof Error) {
    if (error.name === "AbortError" || error.name === "TimeoutError") return error;
    if (error.name === "NotFoundError") return new VaultError("NOT_FOUND", `${operation}: not in the store`, { cause: error });
    if (error.name === "InvalidContentError" || error.name === "InvalidParametersError") {
      return new VaultError("BAD_REQUEST", `${operation}: invalid input`, { cause: error });
    }
  }
  return new VaultError("IO_ERROR", `${operation} failed`, { cause: error });
}
