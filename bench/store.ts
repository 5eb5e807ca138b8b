/**
 * Blob store against plain @helia/unixfs, in one process, alternating, medians over rounds:
 *   add: `addByteStream` into a bare FsBlockstore   vs  `BlobStore.add` (fsync'ed, pinned)
 *   cat: `cat` from that FsBlockstore               vs  `BlobStore.cat` (every block verified)
 * Input: 1 GiB (MEDVAULT_BENCH_MIB) of pseudo-random bytes in 64 KiB pieces (the size of the
 * age STREAM chunks the vault feeds in), copied from a random pool with a counter in each
 * piece, so no two blocks are equal and nothing is held whole. Each piece is a fresh buffer,
 * because the reference importer keeps references to its input.
 *
 * "mem +MiB" is the most JS heap + buffers rose above their level at the start of a step.
 *
 *   node bench/store.ts [--detail]     (--detail adds 256 KiB chunks and add without fsync)
 */

import { randomFillSync } from "node:crypto";
import { mkdtemp, open, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { unixfs } from "@helia/unixfs";
import { FsBlockstore } from "blockstore-fs";
import type { CID } from "multiformats/cid";
import type { BlobStore } from "../src/store/index.ts";
import { createBlobStore } from "../src/store/index.ts";
import { MiB, median, printTable } from "./measure.ts";

const totalBytes = Number(process.env.MEDVAULT_BENCH_MIB ?? 1024) * MiB;
const rounds = Number(process.env.MEDVAULT_BENCH_ROUNDS ?? 3);
const detail = process.argv.includes("--detail");
const PIECE = 64 * 1024;
const pool = randomFillSync(Buffer.allocUnsafe(8 * MiB));
setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

async function* source(): AsyncGenerator<Uint8Array> {
  let counter = 0;
  for (let offset = 0; offset < totalBytes; offset += PIECE) {
    const piece = Buffer.allocUnsafe(Math.min(PIECE, totalBytes - offset));
    const from = (counter * 4099) % (pool.byteLength - PIECE);
    pool.copy(piece, 0, from, from + piece.byteLength);
    piece.writeUInt32LE(counter++, 0);
    yield piece;
  }
}

async function drainBytes(stream: AsyncIterable<Uint8Array>): Promise<number> {
  let n = 0;
  for await (const chunk of stream) n += chunk.byteLength;
  if (n !== totalBytes) throw new Error(`read ${n} bytes, expected ${totalBytes}`);
  return n;
}

interface Sample {
  seconds: number;
  /** Peak of JS heap + buffers above its level at the start, after a full GC. */
  memoryGrowth: number;
}

function memory(): number {
  const { heapUsed, external } = process.memoryUsage();
  return heapUsed + external;
}

/**
 * Times `fn` while sampling memory every 10 ms. JS heap + buffers rather than RSS: in one
 * process RSS keeps the high-water mark of earlier steps, heap and buffers go back after GC.
 */
async function timed(fn: () => Promise<unknown>): Promise<Sample> {
  gc();
  const start = memory();
  let peak = start;
  const timer = setInterval(() => {
    peak = Math.max(peak, memory());
  }, 10);
  const started = performance.now();
  await fn();
  const seconds = (performance.now() - started) / 1000;
  clearInterval(timer);
  return { seconds, memoryGrowth: Math.max(peak, memory()) - start };
}

/** Turns fsync/fdatasync into no-ops, to measure what durability costs (bench only). */
async function withoutFsync<T>(fn: () => Promise<T>): Promise<T> {
  const handle = await open("/dev/null");
  const proto = Object.getPrototypeOf(handle) as { sync: () => Promise<void>; datasync: () => Promise<void> };
  await handle.close();
  const { sync, datasync } = proto;
  proto.sync = proto.datasync = async () => {};
  try {
    return await fn();
  } finally {
    proto.sync = sync;
    proto.datasync = datasync;
  }
}

type Case = {
  name: string;
  add: (dir: string) => Promise<{ cat: () => AsyncIterable<Uint8Array>; close: () => Promise<void> }>;
};

function storeCase(name: string, options: { chunkSize?: number; fsync?: boolean } = {}): Case {
  return {
    name,
    async add(dir) {
      const store: BlobStore = await createBlobStore({ dir, ...(options.chunkSize === undefined ? {} : { chunkSize: options.chunkSize }) });
      const run = () => store.add(source());
      const { cid } = options.fsync === false ? await withoutFsync(run) : await run();
      return { cat: () => store.cat(cid), close: () => store.stop() };
    },
  };
}

const reference: Case = {
  name: "plain @helia/unixfs, bare FsBlockstore",
  async add(dir) {
    const blockstore = new FsBlockstore(dir);
    await blockstore.open();
    const fs = unixfs({ blockstore });
    const cid: CID = await fs.addByteStream(source());
    return { cat: () => fs.cat(cid), close: async () => {} };
  },
};

const cases: Case[] = [reference, storeCase("BlobStore (1 MiB chunks, fsync, verified)")];
if (detail) {
  cases.push(storeCase("BlobStore, 256 KiB chunks", { chunkSize: 256 * 1024 }));
  cases.push(storeCase("BlobStore, no fsync (bench-only patch)", { fsync: false }));
}

const results = new Map<string, { add: Sample[]; cat: Sample[] }>(cases.map((c) => [c.name, { add: [], cat: [] }]));
const base = await mkdtemp(join(tmpdir(), "medvault-bench-store-"));
try {
  for (let round = 0; round < rounds; round++) {
    // Alternate the order, so neither side always runs on a warmer cache.
    const order = round % 2 === 0 ? cases : [...cases].reverse();
    for (const c of order) {
      const dir = join(base, `r${round}-${cases.indexOf(c)}`);
      let opened: Awaited<ReturnType<Case["add"]>> | undefined;
      const add = await timed(async () => {
        opened = await c.add(dir);
      });
      if (opened === undefined) throw new Error("add did not finish");
      const { cat, close } = opened;
      const read = await timed(() => drainBytes(cat()));
      await close();
      await rm(dir, { recursive: true, force: true });
      const r = results.get(c.name);
      r?.add.push(add);
      r?.cat.push(read);
      console.error(`round ${round + 1}: ${c.name}: add ${mbps(add.seconds)} MB/s, cat ${mbps(read.seconds)} MB/s`);
    }
  }
} finally {
  await rm(base, { recursive: true, force: true });
}

function mbps(seconds: number): string {
  return (totalBytes / 1e6 / seconds).toFixed(0);
}

const ref = results.get(reference.name);
const refAdd = median(ref?.add.map((s) => s.seconds) ?? []);
const refCat = median(ref?.cat.map((s) => s.seconds) ?? []);
console.log(`\n${totalBytes / MiB} MiB, ${rounds} rounds, medians; node ${process.version}\n`);
printTable(
  cases.map((c) => {
    const r = results.get(c.name) ?? { add: [], cat: [] };
    const add = median(r.add.map((s) => s.seconds));
    const cat = median(r.cat.map((s) => s.seconds));
    return {
      case: c.name,
      "add MB/s": mbps(add),
      "add ratio": (refAdd / add).toFixed(2),
      "add mem +MiB": (Math.max(...r.add.map((s) => s.memoryGrowth)) / MiB).toFixed(0),
      "cat MB/s": mbps(cat),
      "cat ratio": (refCat / cat).toFixed(2),
      "cat mem +MiB": (Math.max(...r.cat.map((s) => s.memoryGrowth)) / MiB).toFixed(0),
    };
  }),
);
