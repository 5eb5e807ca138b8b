/**
 * The pin set: the roots whose DAGs `collect` keeps. On disk, one empty file per root in
 * `pins/`, named by the root's CIDv1 string; creating or removing it is one directory
 * entry, made durable with fsync before the call returns.
 *
 * Why not Helia's `pins`: Helia 7 keeps a reference count per block in the datastore, written
 * one file per block and never synced, and its counts go wrong when a block occurs twice in
 * one DAG or when a root is unpinned and pinned again while another root shares its blocks
 * (gc then deletes blocks of a pinned file). Roots only, with mark-and-sweep in `collect`,
 * cost one file per upload and cannot drift.
 */

import { access, mkdir, open, readdir, unlink } from "node:fs/promises";
import { join } from "node:path";
import { CID } from "multiformats/cid";
import { errorCode, fsyncDir } from "./disk.ts";

export interface PinSet {
  /** Durable when it resolves; pinning a pinned root is a no-op. */
  add(root: CID): Promise<void>;
  /** Durable when it resolves; false if the root was not pinned. */
  delete(root: CID): Promise<boolean>;
  has(root: CID): Promise<boolean>;
  list(): AsyncGenerator<CID>;
}

function pinName(root: CID): string {
  return root.toV1().toString();
}

export async function openDiskPins(dir: string): Promise<PinSet> {
  await mkdir(dir, { recursive: true });
  return {
    async add(root) {
      try {
        const handle = await open(join(dir, pinName(root)), "wx");
        try {
          await handle.sync();
        } finally {
          await handle.close();
        }
      } catch (error) {
        if (errorCode(error) !== "EEXIST") throw error;
      }
      await fsyncDir(dir);
    },
    async delete(root) {
      try {
        await unlink(join(dir, pinName(root)));
      } catch (error) {
        if (errorCode(error) === "ENOENT") return false;
        throw error;
      }
      await fsyncDir(dir);
      return true;
    },
    async has(root) {
      try {
        await access(join(dir, pinName(root)));
        return true;
      } catch (error) {
        if (errorCode(error) === "ENOENT") return false;
        throw error;
      }
    },
    async *list() {
      for (const name of await readdir(dir)) {
        if (name.startsWith(".")) continue;
        const root = parseName(name);
        if (root !== undefined) yield root;
      }
    },
  };
}

function parseName(name: string): CID | undefined {
  try {
    return CID.parse(name);
  } catch {
    return undefined;
  }
}

export function createMemoryPins(): PinSet {
  const roots = new Map<string, CID>();
  return {
    async add(root) {
      roots.set(pinName(root), root.toV1());
    },
    async delete(root) {
      return roots.delete(pinName(root));
    },
    async has(root) {
      return roots.has(pinName(root));
    },
    async *list() {
      yield* [...roots.values()];
    },
  };
}
