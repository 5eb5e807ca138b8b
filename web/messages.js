// @ts-check
/**
 * One human sentence per error code: the vault's codes (src/errors.ts, checked by the web test)
 * and the page's own (NETWORK, ABORTED, HASH_MISMATCH_BROWSER, HTTP). The server's message,
 * which names the field at fault, is shown beside the sentence, never instead of it.
 */

/** @type {Readonly<Record<string, string>>} */
export const SENTENCES = Object.freeze({
  // input and access
  BAD_REQUEST: "The vault could not accept this request. Check the fields and try again.",
  UNAUTHORIZED: "This token was not accepted. Check it, or ask your operator for a new one.",
  FORBIDDEN: "Your role does not allow this.",
  NOT_FOUND: "No such file, or it is not shared with you (any more).",
  CONFLICT: "This clashes with what is already stored (for example a name that is taken). Refresh and try again.",
  GONE: "This file was erased: its keys are destroyed, so nobody can read it again.",
  PAYLOAD_TOO_LARGE: "The file is larger than this vault accepts.",
  RATE_LIMITED: "Too many failed sign-ins from this address. Wait a minute, then try again.",
  UNSUPPORTED: "This vault does not offer that yet (anchoring may not be configured).",
  // envelope (age v1)
  ARMOR_FAILURE: "The age file's armor (text encoding) is damaged.",
  HEADER_FAILURE: "The age file's header is damaged or not in the age v1 format.",
  NO_MATCH: "None of the keys given can open this age file.",
  HMAC_FAILURE: "The age file's header was changed after it was written.",
  PAYLOAD_FAILURE: "The age file's content is damaged or truncated.",
  DECRYPTION_FAILED: "The file could not be decrypted.",
  INVALID_KEY: "That is not a valid age key: a recipient starts with age1… or age1pq1….",
  // integrity and anchoring
  REPLICATION_FAILED: "Too few vault nodes could confirm a copy of this upload, so it was not stored. Try again shortly.",
  BLOCKS_UNAVAILABLE: "The vault nodes holding this file cannot be reached right now. Try again shortly, or tell your operator.",
  INTEGRITY_FAILED:
    "The stored file failed its integrity check, so the vault refused it. The event is in the audit trail; tell your operator.",
  HASH_MISMATCH: "The file's SHA-256 does not match its receipt.",
  BAD_PROOF: "The receipt's inclusion proof does not lead to its anchored root.",
  ROOT_NOT_ON_CHAIN: "The receipt's root is not on the chain.",
  WRONG_CHAIN: "The receipt names another chain than the one asked.",
  WRONG_CONTRACT: "The receipt names another anchoring contract than the one asked.",
  CHAIN_UNAVAILABLE: "The anchoring chain cannot be reached right now. Uploads go on; anchoring resumes when it is back.",
  PENDING: "Not anchored yet: the receipt is ready once the file's batch is on chain, usually within seconds.",
  // everything else
  IO_ERROR: "The vault had a storage error. Try again; if it persists, tell your operator.",
  INTERNAL: "Something went wrong inside the vault. Try again later.",
  // the page's own
  NETWORK: "The vault cannot be reached. Check the connection and try again.",
  ABORTED: "Cancelled.",
  HASH_MISMATCH_BROWSER:
    "The bytes received do not match the file's SHA-256, so nothing was saved. Try again; if it persists, tell your operator.",
  HTTP: "The vault gave an answer this page does not understand.",
});

/**
 * @param {string} code
 * @returns {string}
 */
export function sentenceFor(code) {
  return SENTENCES[code] ?? SENTENCES.HTTP ?? "";
}
