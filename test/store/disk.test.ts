/** The blob store on a real Helia with blocks on disk, in a temp dir. */

import { createHash } from "node:crypto";
import { open, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { unixfs } from "@helia/unixfs";
import * as dagPb from "@ipld/dag-pb";
import { FsBlockstore } from "blockstore-fs";
import fc from "fast-check";
import { CID } from "multiformats/cid";
import * as raw from "multiformats/codecs/raw";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { isVaultError } from "../../src/errors.ts";
import type { BlobStore, HashedBlock } from "../../src/store/index.ts";
import { createBlobStore } from "../../src/store/index.ts";
import { blockFiles, blockPath, catBytes, collectBytes, KiB, MiB, makeTempDir, pieces, random, removeDir } from "./helpers.ts";

let dir: string;
let store: BlobStore;

beforeEach(async () => {
  dir = await makeTempDir();
  store = await createBlobStore({ dir });
});

afterEach(async () => {
  await store.stop();
  await removeDir(dir);
});

async function rootLinks(cid: CID): Promise<CID[]> {
  return dagPb.decode(await readFile(blockPath(dir, cid))).Links.map((link) => link.Hash);
}

async function expectCode(promise: Promise<unknown>, code: Parameters<typeof isVaultError>[1]): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isVaultError(error, code), `expected ${code}, got ${String(error)}`).toBe(true);
}

describe("round trips", () => {
  const sizes = [0, 1, 64 * KiB - 1, 64 * KiB, 64 * KiB + 1, MiB - 1, MiB, MiB + 1, 20 * MiB];
  for (const size of sizes) {
    it(`${size} bytes`, async () => {
      const data = random(size);
      const result = await store.add(pieces(data));
      expect(result.size).toBe(size);
      expect(result.cid.version).toBe(1);
      expect(result.cidString).toBe(result.cid.toString());
      expect((await catBytes(store, result.cid)).equals(data)).toBe(true);
      expect((await catBytes(store, result.cidString)).equals(data)).toBe(true);
      if (size <= MiB) {
        expect(result.cid.code).toBe(raw.code);
      } else {
        expect(result.cid.code).toBe(dagPb.code);
        const links = await rootLinks(result.cid);
        expect(links).toHaveLength(Math.ceil(size / MiB));
        for (const link of links) expect(link.code).toBe(raw.code);
      }
      expect(await store.isPinned(result.cid)).toBe(true);
      expect((await blockFiles(dir)).filter((f) => f.endsWith(".tmp"))).toEqual([]);
    });
  }

  it("accepts a plain iterable and a producer that reuses its buffer", async () => {
    const expected = random(3 * MiB + 12345);
    const buffer = new Uint8Array(100 * KiB);
    async function* reusing() {
      for (let i = 0; i < expected.byteLength; i += buffer.byteLength) {
        const piece = expected.subarray(i, i + buffer.byteLength);
        buffer.set(piece);
        yield buffer.subarray(0, piece.byteLength);
      }
    }
    const reused = await store.add(reusing());
    expect((await catBytes(store, reused.cid)).equals(expected)).toBe(true);
    const plain = await store.add([expected.subarray(0, MiB), expected.subarray(MiB)]);
    expect(plain.cid.equals(reused.cid)).toBe(true);
  });

  it("gives the same CIDs as @helia/unixfs with its defaults", async () => {
    const data = random(2 * MiB + 7);
    const { cid } = await store.add([data]);
    const other = await makeTempDir();
    try {
      const reference = await unixfs({ blockstore: new FsBlockstore(other) }).addBytes(data);
      expect(cid.equals(reference)).toBe(true);
    } finally {
      await removeDir(other);
    }
  });

  it("yields buffers the caller owns", async () => {
    const data = random(MiB + 10);
    const { cid } = await store.add([data]);
    for await (const chunk of store.cat(cid)) chunk.fill(0);
    expect((await catBytes(store, cid)).equals(data)).toBe(true);
  });
});

