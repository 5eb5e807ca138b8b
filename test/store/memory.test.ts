/** The in-memory blob store keeps the interface's promises (the fake the vault core's tests use). */

import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { isVaultError } from "../../src/errors.ts";
import type { BlobStore } from "../../src/store/index.ts";
import { createMemoryBlobStore } from "../../src/store/index.ts";
import { catBytes, KiB, MiB, pieces, random } from "./helpers.ts";

let store: BlobStore;

beforeEach(async () => {
  store = await createMemoryBlobStore();
});

afterEach(async () => {
  await store.stop();
});

describe("memory blob store", () => {
  for (const size of [0, 1, 64 * KiB - 1, 64 * KiB, 64 * KiB + 1, MiB + 1, 3 * MiB]) {
    it(`round trips ${size} bytes`, async () => {
      const data = random(size);
      const { cid, size: stored } = await store.add(pieces(data));
      expect(stored).toBe(size);
      expect((await catBytes(store, cid)).equals(data)).toBe(true);
      expect((await catBytes(store, cid, { offset: size >> 1, length: 1000 })).equals(data.subarray(size >> 1, (size >> 1) + 1000))).toBe(
        true,
      );
    });
  }

  it("copies reused input buffers and hands out copies", async () => {
    const data = random(2 * MiB + 5);
    const buffer = new Uint8Array(64 * KiB);
    async function* reusing() {
      for (let i = 0; i < data.byteLength; i += buffer.byteLength) {
        const piece = data.subarray(i, i + buffer.byteLength);
        buffer.set(piece);
        yield buffer.subarray(0, piece.byteLength);
      }
    }
    const { cid } = await store.add(reusing());
    for await (const chunk of store.cat(cid)) chunk.fill(0);
    expect((await catBytes(store, cid)).equals(data)).toBe(true);
  });

  it("pins, unpins and collects", async () => {
    const a = await store.add([random(2 * MiB + 1)]);
    const bData = random(10);
    const b = await store.add([bData]);
    expect((await store.stat()).blockCount).toBe(5);
    await store.unpin(a.cid);
    expect(await store.isPinned(a.cid)).toBe(false);
    expect(await store.collect()).toBe(4);
    expect(await store.has(a.cid)).toBe(false);
    expect((await catBytes(store, b.cid)).equals(bData)).toBe(true);
    const roots: string[] = [];
    for await (const root of store.pins()) roots.push(root.toString());
    expect(roots).toEqual([b.cidString]);
    const error = await catBytes(store, a.cid).catch((e: unknown) => e);
    expect(isVaultError(error, "NOT_FOUND")).toBe(true);
  });

  it("collects called during a collect share one fresh run after it, which sees their unpins", async () => {
    const files = await Promise.all([1, 2, 3, 4].map((n) => store.add([random(n * KiB)])));
    const running = store.collect();
    const waiting: Promise<number>[] = [];
    for (const f of files) {
      await store.unpin(f.cid);
      waiting.push(store.collect());
    }
    const first = await running;
    const shared = await Promise.all(waiting);
    // Each call joins the run that has not started yet, or the one fresh run queued behind the
    // running one; so at most two runs answer them all, whatever the load. With a run each, the
    // four unpins would be collected by up to four runs reporting different counts.
    expect(new Set([first, ...shared]).size).toBeLessThanOrEqual(2);
    const last = shared.at(-1) as number;
    expect(last === first ? first : first + last).toBe(4); // every unpinned block, counted once
    for (const f of files) expect(await store.has(f.cid)).toBe(false);
    // A call after those runs gets a run of its own, with nothing left to collect.
    expect(await store.collect()).toBe(0);
  });
});
