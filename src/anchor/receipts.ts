/**
 * Receipts and proofs issued from the catalog: a file's `medvault.receipt/v1` (format in
 * receipt.ts), the anchoring status shown in file views, and the inclusion proof of an audit
 * event (`medvault.event-proof/v1`, for erasure certificates and `GET /v1/audit/:eventId/proof`).
 *
 * Everything here is rebuilt from the catalog on demand: the inclusion path comes from the
 * batch's leaves (RFC 9162 §2.1.3.1), so a batch anchored again after a lost chain state gives
 * receipts with its new batch id, transaction and block, while leaf index, path and root stay.
 * Before anything leaves, the catalog is checked against itself: the commitment recomputed from
 * the file record equals its leaf, and the rebuilt tree gives the batch's stored root; a
 * mismatch is INTEGRITY_FAILED (a damaged or tampered catalog), never a receipt that fails later.
 *
 * Codes: NOT_FOUND (unknown file or event), GONE (file erased: its salt is destroyed, so no
 * receipt can ever be given again), PENDING (not anchored yet, or anchored on a chain or
 * contract the vault no longer uses and waiting to be anchored again; HTTP 409, retry later).
 */

import type { Batch, Catalog, LeafKind } from "../catalog/index.ts";
import { assertBytes, VaultError } from "../errors.ts";
import type { AbortOptions, RootInfo } from "./chain.ts";
import { fileCommitment } from "./commitment.ts";
import { checkRootOnChain, createReceipt, type Receipt } from "./receipt.ts";
import { buildTree, type MerkleTree, verifyInclusion } from "./tree.ts";

/** The chain the vault anchors on (`GET /v1/chain`); `rpc` only for the embedded chain. */
export interface ChainInfo {
  chainId: number;
  contract: string;
  rpc?: string;
}

export type ReceiptCatalog = Pick<Catalog, "getFile" | "leafOf" | "getBatch" | "batchLeaves">;

export type AnchorState = "pending" | "anchored" | "final";

export interface AnchorStatus {
  status: AnchorState;
  /** The contract's batch id. */
  batchId?: number;
  blockNumber?: number;
  txHash?: string;
}

export const EVENT_PROOF_TYPE = "medvault.event-proof/v1";

/** Inclusion of one audit event hash in an anchored batch. Hex as in receipts. */
export interface EventProof {
  type: typeof EVENT_PROOF_TYPE;
  eventId: string;
  /** SHA-256("medvault/audit/v1" ‖ prevEventHash ‖ canonical JSON), lowercase hex. */
  eventHash: string;
  leafIndex: number;
  treeSize: number;
  path: string[];
  root: string;
  batchId: number;
  chainId: number;
  contract: string;
  txHash: string;
  blockNumber: number;
}

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.from(a).equals(Buffer.from(b));
}

// Reads and receipts cluster on recent batches: keep the last few trees per catalog.
const TREE_CACHE_SIZE = 16; // 10,000 leaves: about 0.6 MB a tree
const treeCaches = new WeakMap<object, Map<number, { root: Uint8Array; tree: MerkleTree }>>();

function batchTree(catalog: ReceiptCatalog, batch: Batch): MerkleTree {
  let cache = treeCaches.get(catalog);
  if (cache === undefined) {
    cache = new Map();
    treeCaches.set(catalog, cache);
  }
  const hit = cache.get(batch.id);
  if (hit !== undefined && equalBytes(hit.root, batch.root)) {
    cache.delete(batch.id); // most recently used last
    cache.set(batch.id, hit);
    return hit.tree;
  }
  const leaves = catalog.batchLeaves(batch.id);
  const tree = buildTree(leaves);
  if (leaves.length !== batch.leafCount || !equalBytes(tree.root, batch.root)) {
    throw new VaultError("INTEGRITY_FAILED", `the leaves of batch ${batch.id} do not give its stored root`);
  }
  cache.set(batch.id, { root: batch.root, tree });
  while (cache.size > TREE_CACHE_SIZE) cache.delete(cache.keys().next().value as number);
  return tree;
}

