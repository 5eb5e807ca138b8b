/**
 * Blocks on disk: blockstore-fs's layout (`blocks/<last two chars>/<BASE32 multihash>.data`),
 * with writes that survive a power cut and whole-block reads.
 *
 * blockstore-fs writes a temporary file and renames it, without fsync: after a crash a block
 * file can exist under its final name with missing content, and a later upload that shares
 * the block would skip writing it. Here a block's temporary file is fdatasync'ed before the
 * rename, so a file under a final name is always complete; the renames become durable when
 * `sync()` fsyncs the directories they touched (once per upload, not once per block).
 */

import { mkdir, open, readdir, readFile, rename, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { FsBlockstore } from "blockstore-fs";
import { NextToLast } from "blockstore-fs/sharding";
import type { InputPair } from "interface-blockstore";
import { NotFoundError } from "interface-store";
import type { CID } from "multiformats/cid";
import type { AbortOptions } from "./index.ts";

const DIR_SYNC_CONCURRENCY = 16;

export interface DiskUsage {
  blockCount: number;
  byteCount: number;
}

export class DiskBlockstore extends FsBlockstore {
  /** FsBlockstore's own default, kept here because its field is private. */
  readonly #sharding: NextToLast;
  /** Directories with entries created or removed since the last `sync()`. */
  readonly #dirty = new Set<string>();
  readonly #knownDirs = new Set<string>();
  #tempCounter = 0;

  constructor(location: string) {
    const sharding = new NextToLast();
    super(location, { shardingStrategy: sharding });
    this.#sharding = sharding;
  }

  async put(cid: CID, bytes: InputPair["bytes"], options?: AbortOptions): Promise<CID> {
    options?.signal?.throwIfAborted();
    const { dir, file } = this.#sharding.encode(cid);
    const dirPath = join(this.path, dir);
    await this.#ensureDir(dirPath);
    const temp = join(dirPath, `.${file}.${process.pid}.${++this.#tempCounter}.tmp`);
    try {
      const handle = await open(temp, "wx");
      try {
        await handle.writeFile(bytes);
        await handle.datasync();
      } finally {
        await handle.close();
      }
      // Marked before and after the rename: an upload that sees this block (and so skips
      // writing it) syncs this directory, and so does this upload.
      this.#dirty.add(dirPath);
      await rename(temp, join(dirPath, file));
      this.#dirty.add(dirPath);
    } catch (error) {
      await rm(temp, { force: true }).catch(() => {});
      throw error;
    }
    return cid;
  }

  async *get(cid: CID, options?: AbortOptions): AsyncGenerator<Uint8Array> {
    options?.signal?.throwIfAborted();
    const { dir, file } = this.#sharding.encode(cid);
    let bytes: Uint8Array;
    try {
      bytes =
        options?.signal === undefined
          ? await readFile(join(this.path, dir, file))
          : await readFile(join(this.path, dir, file), { signal: options.signal });
    } catch (error) {
      if (errorCode(error) === "ENOENT") throw new NotFoundError(`block ${cid} not found`);
      throw error;
    }
    yield bytes;
  }

  async delete(cid: CID, options?: AbortOptions): Promise<void> {
    await super.delete(cid, options);
    this.#dirty.add(join(this.path, this.#sharding.encode(cid).dir));
  }

  /** Makes every block written or deleted so far durable: fsyncs the directories touched. */
  async sync(): Promise<void> {
    const dirs = [...this.#dirty];
    this.#dirty.clear();
    try {
      await eachLimited(dirs, DIR_SYNC_CONCURRENCY, fsyncDir);
    } catch (error) {
      for (const dir of dirs) this.#dirty.add(dir);
      throw error;
    }
  }

  /** Counts block files and their bytes: one readdir per shard, one stat per block. */
  async usage(): Promise<DiskUsage> {
    const usage: DiskUsage = { blockCount: 0, byteCount: 0 };
    for (const shard of await this.#shards()) {
      const names = (await readdir(shard)).filter(isBlockName);
      await eachLimited(names, DIR_SYNC_CONCURRENCY, async (name) => {
        const { size } = await stat(join(shard, name)).catch(() => ({ size: -1 }));
        if (size < 0) return;
        usage.blockCount++;
        usage.byteCount += size;
      });
    }
    return usage;
  }

  /**
   * Removes temporary files left by writes that never finished (a crash mid-write). Only
   * safe while no write is in progress: the caller holds the store's exclusive lock.
   */
  async removeTemporaryFiles(): Promise<number> {
    let removed = 0;
    for (const shard of await this.#shards()) {
      for (const name of await readdir(shard)) {
        if (!name.startsWith(".") || !name.endsWith(".tmp")) continue;
        await rm(join(shard, name), { force: true });
        this.#dirty.add(shard);
        removed++;
      }
    }
    return removed;
  }

  async #shards(): Promise<string[]> {
    const entries = await readdir(this.path, { withFileTypes: true });
    return entries.filter((entry) => entry.isDirectory()).map((entry) => join(this.path, entry.name));
  }

  async #ensureDir(dirPath: string): Promise<void> {
    if (this.#knownDirs.has(dirPath)) return;
    const created = await mkdir(dirPath, { recursive: true });
    // A new shard directory is an entry of the blocks directory, which must be synced too.
    if (created !== undefined) this.#dirty.add(this.path);
    this.#knownDirs.add(dirPath);
  }
}

function isBlockName(name: string): boolean {
  return name.endsWith(".data") && !name.startsWith(".");
}

/** fsync on a directory makes the entries created, renamed or removed in it durable. */
export async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function eachLimited<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  async function worker(): Promise<void> {
    while (next < items.length) {
      await fn(items[next++] as T);
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

export function errorCode(error: unknown): string | undefined {
  return typeof error === "object" && error !== null && "code" in error && typeof error.code === "string" ? error.code : undefined;
}
