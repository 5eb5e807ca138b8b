/**
 * The salted per-file commitment that enters the Merkle tree (DESIGN.md, "Integrity and
 * anchoring"; exact, outside verifiers recompute it):
 *
 *   commitment = HMAC-SHA-256(key = salt,
 *                  "medvault/file/v1" ‖ 0x00 ‖ fileId (UTF-8) ‖ 0x00 ‖ plaintextSha256 (32 bytes) ‖ CID bytes)
 *
 * The salt keeps a dictionary of known documents from matching leaves on chain; once it is
 * destroyed (crypto-shredding) nothing links the leaf to the document. fileId may not contain
 * NUL (its terminator) or lone surrogates (which UTF-8 cannot carry), so the encoding is
 * unambiguous; the CID is the last field and self-delimiting.
 */

import { createHmac } from "node:crypto";
import { CID } from "multiformats/cid";
import { assertBytes, VaultError } from "../errors.ts";

export const COMMITMENT_DOMAIN = "medvault/file/v1";
export const SALT_BYTES = 32;
export const SHA256_BYTES = 32;

export interface FileCommitmentInput {
  salt: Uint8Array;
  fileId: string;
  plaintextSha256: Uint8Array;
  /** CID string as stored in the catalog (any multibase CID.parse understands). */
  payloadCid: string;
}

/** HMAC-SHA-256 commitment to one file, 32 bytes. */
export function fileCommitment(input: FileCommitmentInput): Uint8Array {
  const salt = assertBytes(input.salt, SALT_BYTES, "salt");
  const sha = assertBytes(input.plaintextSha256, SHA256_BYTES, "plaintextSha256");
  const fileId = checkFileId(input.fileId);
  const cid = cidBytes(input.payloadCid);
  const mac = createHmac("sha256", salt)
    .update(COMMITMENT_DOMAIN, "utf8")
    .update(ZERO)
    .update(fileId, "utf8")
    .update(ZERO)
    .update(sha)
    .update(cid)
    .digest();
  return new Uint8Array(mac);
}

const ZERO = new Uint8Array(1);

function checkFileId(fileId: unknown): string {
  if (typeof fileId !== "string" || fileId.length === 0) {
    throw new VaultError("BAD_REQUEST", "fileId: expected a non-empty string");
  }
  if (fileId.includes("\u0000") || !fileId.isWellFormed()) {
    throw new VaultError("BAD_REQUEST", "fileId: NUL characters and lone surrogates are not allowed");
  }
  return fileId;
}

/** Binary CID (version, codec, multihash) of a CID string; BAD_REQUEST if it is not one. */
export function cidBytes(payloadCid: string): Uint8Array {
  if (typeof payloadCid !== "string" || payloadCid.length === 0) {
    throw new VaultError("BAD_REQUEST", "payloadCid: expected a CID string");
  }
  try {
    return CID.parse(payloadCid).bytes;
  } catch (cause) {
    throw new VaultError("BAD_REQUEST", "payloadCid: not a valid CID", { cause });
  }
}