interface Inclusion {
  value: Uint8Array;
  leafIndex: number;
  batch: Batch;
  tree: MerkleTree;
}

/** The anchored batch holding a leaf, or PENDING / NOT_FOUND. */
function inclusionOf(catalog: ReceiptCatalog, kind: LeafKind, ref: string, chain?: ChainInfo): Inclusion {
  const leaf = catalog.leafOf(kind, ref);
  if (leaf === undefined) throw new VaultError("NOT_FOUND", kind === "file" ? "no such file" : "no such audit event");
  const batch = leaf.batchId === null ? undefined : catalog.getBatch(leaf.batchId);
  if (batch === undefined || leaf.leafIndex === null || batch.status === "sealed") {
    throw new VaultError("PENDING", "not anchored yet; retry after the next batch");
  }
  if (chain !== undefined && !onChain(batch, chain)) {
    throw new VaultError("PENDING", "anchored on another chain or contract; waiting to be anchored again");
  }
  return { value: leaf.value, leafIndex: leaf.leafIndex, batch, tree: batchTree(catalog, batch) };
}

function onChain(batch: Batch, chain: ChainInfo): boolean {
  return batch.chainId === chain.chainId && batch.contract?.toLowerCase() === chain.contract.toLowerCase();
}

function anchorFields(batch: Batch) {
  if (batch.chainBatchId === null || batch.chainId === null || batch.contract === null) {
    throw new VaultError("INTERNAL", `batch ${batch.id} is ${batch.status} without chain data`);
  }
  if (batch.txHash === null || batch.blockNumber === null) {
    throw new VaultError("INTERNAL", `batch ${batch.id} is ${batch.status} without its transaction`);
  }
  return {
    batchId: batch.chainBatchId,
    chainId: batch.chainId,
    contract: batch.contract,
    txHash: batch.txHash,
    blockNumber: batch.blockNumber,
  };
}

/**
 * The `medvault.receipt/v1` of an anchored file (issue 4's exact field list). With `chain`, a
 * batch anchored on another chain or contract counts as pending.
 */
export function buildReceipt(catalog: ReceiptCatalog, fileId: string, chain?: ChainInfo): Receipt {
  const file = catalog.getFile(fileId);
  if (file === undefined) throw new VaultError("NOT_FOUND", "no such file");
  if (file.state === "erased" || file.salt === null || file.plaintextSha256 === null) {
    throw new VaultError("GONE", "the file was erased; its salt is destroyed and no receipt can be issued");
  }
  const commitment = fileCommitment({
    salt: file.salt,
    fileId: file.id,
    plaintextSha256: file.plaintextSha256,
    payloadCid: file.payloadCid,
  });
  const inclusion = inclusionOf(catalog, "file", fileId, chain);
  if (!equalBytes(commitment, file.commitment) || !equalBytes(commitment, inclusion.value)) {
    throw new VaultError("INTEGRITY_FAILED", "the file record does not match its anchored commitment");
  }
  return createReceipt({
    fileId: file.id,
    plaintextSha256: file.plaintextSha256,
    payloadCid: file.payloadCid,
    salt: file.salt,
    leafIndex: inclusion.leafIndex,
    treeSize: inclusion.tree.size,
    path: inclusion.tree.proof(inclusion.leafIndex),
    root: inclusion.batch.root,
    ...anchorFields(inclusion.batch),
  });
}

/** Anchoring state of a file (`"file"`, file id) or audit event (`"event"`, event id), for views. */
export function anchorStatus(catalog: Pick<Catalog, "leafOf" | "getBatch">, kind: LeafKind, ref: string): AnchorStatus {
  const leaf = catalog.leafOf(kind, ref);
  if (leaf === undefined) throw new VaultError("NOT_FOUND", kind === "file" ? "no such file" : "no such audit event");
  const batch = leaf.batchId === null ? undefined : catalog.getBatch(leaf.batchId);
  if (batch === undefined || batch.status === "sealed") return { status: "pending" };
  const status: AnchorStatus = { status: batch.status };
  if (batch.chainBatchId !== null) status.batchId = batch.chainBatchId;
  if (batch.blockNumber !== null) status.blockNumber = batch.blockNumber;
  if (batch.txHash !== null) status.txHash = batch.txHash;
  return status;
}

