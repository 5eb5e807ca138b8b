/**
 * Receipts: one self-contained JSON per file that anyone holding the file can check against
 * any JSON-RPC endpoint of the chain, without the vault (issue 4, DESIGN.md "Integrity and
 * anchoring").
 *
 * Encoding: byte strings of our own (plaintextSha256, salt, commitment, path, root) are
 * lowercase hex without prefix, as sha256sum prints them; Ethereum values (contract, txHash,
 * blockHash) keep their usual 0x form. `parseReceipt` also accepts a 0x prefix and upper case
 * on our byte strings; `createReceipt` always writes the canonical form.
 *
 * Verification order and codes (each failure names what failed, never the file's content):
 *   1. SHA-256 of the file ≠ receipt.plaintextSha256              HASH_MISMATCH (not this file)
 *   2. commitment ≠ HMAC(salt, fileId, sha256, CID)               BAD_PROOF (receipt inconsistent)
 *   3. leaf SHA-256(0x00 ‖ commitment) does not path up to root   BAD_PROOF
 *   4. RPC chain id ≠ receipt.chainId                             WRONG_CHAIN
 *   5. no code at receipt.contract, or not a VaultAnchor          WRONG_CONTRACT
 *   6. roots(root) is zero                                        ROOT_NOT_ON_CHAIN, or WRONG_CONTRACT
 *      when receipt.txHash shows that root anchored by another contract
 * The chain's own (batchId, blockNumber, timestamp) for the root is returned: after a lost
 * dev-chain state the same root may have been anchored again under new batch data, and the
 * receipt still proves the file.
 */

import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { getAddress } from "ethers";
import { CID } from "multiformats/cid";
import { assertBytes, isVaultError, VaultError } from "../errors.ts";
import {
  type AbortOptions,
  assertVaultAnchor,
  chainError,
  createProvider,
  fetchChainId,
  type RootInfo,
  readRootInfo,
  vaultAnchorInterface,
} from "./chain.ts";
import { fileCommitment } from "./commitment.ts";
import { verifyInclusion } from "./tree.ts";

export const RECEIPT_TYPE = "medvault.receipt/v1";

export interface Receipt {
  type: typeof RECEIPT_TYPE;
  fileId: string;
  plaintextSha256: string;
  payloadCid: string;
  salt: string;
  commitment: string;
  leafIndex: number;
  treeSize: number;
  path: string[];
  root: string;
  batchId: number;
  chainId: number;
  contract: string;
  txHash: string;
  blockNumber: number;
  /** DESIGN.md lists the block hash, issue 4's exact list does not: optional, shape-checked only. */
  blockHash?: string;
}

const MAX_FILE_ID_CHARS = 1024;
const MAX_PATH_LENGTH = 64;
const MAX_TREE_SIZE = 0xffff_ffff; // the contract's uint32 leafCount

const KEYS = new Set([
  "type",
  "fileId",
  "plaintextSha256",
  "payloadCid",
  "salt",
  "commitment",
  "leafIndex",
  "treeSize",
  "path",
  "root",
  "batchId",
  "chainId",
  "contract",
  "txHash",
  "blockNumber",
  "blockHash",
]);

function bad(field: string, expected: string): never {
  throw new VaultError("BAD_REQUEST", `receipt.${field}: expected ${expected}`);
}

function hex32(value: unknown, field: string): string {
  if (typeof value !== "string") bad(field, "a string");
  const match = /^(?:0x)?([0-9a-fA-F]{64})$/.exec(value);
  if (match === null) bad(field, "32 bytes of hex");
  return (match[1] as string).toLowerCase();
}

function uint(value: unknown, field: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min || value > max) {
    bad(field, `an integer in ${min}..${max}`);
  }
  return value;
}

function ethHash(value: unknown, field: string): string {
  if (typeof value !== "string" || !/^0x[0-9a-fA-F]{64}$/.test(value)) bad(field, "0x and 32 bytes of hex");
  return value.toLowerCase();
}

/**
 * Strict shape check of a receipt, from JSON text or an already parsed value: every field
 * present with its type, no unknown field, values in range. BAD_REQUEST otherwise. Returns the
 * receipt in canonical form.
 */