describe("addLeaves", () => {
  const leavesOf = (data: Uint8Array, size = MiB): HashedBlock[] => {
    const out: HashedBlock[] = [];
    for (let at = 0; at < data.byteLength || out.length === 0; at += size) {
      const bytes = data.slice(at, at + size);
      out.push({ bytes, sha256: createHash("sha256").update(bytes).digest() });
    }
    return out;
  };

  it("gives add's DAG and CIDs for the same bytes, and releases each leaf once written", async () => {
    for (const size of [0, 1, MiB, MiB + 1, 3 * MiB + 77]) {
      const data = random(size);
      const released: Uint8Array[] = [];
      const leaves = leavesOf(data);
      const result = await store.addLeaves(leaves, { release: (bytes) => released.push(bytes) });
      expect(result.size).toBe(size);
      expect(result.cid.equals((await store.add([data])).cid), `size ${size}`).toBe(true);
      expect(await store.isPinned(result.cid)).toBe(true);
      expect((await catBytes(store, result.cid)).equals(data)).toBe(true);
      expect(released.length, `size ${size}`).toBe(leaves.length);
      for (const leaf of leaves) expect(released.includes(leaf.bytes)).toBe(true);
    }
  });

  it("takes the producer's digests as given: a wrong one is caught when the block is read", async () => {
    const data = random(2 * MiB);
    const leaves = leavesOf(data);
    (leaves[1] as HashedBlock).sha256 = createHash("sha256").update("not these bytes").digest();
    const { cid } = await store.addLeaves(leaves);
    await expectCode(catBytes(store, cid), "INTEGRITY_FAILED");
  });

  it("refuses leaves that do not fit the chunk size, and a digest of the wrong length", async () => {
    const data = random(3 * MiB);
    await expectCode(store.addLeaves(leavesOf(data, MiB - 1)), "INTERNAL");
    await expectCode(store.addLeaves(leavesOf(data, MiB + 1)), "INTERNAL");
    await expectCode(store.addLeaves([{ bytes: data.subarray(0, 10), sha256: new Uint8Array(31) }]), "INTERNAL");
    expect((await store.stat()).pinCount).toBe(0);
  });
});

describe("ranged cat", () => {
  it("matches the slice", async () => {
    const data = random(5 * MiB + 333);
    const { cid } = await store.add(pieces(data, 65536));
    const cases: [number, number | undefined][] = [
      [0, 0],
      [0, 1],
      [MiB - 1, 2],
      [MiB, MiB],
      [3 * MiB + 3, 2 * MiB],
      [data.byteLength - 1, 10],
      [data.byteLength, undefined],
      [12345, undefined],
    ];
    for (const [offset, length] of cases) {
      const range = length === undefined ? { offset } : { offset, length };
      const end = length === undefined ? undefined : offset + length;
      expect((await catBytes(store, cid, range)).equals(data.subarray(offset, end))).toBe(true);
    }
    await expectCode(catBytes(store, cid, { offset: data.byteLength + 1 }), "BAD_REQUEST");
    await expectCode(catBytes(store, cid, { offset: -1 }), "BAD_REQUEST");
    await expectCode(catBytes(store, cid, { offset: 0, length: 1.5 }), "BAD_REQUEST");
  });

  it("matches the slice for random ranges (property)", async () => {
    const data = random(3 * MiB + 100);
    const { cid } = await store.add([data]);
    const small = random(1000);
    const single = await store.add([small]);
    await fc.assert(
      fc.asyncProperty(fc.nat(data.byteLength), fc.nat(2 * MiB), async (offset, length) => {
        const got = await catBytes(store, cid, { offset, length });
        return got.equals(data.subarray(offset, offset + length));
      }),
      { numRuns: 40 },
    );
    await fc.assert(
      fc.asyncProperty(fc.nat(small.byteLength), fc.nat(1200), async (offset, length) => {
        const got = await catBytes(store, single.cid, { offset, length });
        return got.equals(small.subarray(offset, offset + length));
      }),
      { numRuns: 40 },
    );
  });
});

