/** The one place error codes become HTTP statuses (STYLE.md "Errors"). */

import type { ErrorCode } from "../errors.ts";

export const STATUS: Record<ErrorCode, number> = {
  BAD_REQUEST: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  CONFLICT: 409,
  // A receipt asked for before the file's batch is on chain.
  PENDING: 409,
  GONE: 410,
  PAYLOAD_TOO_LARGE: 413,
  RATE_LIMITED: 429,
  UNSUPPORTED: 415,
  ARMOR_FAILURE: 400,
  HEADER_FAILURE: 400,
  NO_MATCH: 400,
  HMAC_FAILURE: 400,
  PAYLOAD_FAILURE: 400,
  DECRYPTION_FAILED: 400,
  INVALID_KEY: 400,
  // The stored file failed verification: the server cannot serve it, the request was fine.
  INTEGRITY_FAILED: 500,
  HASH_MISMATCH: 422,
  BAD_PROOF: 422,
  ROOT_NOT_ON_CHAIN: 422,
  WRONG_CHAIN: 422,
  WRONG_CONTRACT: 422,
  CHAIN_UNAVAILABLE: 503,
  // Too few swarm nodes confirmed a replica: the upload was not stored; retry later.
  REPLICATION_FAILED: 503,
  // A committed file whose blocks no reachable node holds (the holders are down): retry later.
  BLOCKS_UNAVAILABLE: 503,
  IO_ERROR: 500,
  INTERNAL: 500,
};