/** The root a leaf is anchored under, or undefined while pending: what a read checks on chain. */
export function anchoredRoot(
  catalog: Pick<Catalog, "leafOf" | "getBatch">,
  kind: LeafKind,
  ref: string,
): { root: Uint8Array; status: "anchored" | "final"; batch: Batch } | undefined {
  const leaf = catalog.leafOf(kind, ref);
  const batch = leaf?.batchId == null ? undefined : catalog.getBatch(leaf.batchId);
  if (batch === undefined || batch.status === "sealed") return undefined;
  return { root: batch.root, status: batch.status, batch };
}

/** Inclusion proof of an audit event in its anchored batch (erasure certificates, the audit API). */
export function eventProof(catalog: ReceiptCatalog, eventId: string, chain?: ChainInfo): EventProof {
  const inclusion = inclusionOf(catalog, "event", eventId, chain);
  return {
    type: EVENT_PROOF_TYPE,
    eventId,
    eventHash: hex(inclusion.value),
    leafIndex: inclusion.leafIndex,
    treeSize: inclusion.tree.size,
    path: inclusion.tree.proof(inclusion.leafIndex).map(hex),
    root: hex(inclusion.batch.root),
    ...anchorFields(inclusion.batch),
  };
}

function fromHex(value: unknown, title: string): Uint8Array {
  if (typeof value !== "string" || !/^(?:0x)?[0-9a-fA-F]{64}$/.test(value)) {
    throw new VaultError("BAD_REQUEST", `${title}: expected 32 bytes of hex`);
  }
  return new Uint8Array(Buffer.from(value.replace(/^0x/, ""), "hex"));
}

/**
 * Checks an event proof without the vault: the path from `eventHash` leads to `root`
 * (BAD_PROOF), then the root on chain as for receipts (WRONG_CHAIN, WRONG_CONTRACT,
 * ROOT_NOT_ON_CHAIN). Pass `eventHash` when you recomputed it from the event yourself.
 */
export async function verifyEventProof(
  input: { proof: unknown; rpcUrl: string; eventHash?: Uint8Array } & AbortOptions,
): Promise<RootInfo> {
  const proof = input.proof as Partial<EventProof> | null;
  if (proof === null || typeof proof !== "object" || proof.type !== EVENT_PROOF_TYPE) {
    throw new VaultError("BAD_REQUEST", `proof: expected a ${EVENT_PROOF_TYPE} object`);
  }
  const eventHash = fromHex(proof.eventHash, "proof.eventHash");
  if (input.eventHash !== undefined && !equalBytes(assertBytes(input.eventHash, 32, "eventHash"), eventHash)) {
    throw new VaultError("HASH_MISMATCH", "the event's hash differs from the proof's");
  }
  const root = fromHex(proof.root, "proof.root");
  const path = Array.isArray(proof.path) ? proof.path.map((p, i) => fromHex(p, `proof.path[${i}]`)) : undefined;
  const { leafIndex, treeSize, chainId, contract, txHash } = proof;
  if (path === undefined || typeof leafIndex !== "number" || typeof treeSize !== "number") {
    throw new VaultError("BAD_REQUEST", "proof: leafIndex, treeSize and path are required");
  }
  if (typeof chainId !== "number" || typeof contract !== "string" || !/^0x[0-9a-fA-F]{40}$/.test(contract)) {
    throw new VaultError("BAD_REQUEST", "proof: chainId and contract are required");
  }
  if (!verifyInclusion(eventHash, leafIndex, treeSize, path, root)) {
    throw new VaultError("BAD_PROOF", "the inclusion path does not lead to the proof's root");
  }
  const claim = { rpcUrl: input.rpcUrl, chainId, contract, root, ...(typeof txHash === "string" ? { txHash } : {}) };
  return checkRootOnChain(claim, input.signal);
}