describe("verification", () => {
  async function flipByte(path: string, at: number): Promise<void> {
    const handle = await open(path, "r+");
    try {
      const byte = Buffer.alloc(1);
      await handle.read(byte, 0, 1, at);
      byte[0] = (byte[0] as number) ^ 0x01;
      await handle.write(byte, 0, 1, at);
    } finally {
      await handle.close();
    }
  }

  async function catError(cid: CID, range = {}): Promise<unknown> {
    return catBytes(store, cid, range).then(
      () => undefined,
      (e: unknown) => e,
    );
  }

  it("a flipped byte in a leaf block fails the cat with INTEGRITY_FAILED naming the CID", async () => {
    const data = Buffer.alloc(3 * MiB, "patient-marker ");
    data.write("x", 2 * MiB + 5); // keeps the three leaves distinct
    data.write("y", MiB + 5);
    const { cid } = await store.add([data]);
    const leaf = (await rootLinks(cid))[1] as CID;
    await flipByte(blockPath(dir, leaf), 1000);
    const error = await catError(cid);
    expect(isVaultError(error, "INTEGRITY_FAILED")).toBe(true);
    expect((error as Error).message).toContain(leaf.toString());
    expect((error as Error).message).not.toContain("patient-marker");
    // Ranges that avoid the damaged block still read; ones that touch it fail.
    expect((await catBytes(store, cid, { offset: 0, length: MiB })).equals(data.subarray(0, MiB))).toBe(true);
    expect(isVaultError(await catError(cid, { offset: MiB + 999, length: 2 }), "INTEGRITY_FAILED")).toBe(true);
  });

  it("a flipped byte in the root or in a one-block file fails too", async () => {
    const big = await store.add([random(2 * MiB + 1)]);
    await flipByte(blockPath(dir, big.cid), 20);
    expect(isVaultError(await catError(big.cid), "INTEGRITY_FAILED")).toBe(true);
    const small = await store.add([random(100)]);
    await flipByte(blockPath(dir, small.cid), 99);
    expect(isVaultError(await catError(small.cid), "INTEGRITY_FAILED")).toBe(true);
  });

  it("a missing leaf is INTEGRITY_FAILED, a missing root NOT_FOUND", async () => {
    const { cid } = await store.add([random(2 * MiB + 1)]);
    await writeFile(blockPath(dir, (await rootLinks(cid))[0] as CID), "");
    expect(isVaultError(await catError(cid), "INTEGRITY_FAILED")).toBe(true);
    await rm(blockPath(dir, (await rootLinks(cid))[0] as CID));
    expect(isVaultError(await catError(cid), "INTEGRITY_FAILED")).toBe(true);
    const absent = CID.parse("bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku");
    expect(isVaultError(await catError(absent), "NOT_FOUND")).toBe(true);
    await expectCode(collectBytes(store.cat("not-a-cid")), "BAD_REQUEST");
  });

  it("reads files of other layouts (CIDv0, dag-pb leaves, trickle) like @helia/unixfs does", async () => {
    const { trickle } = await import("ipfs-unixfs-importer/layout");
    const { fixedSize } = await import("ipfs-unixfs-importer/chunker");
    const data = random(3 * MiB + 5);
    const fs = unixfs({ blockstore: new FsBlockstore(join(dir, "blocks")) });
    const v0 = await fs.addBytes(data, { cidVersion: 0, rawLeaves: false, chunker: fixedSize({ chunkSize: 256 * KiB }) });
    const tr = await fs.addBytes(data, { layout: trickle({ maxChildrenPerNode: 4 }), chunker: fixedSize({ chunkSize: 100 * KiB }) });
    for (const cid of [v0, tr]) {
      expect((await catBytes(store, cid)).equals(data)).toBe(true);
      expect((await catBytes(store, cid, { offset: 300 * KiB, length: MiB })).equals(data.subarray(300 * KiB, 300 * KiB + MiB))).toBe(true);
    }
  });
});

