import { randomBytes } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import type { Catalog, ChainAnchor } from "../../src/catalog/index.ts";
import { addPrincipal, type Fixture, forEachEngine, openFixture, tableCounts, uploadInput } from "./fixture.ts";

let fixture: Fixture;
afterEach(() => fixture?.cleanup());

function anchorData(overrides: Partial<ChainAnchor> = {}): ChainAnchor {
  return {
    chainBatchId: 0,
    prevRoot: new Uint8Array(32),
    txHash: `0x${"ab".repeat(32)}`,
    blockNumber: 7,
    blockHash: `0x${"cd".repeat(32)}`,
    chainId: 31337,
    contract: `0x${"5f".repeat(20)}`,
    ...overrides,
  };
}

function queueEvents(catalog: Catalog, n: number): void {
  catalog.transaction(() => {
    for (let i = 0; i < n; i++) catalog.appendEvent({ action: "test.tick", outcome: "ok", detail: { i } });
  });
}

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");

forEachEngine(() => {
  describe("the anchoring queue", () => {
    it("gives pending leaves oldest first: commitments and event hashes", () => {
      fixture = openFixture();
      const { catalog } = fixture;
      const owner = addPrincipal(catalog, "uploader");
      const file = catalog.commitUpload(uploadInput(owner));
      const events = catalog.listEvents();
      const pending = catalog.pendingLeaves(100);
      expect(pending.map((leaf) => leaf.seq)).toEqual([1, 2, 3]);
      expect(pending.map((leaf) => hex(leaf.value))).toEqual([
        hex(events[0]?.eventHash ?? new Uint8Array()), // principal.create
        hex(file.commitment), // the file commitment, queued before its upload event
        hex(events[1]?.eventHash ?? new Uint8Array()),
      ]);
      expect(catalog.pendingLeaves(2).map((leaf) => leaf.seq)).toEqual([1, 2]);
      expect(catalog.countPendingLeaves()).toBe(3);
    });

    it("seals leaves in the given order, and refuses to seal a leaf twice", () => {
      fixture = openFixture();
      const { catalog } = fixture;
      queueEvents(catalog, 5);
      const pending = catalog.pendingLeaves(3);
      const order = [pending[2], pending[0], pending[1]].map((leaf) => leaf?.seq ?? 0);
      const root = randomBytes(32);
      const batchId = catalog.sealBatch({ leafSeqs: order, root });
      expect(batchId).toBe(1);
      expect(catalog.getBatch(batchId)).toMatchObject({
        id: 1,
        leafCount: 3,
        status: "sealed",
        txHash: null,
        chainId: null,
      });
      expect(hex(catalog.getBatch(batchId)?.root ?? new Uint8Array())).toBe(hex(root));
      expect(catalog.batchLeaves(batchId).map(hex)).toEqual(
        [pending[2], pending[0], pending[1]].map((l) => hex(l?.value ?? new Uint8Array())),
      );
      const first = catalog.listEvents({ limit: 1 })[0];
      expect(catalog.leafOf("event", first?.id ?? "")).toMatchObject({ seq: 1, kind: "event", batchId: 1, leafIndex: 1 });
      expect(catalog.pendingLeaves(10).map((leaf) => leaf.seq)).toEqual([4, 5]);

      const before = tableCounts(fixture);
      expect(() => catalog.sealBatch({ leafSeqs: [4, 3], root })).toThrow(expect.objectContaining({ code: "CONFLICT" }));
      expect(() => catalog.sealBatch({ leafSeqs: [4, 999], root })).toThrow(expect.objectContaining({ code: "CONFLICT" }));
      expect(() => catalog.sealBatch({ leafSeqs: [4, 4], root })).toThrow(expect.objectContaining({ code: "CONFLICT" }));
      expect(() => catalog.sealBatch({ leafSeqs: [], root })).toThrow(expect.objectContaining({ code: "BAD_REQUEST" }));
      expect(() => catalog.sealBatch({ leafSeqs: [4], root: randomBytes(31) })).toThrow(expect.objectContaining({ code: "BAD_REQUEST" }));
      expect(tableCounts(fixture)).toEqual(before);
      expect(catalog.pendingLeaves(10).map((leaf) => leaf.seq)).toEqual([4, 5]);
    });

    it("moves batches sealed → anchored → final, and back to sealed with the chain fields cleared", () => {
      fixture = openFixture();
      const { catalog } = fixture;
      queueEvents(catalog, 4);
      const b1 = catalog.sealBatch({ leafSeqs: [1, 2], root: randomBytes(32) });
      const b2 = catalog.sealBatch({ leafSeqs: [3, 4], root: randomBytes(32) });
      expect(catalog.batchesWithStatus("sealed").map((b) => b.id)).toEqual([b1, b2]);

      const anchored = catalog.markAnchored(b1, anchorData());
      expect(anchored).toMatchObject({
        status: "anchored",
        chainBatchId: 0,
        blockNumber: 7,
        chainId: 31337,
        txHash: `0x${"ab".repeat(32)}`,
      });
      expect(anchored.anchoredAt).not.toBeNull();
      expect(() => catalog.markFinal(b2)).toThrow(expect.objectContaining({ code: "CONFLICT" }));
      expect(catalog.markFinal(b1).status).toBe("final");
      expect(catalog.markFinal(b1).status).toBe("final");
      expect(() => catalog.markAnchored(b1, anchorData())).toThrow(expect.objectContaining({ code: "CONFLICT" }));
      expect(catalog.batchesWithStatus("final").map((b) => b.id)).toEqual([b1]);

      // The root vanished from the chain (reorg, lost dev-chain state): back to waiting.
      const resealed = catalog.markSealed(b1);
      expect(resealed).toMatchObject({
        status: "sealed",
        chainBatchId: null,
        prevRoot: null,
        txHash: null,
        blockNumber: null,
        blockHash: null,
        chainId: null,
        contract: null,
        anchoredAt: null,
        leafCount: 2,
      });
      expect(catalog.batchLeaves(b1)).toHaveLength(2);
      expect(catalog.batchesWithStatus("sealed").map((b) => b.id)).toEqual([b1, b2]);
      expect(catalog.markAnchored(b1, anchorData({ chainBatchId: 3, blockNumber: 99 })).chainBatchId).toBe(3);

      expect(() => catalog.markAnchored(b2, anchorData({ txHash: "0x12" }))).toThrow(expect.objectContaining({ code: "BAD_REQUEST" }));
      expect(() => catalog.markAnchored(b2, anchorData({ prevRoot: randomBytes(20) }))).toThrow(
        expect.objectContaining({ code: "BAD_REQUEST" }),
      );
      expect(() => catalog.markAnchored(42, anchorData())).toThrow(expect.objectContaining({ code: "NOT_FOUND" }));
      expect(() => catalog.markSealed(42)).toThrow(expect.objectContaining({ code: "NOT_FOUND" }));
      expect(catalog.getBatch(42)).toBeUndefined();

      const stats = fixture.reopen().stats();
      expect(stats.batches).toEqual({ sealed: 1, anchored: 1, final: 0 });
    });

    it("seals 10,000 leaves in one call, in order", () => {
      fixture = openFixture();
      const { catalog } = fixture;
      queueEvents(catalog, 10_000);
      const pending = catalog.pendingLeaves(10_000);
      expect(pending).toHaveLength(10_000);
      const started = performance.now();
      const batchId = catalog.sealBatch({ leafSeqs: pending.map((leaf) => leaf.seq), root: randomBytes(32) });
      const sealMs = performance.now() - started;
      const readStarted = performance.now();
      const leaves = catalog.batchLeaves(batchId);
      const readMs = performance.now() - readStarted;
      console.log(`sealBatch(10,000 leaves): ${sealMs.toFixed(1)} ms; batchLeaves: ${readMs.toFixed(1)} ms`);
      expect(leaves).toHaveLength(10_000);
      expect(catalog.countPendingLeaves()).toBe(0);
    });
  });
});
