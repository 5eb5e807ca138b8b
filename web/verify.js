// @ts-check
/**
 * "Download verified": the vault verifies before it sends (blocks against their CIDs, every
 * STREAM chunk's tag, SHA-256, the commitment, the root on chain: `X-Medvault-Verified`), and
 * this page checks again what it received: SHA-256 of the bytes (WebCrypto) against the
 * `Repr-Digest` header (RFC 9530) and against the sha256 listed for the file, and the byte count.
 * Only bytes that pass are saved.
 *
 * crypto.subtle has no streaming digest, so the received file is held as a Blob (which the
 * browser may keep on disk) and hashed at the end; multi-gigabyte recordings are better fetched
 * with `medvault download`, which streams and checks the receipt too.
 */

import { ApiError } from "./api.js";
import { toBase64, toHex } from "./format.js";

/** What the vault's own checks mean, in the order they run. */
export const SERVER_CHECKS = /** @type {const} */ ([
  ["blocks", "Blocks match their content identifiers (IPFS CIDs)"],
  ["chunks", "Every 64 KiB encrypted chunk passed its authentication tag"],
  ["sha256", "SHA-256 of the plaintext matches the vault's record"],
  ["commitment", "The salted commitment matches the record"],
  ["chain", "The batch root is on the anchoring chain"],
]);

/**
 * @typedef {{ label: string, ok: boolean | null, note?: string }} Check
 * @typedef {{ blob: Blob, sha256: string, bytes: number, checks: Check[], ok: boolean }} Verified
 */

/**
 * Reads a response body into a Blob, reporting progress.
 * @param {Response} res
 * @param {(received: number, total: number) => void} onProgress
 */
export async function readAll(res, onProgress) {
  const total = Number(res.headers.get("content-length") ?? Number.NaN);
  /** @type {BlobPart[]} */
  const parts = [];
  let received = 0;
  if (res.body === null) return { blob: new Blob([]), received };
  const reader = res.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    parts.push(value);
    received += value.length;
    onProgress(received, total);
  }
  return { blob: new Blob(parts, { type: res.headers.get("content-type") ?? "application/octet-stream" }), received };
}

/** `sha-256=:BASE64:` from a Repr-Digest header, or undefined. */
function reprSha256(/** @type {string | null} */ header) {
  return header === null ? undefined : /(?:^|,)\s*sha-256=:([A-Za-z0-9+/=]+):/.exec(header)?.[1];
}

/**
 * @param {import("./api.js").Api} api
 * @param {import("./api.js").FileView} file
 * @param {(received: number, total: number) => void} onProgress
 * @param {AbortSignal} [signal]
 * @returns {Promise<Verified>}
 */
export async function downloadVerified(api, file, onProgress, signal) {
  const res = await api.raw(`/v1/files/${encodeURIComponent(file.id)}/content`, signal ? { signal } : {});
  const claimed = new Set(
    (res.headers.get("x-medvault-verified") ?? "")
      .split(",")
      .map((s) => s.trim())
      .filter((s) => s !== ""),
  );
  const repr = reprSha256(res.headers.get("repr-digest"));
  const { blob, received } = await readAll(res, onProgress);
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", await blob.arrayBuffer()));
  const hex = toHex(digest);

  /** @type {Check[]} */
  const checks = SERVER_CHECKS.map(([key, label]) => {
    if (key === "chain" && file.anchor.status === "pending")
      return { label, ok: null, note: "not anchored yet, so there is no root on chain to check" };
    return { label: `${label} (vault)`, ok: claimed.has(key) };
  });
  const browser = [
    { label: `${received.toLocaleString("en")} bytes received, as listed`, ok: received === file.size },
    { label: "SHA-256 computed in this browser matches the Repr-Digest header", ok: repr !== undefined && repr === toBase64(digest) },
    { label: "SHA-256 computed in this browser matches the file's listed sha256", ok: file.sha256 === hex },
  ];
  const ok = browser.every((c) => c.ok);
  return { blob, sha256: hex, bytes: received, checks: [...checks, ...browser], ok };
}

/**
 * The age file (header for this recipient ‖ payload), to decrypt locally with any age tool.
 * @param {import("./api.js").Api} api
 * @param {string} id
 * @param {(received: number, total: number) => void} onProgress
 */
export async function downloadAge(api, id, onProgress) {
  const res = await api.raw(`/v1/files/${encodeURIComponent(id)}/age`);
  const { blob, received } = await readAll(res, onProgress);
  const expected = Number(res.headers.get("content-length") ?? received);
  if (received !== expected) throw new ApiError("NETWORK", 0, "the download was cut short");
  return blob;
}