describe("persistence and pins", () => {
  it("content and pins survive stop and reopen", async () => {
    const a = random(2 * MiB + 3);
    const b = random(10);
    const ra = await store.add([a]);
    const rb = await store.add([b]);
    await store.stop();
    store = await createBlobStore({ dir });
    expect((await catBytes(store, ra.cid)).equals(a)).toBe(true);
    expect((await catBytes(store, rb.cidString)).equals(b)).toBe(true);
    expect(await store.isPinned(ra.cid)).toBe(true);
    expect(await store.isPinned(rb.cidString)).toBe(true);
    const pinned: string[] = [];
    for await (const root of store.pins()) pinned.push(root.toString());
    expect(pinned.sort()).toEqual([ra.cidString, rb.cidString].sort());
    expect(await store.collect()).toBe(0);
    expect((await store.stat()).pinCount).toBe(2);
  });

  it("pin and unpin are idempotent; pin needs the whole DAG", async () => {
    const { cid } = await store.add([random(2 * MiB + 1)]);
    await store.pin(cid);
    await store.unpin(cid);
    await store.unpin(cid);
    expect(await store.isPinned(cid)).toBe(false);
    await store.pin(cid);
    expect(await store.isPinned(cid)).toBe(true);
    await store.unpin(cid);
    await rm(blockPath(dir, (await rootLinks(cid))[1] as CID));
    await expectCode(store.pin(cid), "NOT_FOUND");
    expect(await store.isPinned(cid)).toBe(false);
    await expectCode(store.pin("bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"), "NOT_FOUND");
  });

  it("stat counts blocks, bytes and pins", async () => {
    await store.add([random(2 * MiB + 1)]);
    const stat = await store.stat();
    expect(stat.blockCount).toBe(4);
    expect(stat.byteCount).toBeGreaterThan(2 * MiB + 1);
    expect(stat.pinCount).toBe(1);
  });
});

describe("discard", () => {
  it("deletes an unpinned file's own blocks at once; other files' blocks and orphans stay for collect", async () => {
    const a = await store.add([random(3 * MiB + 1)]); // 4 leaves + root
    const bData = random(2 * MiB + 1);
    const b = await store.add([bData]); // 3 leaves + root
    expect(await blockFiles(dir)).toHaveLength(9);
    expect(await store.discard(a.cid)).toBe(0); // still pinned: nothing goes
    expect(await blockFiles(dir)).toHaveLength(9);
    await store.unpin(a.cid);
    expect(await store.discard(a.cid)).toBe(5);
    expect(await blockFiles(dir)).toHaveLength(4);
    expect((await catBytes(store, b.cid)).equals(bData)).toBe(true);
    await expectCode(catBytes(store, a.cid), "NOT_FOUND");
    expect(await store.discard(a.cid)).toBe(0); // already gone: a no-op
    expect(await store.collect()).toBe(0);
  });

  it("falls back to a full collect when the unpinned DAG cannot be walked", async () => {
    const a = await store.add([random(2 * MiB + 1)]); // 3 leaves + root
    const kept = random(MiB + 5);
    const b = await store.add([kept]);
    await store.unpin(a.cid);
    // Damage the root (a dag-pb node): the walk fails its check, collect still removes all 4.
    const root = blockPath(dir, a.cid);
    const bytes = await readFile(root);
    bytes.writeUInt8(bytes.readUInt8(bytes.length - 1) ^ 1, bytes.length - 1);
    await writeFile(root, bytes);
    expect(await store.discard(a.cid)).toBe(4);
    expect((await catBytes(store, b.cid)).equals(kept)).toBe(true);
  });
});

