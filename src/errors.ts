/**
 * The one error type of medvault. Every failure that a user can meet carries a literal `code`;
 * `http/status.ts` maps codes to HTTP statuses and the CLI prints `code: message`.
 * Messages never contain plaintext, keys, tokens or patient identifiers.
 */

export type ErrorCode =
  // input and access
  | "BAD_REQUEST"
  | "UNAUTHORIZED"
  | "FORBIDDEN"
  | "NOT_FOUND"
  | "CONFLICT"
  | "GONE"
  | "PAYLOAD_TOO_LARGE"
  | "RATE_LIMITED"
  | "UNSUPPORTED"
  // envelope (age v1)
  | "ARMOR_FAILURE"
  | "HEADER_FAILURE"
  | "NO_MATCH"
  | "HMAC_FAILURE"
  | "PAYLOAD_FAILURE"
  | "DECRYPTION_FAILED"
  | "INVALID_KEY"
  // integrity and anchoring
  | "INTEGRITY_FAILED"
  | "HASH_MISMATCH"
  | "BAD_PROOF"
  | "ROOT_NOT_ON_CHAIN"
  | "WRONG_CHAIN"
  | "WRONG_CONTRACT"
  | "CHAIN_UNAVAILABLE"
  /** Not anchored yet (receipt or proof asked for too early): HTTP 409, retry later. */
  | "PENDING"
  // replication (private swarm)
  /** Fewer nodes than MEDVAULT_REPLICATION confirmed an upload: HTTP 503, retry later. */
  | "REPLICATION_FAILED"
  /** A committed file's blocks are neither here nor sent by any swarm peer in time: HTTP 503. */
  | "BLOCKS_UNAVAILABLE"
  // everything else
  | "IO_ERROR"
  | "INTERNAL";

export class VaultError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    // `name` follows the class, so subclasses cannot drift from it.
    this.name = new.target.name;
  }
}

export function isVaultError(error: unknown, code?: ErrorCode): error is VaultError {
  return error instanceof VaultError && (code === undefined || error.code === code);
}

/** Labelled boundary check, in the spirit of noble's `abytes(value, length, title)`. */
export function assertBytes(value: unknown, length: number | undefined, title: string): Uint8Array {
  if (!(value instanceof Uint8Array)) throw new VaultError("BAD_REQUEST", `${title}: expected bytes`);
  if (length !== undefined && value.length !== length) {
    throw new VaultError("BAD_REQUEST", `${title}: expected ${length} bytes, got ${value.length}`);
  }
  return value;
}
