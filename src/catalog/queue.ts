/**
 * The durable anchoring queue: leaves waiting for a batch, and batches through their chain
 * states. The batcher (src/anchor, src/vault) drives it; the catalog only keeps it durable and
 * consistent, so a crash at any point loses no leaf and anchors none twice.
 *
 * A leaf's `value` is a file commitment or an audit event hash; the Merkle leaf hash is
 * SHA-256(0x00 ‖ value) (RFC 9162 §2.1), computed by the tree code, not stored here.
 *
 * Batch states: `sealed` (root fixed, not on chain: waiting or re-queued) → `anchored` (its
 * transaction is mined) → `final` (enough confirmations). `markSealed` sends a batch back when
 * its root disappeared from the chain (reorg, lost dev-chain state); its leaves stay in it, so
 * the same root is anchored again and issued receipts keep their leaf index and path.
 */

import { VaultError } from "../errors.ts";
import { checkBytes, checkInt, checkPattern } from "./check.ts";
import { blob, blobOrNull, type Db, int, intOrNull, type Row, text, textOrNull } from "./db.ts";

export type LeafKind = "file" | "event";
export type BatchStatus = "sealed" | "anchored" | "final";

export interface PendingLeaf {
  seq: number;
  value: Uint8Array;
}

export interface Leaf {
  seq: number;
  kind: LeafKind;
  /** File id or audit event id. */
  ref: string;
  value: Uint8Array;
  batchId: number | null;
  leafIndex: number | null;
}

/** Where and how a batch root was anchored. Hashes and addresses as 0x-prefixed hex, as ethers gives them. */
export interface ChainAnchor {
  /** The contract's batchId (its `nextBatchId` at the time). */
  chainBatchId: number;
  /** The contract's `lastRoot` before this one (32 zero bytes for the first). */
  prevRoot: Uint8Array;
  txHash: string;
  blockNumber: number;
  blockHash: string;
  chainId: number;
  contract: string;
}

export interface Batch {
  id: number;
  root: Uint8Array;
  leafCount: number;
  sealedAt: string;
  status: BatchStatus;
  chainBatchId: number | null;
  prevRoot: Uint8Array | null;
  txHash: string | null;
  blockNumber: number | null;
  blockHash: string | null;
  chainId: number | null;
  contract: string | null;
  anchoredAt: string | null;
}

export interface Queue {
  /** Up to `limit` leaves not yet in a batch, oldest first. */
  pendingLeaves(limit: number): PendingLeaf[];
  countPendingLeaves(): number;
  /**
   * Seals a batch in one transaction: the batch row, and each leaf's batch and index in the
   * given order (the order the root was computed over). CONFLICT if a leaf is unknown or
   * already sealed (nothing is written then).
   */
  sealBatch(input: { leafSeqs: readonly number[]; root: Uint8Array }): number;
  getBatch(id: number): Batch | undefined;
  /** Batches in a state, oldest first. */
  batchesWithStatus(status: BatchStatus): Batch[];
  /** sealed or anchored → anchored, with the chain data. NOT_FOUND, or CONFLICT if final. */
  markAnchored(batchId: number, anchor: ChainAnchor): Batch;
  /** anchored → final (no-op if already final). CONFLICT if still sealed. */
  markFinal(batchId: number): Batch;
  /** any → sealed, chain fields cleared: the root is no longer on chain and must be re-anchored. */
  markSealed(batchId: number): Batch;
  /** A batch's leaf values in leaf order (what its root was computed over). */
  batchLeaves(batchId: number): Uint8Array[];
  /** The leaf of a file (`"file"`, file id) or an audit event (`"event"`, event id). */
  leafOf(kind: LeafKind, ref: string): Leaf | undefined;
}

const HASH_PATTERN = /^0x[0-9a-fA-F]{64}$/;
const ADDRESS_PATTERN = /^0x[0-9a-fA-F]{40}$/;
const MAX_LEAF_COUNT = 0xffff_ffff; // the contract's uint32 leafCount