describe("collect", () => {
  it("unpin + collect removes the file's block files, another pinned file's survive", async () => {
    const a = await store.add([random(3 * MiB + 1)]); // 4 leaves + root
    const bData = random(2 * MiB + 1);
    const b = await store.add([bData]); // 3 leaves + root
    expect(await blockFiles(dir)).toHaveLength(9);
    await store.unpin(a.cid);
    expect(await store.collect()).toBe(5);
    expect(await blockFiles(dir)).toHaveLength(4);
    expect((await catBytes(store, b.cid)).equals(bData)).toBe(true);
    await expectCode(catBytes(store, a.cid), "NOT_FOUND");
    expect(await store.has(a.cid)).toBe(false);
    expect(await store.has(b.cid)).toBe(true);
  });

  it("keeps blocks shared with, or repeated in, a pinned file (where Helia 7's pin counts fail)", async () => {
    const x = random(MiB);
    const y = random(MiB);
    // X twice in one DAG: Helia's rm walk decrements X's count twice.
    const a = await store.add([x, x, y]);
    const bData = Buffer.concat([x, y.subarray(0, 10)]);
    const b = await store.add([bData]);
    await store.unpin(a.cid);
    await store.collect();
    expect((await catBytes(store, b.cid)).equals(bData)).toBe(true);
    // Shared X, unpin C, pin C again, unpin B: Helia's pinnedBy bookkeeping then drops X.
    const cData = Buffer.concat([x, random(5)]);
    const c = await store.add([cData]);
    await store.unpin(c.cid);
    await store.pin(c.cid);
    await store.unpin(b.cid);
    await store.collect();
    expect((await catBytes(store, c.cid)).equals(cData)).toBe(true);
    await expectCode(catBytes(store, b.cid), "NOT_FOUND");
  });

  it("removes orphan blocks of an import that was never pinned, and stale temporary files", async () => {
    const kept = random(MiB + 1);
    const pinned = await store.add([kept]);
    const fs = unixfs({ blockstore: new FsBlockstore(join(dir, "blocks")) });
    await fs.addBytes(random(3 * MiB + 9)); // 4 leaves + root, no pin: a crash before pinning
    const shard = (await blockFiles(dir))[0]?.split("/")[0] as string;
    await writeFile(join(dir, "blocks", shard, ".CIQSTALE.data.123.1.tmp"), "partial");
    expect(await blockFiles(dir)).toHaveLength(3 + 5 + 1);
    expect(await store.collect()).toBe(5);
    expect(await blockFiles(dir)).toHaveLength(3);
    expect((await catBytes(store, pinned.cid)).equals(kept)).toBe(true);
  });

  it("does not delete the blocks of an add in progress", async () => {
    // The importer writes in batches of 10 blocks: pause after 12 so that some have landed.
    const data = random(14 * MiB + 1);
    let resume!: () => void;
    const resumed = new Promise<void>((resolve) => {
      resume = resolve;
    });
    let paused!: () => void;
    const pausing = new Promise<void>((resolve) => {
      paused = resolve;
    });
    async function* slow() {
      yield* pieces(data.subarray(0, 12 * MiB), MiB);
      paused();
      await resumed;
      yield* pieces(data.subarray(12 * MiB), MiB);
    }
    const adding = store.add(slow());
    try {
      await pausing;
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect((await blockFiles(dir)).length).toBeGreaterThanOrEqual(10);
      expect(await store.collect()).toBe(0);
    } finally {
      resume();
    }
    const { cid } = await adding;
    expect(await store.collect()).toBe(0);
    expect((await catBytes(store, cid)).equals(data)).toBe(true);
  });

  it("an aborted add rejects and leaves blocks that collect removes", async () => {
    const controller = new AbortController();
    async function* source() {
      yield random(2 * MiB);
      controller.abort();
      yield random(MiB);
    }
    await expect(store.add(source(), { signal: controller.signal })).rejects.toThrow();
    await store.collect();
    expect(await blockFiles(dir)).toEqual([]);
    expect((await store.stat()).pinCount).toBe(0);
  });

  it("refuses to collect anything when a pinned DAG cannot be walked", async () => {
    const a = await store.add([random(2 * MiB + 1)]);
    await store.add([random(10)]).then((r) => store.unpin(r.cid));
    await writeFile(blockPath(dir, a.cid), "garbage");
    await expectCode(store.collect(), "INTEGRITY_FAILED");
    expect(await blockFiles(dir)).toHaveLength(5);
  });
});

describe("lifecycle", () => {
  it("rejects calls after stop", async () => {
    await store.stop();
    await expectCode(store.add([random(1)]), "INTERNAL");
    store = await createBlobStore({ dir });
  });

  it("rejects a bad chunk size and a bad dir", async () => {
    await expectCode(createBlobStore({ dir, chunkSize: 4 * MiB }), "BAD_REQUEST");
    await expectCode(createBlobStore({ dir: "" }), "BAD_REQUEST");
  });

  it("honours chunkSize", async () => {
    const other = await makeTempDir();
    const small = await createBlobStore({ dir: other, chunkSize: 256 * KiB });
    try {
      const data = random(MiB + 1);
      const { cid } = await small.add([data]);
      expect(dagPb.decode(await readFile(blockPath(other, cid))).Links).toHaveLength(5);
      expect((await catBytes(small, cid)).equals(data)).toBe(true);
    } finally {
      await small.stop();
      await removeDir(other);
    }
  });
});