export function parseReceipt(json: unknown): Receipt {
  let value = json;
  if (typeof json === "string") {
    try {
      value = JSON.parse(json);
    } catch (cause) {
      throw new VaultError("BAD_REQUEST", "receipt: not JSON", { cause });
    }
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) bad("", "a JSON object");
  const r = value as Record<string, unknown>;
  for (const key of Object.keys(r)) if (!KEYS.has(key)) bad(key, "no such field");
  if (r.type !== RECEIPT_TYPE) bad("type", `"${RECEIPT_TYPE}"`);

  const fileId = r.fileId;
  if (typeof fileId !== "string" || fileId.length === 0 || fileId.length > MAX_FILE_ID_CHARS) {
    bad("fileId", `a string of 1..${MAX_FILE_ID_CHARS} characters`);
  }
  if (fileId.includes("\u0000") || !fileId.isWellFormed()) bad("fileId", "no NUL or lone surrogate");

  const payloadCid = r.payloadCid;
  if (typeof payloadCid !== "string") bad("payloadCid", "a CID string");
  try {
    CID.parse(payloadCid);
  } catch {
    bad("payloadCid", "a CID string");
  }

  const treeSize = uint(r.treeSize, "treeSize", 1, MAX_TREE_SIZE);
  const leafIndex = uint(r.leafIndex, "leafIndex", 0, treeSize - 1);
  if (!Array.isArray(r.path) || r.path.length > MAX_PATH_LENGTH) bad("path", `an array of at most ${MAX_PATH_LENGTH}`);
  const path = r.path.map((p: unknown, i) => hex32(p, `path[${i}]`));

  let contract: string;
  if (typeof r.contract !== "string" || !/^0x[0-9a-fA-F]{40}$/.test(r.contract)) bad("contract", "a 0x address");
  try {
    contract = getAddress(r.contract); // rejects a mixed-case address with a wrong checksum
  } catch {
    bad("contract", "an address with a valid EIP-55 checksum");
  }

  const receipt: Receipt = {
    type: RECEIPT_TYPE,
    fileId,
    plaintextSha256: hex32(r.plaintextSha256, "plaintextSha256"),
    payloadCid,
    salt: hex32(r.salt, "salt"),
    commitment: hex32(r.commitment, "commitment"),
    leafIndex,
    treeSize,
    path,
    root: hex32(r.root, "root"),
    batchId: uint(r.batchId, "batchId", 1),
    chainId: uint(r.chainId, "chainId", 1),
    contract,
    txHash: ethHash(r.txHash, "txHash"),
    blockNumber: uint(r.blockNumber, "blockNumber", 1),
  };
  if (r.blockHash !== undefined) receipt.blockHash = ethHash(r.blockHash, "blockHash");
  return receipt;
}

export interface CreateReceiptInput {
  fileId: string;
  plaintextSha256: Uint8Array;
  payloadCid: string;
  salt: Uint8Array;
  leafIndex: number;
  treeSize: number;
  path: readonly Uint8Array[];
  root: Uint8Array;
  batchId: number;
  chainId: number;
  contract: string;
  txHash: string;
  blockNumber: number;
  blockHash?: string;
}

/** The canonical receipt of an anchored file; the commitment is computed here. */
export function createReceipt(input: CreateReceiptInput): Receipt {
  const commitment = fileCommitment(input);
  const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");
  const draft: Record<string, unknown> = {
    type: RECEIPT_TYPE,
    fileId: input.fileId,
    plaintextSha256: hex(input.plaintextSha256),
    payloadCid: input.payloadCid,
    salt: hex(input.salt),
    commitment: hex(commitment),
    leafIndex: input.leafIndex,
    treeSize: input.treeSize,
    path: input.path.map((p) => hex(assertBytes(p, 32, "path element"))),
    root: hex(assertBytes(input.root, 32, "root")),
    batchId: input.batchId,
    chainId: input.chainId,
    contract: input.contract,
    txHash: input.txHash,
    blockNumber: input.blockNumber,
  };
  if (input.blockHash !== undefined) draft.blockHash = input.blockHash;
  return parseReceipt(draft);
}

export interface VerifyReceiptInput extends AbortOptions {
  /** SHA-256 of the file in hand (see `sha256File`). */
  plaintextSha256: Uint8Array;
  /** A Receipt, or the parsed JSON of one: it is checked with `parseReceipt` first. */
  receipt: unknown;
  rpcUrl: string;
}

export type VerifiedReceipt = RootInfo;

const fromHex = (hex: string) => new Uint8Array(Buffer.from(hex, "hex"));

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= (a[i] as number) ^ (b[i] as number);
  return diff === 0;
}

