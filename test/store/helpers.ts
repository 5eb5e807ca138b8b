/** Helpers for the store tests: temp dirs, block files on disk, byte sources. */

import { randomBytes } from "node:crypto";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NextToLast } from "blockstore-fs/sharding";
import type { CID } from "multiformats/cid";
import type { BlobStore } from "../../src/store/index.ts";

export function makeTempDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), "medvault-store-"));
}

export function removeDir(dir: string): Promise<void> {
  return rm(dir, { recursive: true, force: true });
}

export function blockPath(dir: string, cid: CID): string {
  const { dir: shard, file } = new NextToLast().encode(cid);
  return join(dir, "blocks", shard, file);
}

/** Every file under `blocks/`, temporary ones included. */
export async function blockFiles(dir: string): Promise<string[]> {
  const root = join(dir, "blocks");
  const files: string[] = [];
  for (const entry of await readdir(root, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    for (const name of await readdir(join(root, entry.name))) files.push(join(entry.name, name));
  }
  return files.sort();
}

export async function collectBytes(source: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of source) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}

export async function catBytes(store: BlobStore, cid: CID | string, range: { offset?: number; length?: number } = {}): Promise<Buffer> {
  return collectBytes(store.cat(cid, range));
}

/** `bytes` in pieces of `pieceSize`, so chunk boundaries and input boundaries differ. */
export async function* pieces(bytes: Uint8Array, pieceSize = 7919): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < bytes.byteLength; i += pieceSize) yield bytes.subarray(i, i + pieceSize);
}

export function random(n: number): Buffer {
  return randomBytes(n);
}

export const KiB = 1024;
export const MiB = 1024 * 1024;