export function createQueue(db: Db): Queue {
  function getBatch(id: number): Batch | undefined {
    const row = db.get("SELECT * FROM batches WHERE id = ?", id);
    return row === undefined ? undefined : toBatch(row);
  }

  function requireBatch(id: number): Batch {
    const batch = getBatch(id);
    if (batch === undefined) throw new VaultError("NOT_FOUND", "no such batch");
    return batch;
  }

  return {
    pendingLeaves(limit) {
      checkInt(limit, "limit", 1, MAX_LEAF_COUNT);
      return db
        .all("SELECT seq, value FROM leaves WHERE batch_id IS NULL ORDER BY seq LIMIT ?", limit)
        .map((row) => ({ seq: int(row, "seq"), value: blob(row, "value") }));
    },

    countPendingLeaves() {
      return int(db.get("SELECT count(*) AS n FROM leaves WHERE batch_id IS NULL") ?? { n: 0 }, "n");
    },

    sealBatch({ leafSeqs, root }) {
      checkBytes(root, 32, "root");
      if (!Array.isArray(leafSeqs) || leafSeqs.length === 0 || leafSeqs.length > MAX_LEAF_COUNT) {
        throw new VaultError("BAD_REQUEST", "leafSeqs: expected 1 to 2^32 - 1 leaves");
      }
      return db.transaction(() => {
        const inserted = db.get(
          "INSERT INTO batches (root, leaf_count, sealed_at, status) VALUES (?, ?, ?, 'sealed') RETURNING id",
          root,
          leafSeqs.length,
          db.nowIso(),
        );
        const batchId = int(inserted ?? {}, "id");
        const bad = leafSeqs.findIndex((seq) => !Number.isSafeInteger(seq));
        if (bad >= 0) throw new VaultError("CONFLICT", `leafSeqs[${bad}]: unknown or already sealed`);
        if (db.dialect === "postgres") {
          // One statement instead of a round trip per leaf; a repeated seq matches one row.
          const changed = db.run(
            `UPDATE leaves SET batch_id = ?, leaf_index = t.i - 1
             FROM unnest(?::bigint[]) WITH ORDINALITY AS t(seq, i) WHERE leaves.seq = t.seq AND leaves.batch_id IS NULL`,
            batchId,
            `{${leafSeqs.join(",")}}`,
          );
          if (changed !== leafSeqs.length) throw new VaultError("CONFLICT", "leafSeqs: unknown, repeated or already sealed");
          return batchId;
        }
        const changes = db.runMany(
          "UPDATE leaves SET batch_id = ?, leaf_index = ? WHERE seq = ? AND batch_id IS NULL",
          leafSeqs.map((seq, index) => [batchId, index, seq]),
        );
        const missed = changes.findIndex((n) => n !== 1);
        if (missed >= 0) throw new VaultError("CONFLICT", `leafSeqs[${missed}]: unknown or already sealed`);
        return batchId;
      });
    },

    getBatch,

    batchesWithStatus(status) {
      return db.all("SELECT * FROM batches WHERE status = ? ORDER BY id", status).map(toBatch);
    },

    markAnchored(batchId, anchor) {
      const chainBatchId = checkInt(anchor.chainBatchId, "chainBatchId");
      const prevRoot = checkBytes(anchor.prevRoot, 32, "prevRoot");
      const txHash = checkPattern(anchor.txHash, "txHash", HASH_PATTERN);
      const blockNumber = checkInt(anchor.blockNumber, "blockNumber");
      const blockHash = checkPattern(anchor.blockHash, "blockHash", HASH_PATTERN);
      const chainId = checkInt(anchor.chainId, "chainId", 1);
      const contract = checkPattern(anchor.contract, "contract", ADDRESS_PATTERN);
      return db.transaction(() => {
        if (requireBatch(batchId).status === "final") {
          throw new VaultError("CONFLICT", "the batch is already final");
        }
        db.run(
          `UPDATE batches SET status = 'anchored', chain_batch_id = ?, prev_root = ?, tx_hash = ?, block_number = ?,
             block_hash = ?, chain_id = ?, contract = ?, anchored_at = ? WHERE id = ?`,
          chainBatchId,
          prevRoot,
          txHash,
          blockNumber,
          blockHash,
          chainId,
          contract,
          db.nowIso(),
          batchId,
        );
        return requireBatch(batchId);
      });
    },

    markFinal(batchId) {
      return db.transaction(() => {
        const batch = requireBatch(batchId);
        if (batch.status === "final") return batch;
        if (batch.status !== "anchored") throw new VaultError("CONFLICT", "the batch is not anchored");
        db.run("UPDATE batches SET status = 'final' WHERE id = ?", batchId);
        return { ...batch, status: "final" };
      });
    },

    markSealed(batchId) {
      return db.transaction(() => {
        requireBatch(batchId);
        db.run(
          `UPDATE batches SET status = 'sealed', chain_batch_id = NULL, prev_root = NULL, tx_hash = NULL,
             block_number = NULL, block_hash = NULL, chain_id = NULL, contract = NULL, anchored_at = NULL
           WHERE id = ?`,
          batchId,
        );
        return requireBatch(batchId);
      });
    },

    batchLeaves(batchId) {
      return db.all("SELECT value FROM leaves WHERE batch_id = ? ORDER BY leaf_index", batchId).map((row) => blob(row, "value"));
    },

    leafOf(kind, ref) {
      const row = db.get("SELECT * FROM leaves WHERE kind = ? AND ref = ?", kind, ref);
      if (row === undefined) return undefined;
      return {
        seq: int(row, "seq"),
        kind: text(row, "kind") as LeafKind,
        ref: text(row, "ref"),
        value: blob(row, "value"),
        batchId: intOrNull(row, "batch_id"),
        leafIndex: intOrNull(row, "leaf_index"),
      };
    },
  };
}

function toBatch(row: Row): Batch {
  return {
    id: int(row, "id"),
    root: blob(row, "root"),
    leafCount: int(row, "leaf_count"),
    sealedAt: text(row, "sealed_at"),
    status: text(row, "status") as BatchStatus,
    chainBatchId: intOrNull(row, "chain_batch_id"),
    prevRoot: blobOrNull(row, "prev_root"),
    txHash: textOrNull(row, "tx_hash"),
    blockNumber: intOrNull(row, "block_number"),
    blockHash: textOrNull(row, "block_hash"),
    chainId: intOrNull(row, "chain_id"),
    contract: textOrNull(row, "contract"),
    anchoredAt: textOrNull(row, "anchored_at"),
  };
}