export async function verifyReceipt(input: VerifyReceiptInput): Promise<VerifiedReceipt> {
  const receipt = parseReceipt(input.receipt);
  const signal = input.signal;
  const sha = assertBytes(input.plaintextSha256, 32, "plaintextSha256");

  if (!equalBytes(sha, fromHex(receipt.plaintextSha256))) {
    throw new VaultError("HASH_MISMATCH", "the file's SHA-256 differs from the receipt's");
  }
  const commitment = fileCommitment({
    salt: fromHex(receipt.salt),
    fileId: receipt.fileId,
    plaintextSha256: sha,
    payloadCid: receipt.payloadCid,
  });
  if (!equalBytes(commitment, fromHex(receipt.commitment))) {
    throw new VaultError("BAD_PROOF", "the receipt's commitment does not match its salt, file id, hash and CID");
  }
  const root = fromHex(receipt.root);
  if (!verifyInclusion(commitment, receipt.leafIndex, receipt.treeSize, receipt.path.map(fromHex), root)) {
    throw new VaultError("BAD_PROOF", "the inclusion path does not lead to the receipt's root");
  }

  return checkRootOnChain(
    { rpcUrl: input.rpcUrl, chainId: receipt.chainId, contract: receipt.contract, root, txHash: receipt.txHash },
    signal,
  );
}

export interface RootClaim {
  rpcUrl: string;
  chainId: number;
  /** 0x address, EIP-55 checksummed or lower case. */
  contract: string;
  root: Uint8Array;
  /** The anchoring transaction named by the receipt or proof (only to tell WRONG_CONTRACT apart). */
  txHash?: string;
}

/**
 * Steps 4 to 6 above, shared by receipts and audit event proofs: the RPC serves `chainId`
 * (WRONG_CHAIN), `contract` is a VaultAnchor (WRONG_CONTRACT) and knows `root`
 * (ROOT_NOT_ON_CHAIN). Returns where the chain says the root is anchored.
 */
export async function checkRootOnChain(claim: RootClaim, signal?: AbortSignal): Promise<RootInfo> {
  const chainId = await fetchChainId(claim.rpcUrl, signal ? { signal } : {});
  if (chainId !== claim.chainId) {
    throw new VaultError("WRONG_CHAIN", `the RPC endpoint serves chain ${chainId}, the receipt names ${claim.chainId}`);
  }
  const provider = createProvider(claim.rpcUrl, chainId);
  try {
    const opts = signal ? { signal } : {};
    await assertVaultAnchor(provider, claim.contract, opts);
    const info = await readRootInfo(provider, claim.contract, claim.root, opts);
    if (info !== null) return info;
    if (claim.txHash !== undefined && (await anchoredElsewhere(claim, provider))) {
      throw new VaultError("WRONG_CONTRACT", "the receipt's transaction anchored this root in another contract");
    }
    throw new VaultError("ROOT_NOT_ON_CHAIN", "the root is not anchored in the receipt's contract");
  } catch (error) {
    throw chainError(error, "verify", signal);
  } finally {
    provider.destroy();
  }
}

/** Did claim.txHash emit BatchAnchored(root) from an address other than claim.contract? */
async function anchoredElsewhere(claim: RootClaim, provider: ReturnType<typeof createProvider>): Promise<boolean> {
  try {
    const tx = await provider.getTransactionReceipt(claim.txHash as string);
    if (tx === null) return false;
    const topic = vaultAnchorInterface.getEvent("BatchAnchored")?.topicHash;
    const root = `0x${Buffer.from(claim.root).toString("hex")}`;
    const contract = getAddress(claim.contract);
    return tx.logs.some((log) => log.topics[0] === topic && log.topics[2]?.toLowerCase() === root && getAddress(log.address) !== contract);
  } catch (error) {
    if (isVaultError(error)) throw error;
    return false; // only a diagnostic refinement: fall back to ROOT_NOT_ON_CHAIN
  }
}

/** Streamed SHA-256 of a file on disk (for `medvault verify FILE`). */
export async function sha256File(path: string, options: AbortOptions = {}): Promise<Uint8Array> {
  const hash = createHash("sha256");
  try {
    const stream = createReadStream(path, {
      highWaterMark: 1 << 20,
      ...(options.signal ? { signal: options.signal } : {}),
    });
    for await (const chunk of stream) hash.update(chunk as Buffer);
  } catch (error) {
    if (options.signal?.aborted) throw options.signal.reason;
    const code = (error as { code?: unknown }).code;
    // The path may name a patient: keep it out of the message.
    if (code === "ENOENT") throw new VaultError("NOT_FOUND", "file not found", { cause: error });
    throw new VaultError("IO_ERROR", "could not read the file", { cause: error });
  }
  return new Uint8Array(hash.digest());
}
