/** Helpers for the swarm tests: stores on disk in one swarm on 127.0.0.1, a look at their disks. */

import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import * as dagPb from "@ipld/dag-pb";
import type { CID } from "multiformats/cid";
import * as raw from "multiformats/codecs/raw";
import type { BlobStore, BlobStoreOptions } from "../../src/store/index.ts";
import { createBlobStore } from "../../src/store/index.ts";
import type { SwarmConfig } from "../../src/swarm/index.ts";
import { blockPath, makeTempDir, removeDir } from "../store/helpers.ts";

export interface TestNode {
  name: string;
  dir: string;
  store: BlobStore;
  /** The settings it was started with, to start it again. */
  config: SwarmConfig;
}

/** Timeouts short enough for the failure cases, long enough for a busy two-core machine. */
export const TIMEOUTS = { fetchTimeoutMs: 5_000, replicationTimeoutMs: 20_000, redialMs: 500 };

export class Nodes {
  readonly all: TestNode[] = [];

  async start(
    name: string,
    swarm: Partial<SwarmConfig> & Pick<SwarmConfig, "swarmKey">,
    options: Omit<BlobStoreOptions, "dir" | "swarm"> & { dir?: string } = {},
  ): Promise<TestNode> {
    const dir = options.dir ?? (await makeTempDir());
    const config: SwarmConfig = { listen: ["/ip4/127.0.0.1/tcp/0"], peers: [], replication: 2, ...TIMEOUTS, ...swarm };
    const { dir: _, ...storeOptions } = options;
    const store = await createBlobStore({ ...storeOptions, dir, swarm: config });
    const node = { name, dir, store, config };
    const index = this.all.findIndex((n) => n.name === name);
    if (index >= 0) this.all[index] = node;
    else this.all.push(node);
    return node;
  }

  async stopAll(): Promise<void> {
    await Promise.allSettled(this.all.map((node) => node.store.stop()));
    await Promise.allSettled(this.all.map((node) => removeDir(node.dir)));
  }
}

/** Every block of the DAG under `root` as a file in this store's `blocks/` (no network involved). */
export async function hasWholeDag(dir: string, root: CID): Promise<boolean> {
  const stack = [root];
  for (let cid = stack.pop(); cid !== undefined; cid = stack.pop()) {
    const path = blockPath(dir, cid);
    if (!existsSync(path)) return false;
    if (cid.code === raw.code) continue;
    for (const link of dagPb.decode(await readFile(path)).Links) stack.push(link.Hash);
  }
  return true;
}

/** Whether any block of the DAG under `root` (as read from `source`) is a file in `dir`. */
export async function hasAnyBlock(dir: string, source: string, root: CID): Promise<boolean> {
  const stack = [root];
  for (let cid = stack.pop(); cid !== undefined; cid = stack.pop()) {
    if (existsSync(blockPath(dir, cid))) return true;
    if (cid.code === raw.code) continue;
    for (const link of dagPb.decode(await readFile(blockPath(source, cid))).Links) stack.push(link.Hash);
  }
  return false;
}

export async function pinnedOn(nodes: TestNode[], cid: CID | string): Promise<string[]> {
  const pinned: string[] = [];
  for (const node of nodes) if (await node.store.isPinned(cid)) pinned.push(node.name);
  return pinned;
}

export async function pinList(node: TestNode): Promise<string[]> {
  const roots: string[] = [];
  for await (const root of node.store.pins()) roots.push(root.toString());
  return roots.sort();
}

/** Polls until `check` holds; for conditions that settle in the background (reconnects). */
export async function eventually(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`still not true after ${timeoutMs} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
