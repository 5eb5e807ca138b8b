// @ts-check
/**
 * The page's client of the vault's JSON API (DESIGN.md, "Names that tools rely on"). Every call
 * carries the bearer token in a header, never in a URL; every failure becomes an ApiError with
 * the vault's code (or NETWORK / ABORTED / HTTP), so the views have one thing to show.
 */

import { sentenceFor } from "./messages.js";

/**
 * @typedef {{ status: "pending" | "anchored" | "final", batchId?: number, blockNumber?: number, txHash?: string }} AnchorView
 * @typedef {{ recipient: string, recipientId: string, createdAt: string, expiresAt: string | null, revokedAt: string | null }} GrantView
 * @typedef {{ id: string, name: string | null, size: number, sha256: string | null, cid: string, mediaType: string,
 *   state: "active" | "erased", createdAt: string, expiresAt: string | null, erasedAt: string | null,
 *   anchor: AnchorView, grants: GrantView[] }} FileView
 * @typedef {{ id: string, name: string, role: "uploader" | "recipient" | "privacy" | "admin" }} Me
 * @typedef {{ seq: number, id: string, at: string, actorId: string | null, action: string, fileId: string | null,
 *   outcome: string, detail: Record<string, unknown>, hash: string, anchor: AnchorView }} AuditEvent
 */

export class ApiError extends Error {
  /**
   * @param {string} code
   * @param {number} status
   * @param {string} [detail] the server's message (names the field at fault; never file contents)
   */
  constructor(code, status, detail) {
    super(sentenceFor(code));
    this.name = "ApiError";
    this.code = code;
    this.status = status;
    this.detail = detail ?? "";
  }
}

/**
 * @param {number} status
 * @param {unknown} body
 * @returns {ApiError}
 */
function errorFrom(status, body) {
  const e = /** @type {{ error?: { code?: unknown, message?: unknown } } | null} */ (body)?.error;
  if (typeof e?.code === "string") return new ApiError(e.code, status, typeof e.message === "string" ? e.message : "");
  return new ApiError("HTTP", status, `HTTP ${status}`);
}

/**
 * @param {unknown} error
 * @returns {ApiError}
 */
export function asApiError(error) {
  if (error instanceof ApiError) return error;
  if (error instanceof DOMException && error.name === "AbortError") return new ApiError("ABORTED", 0);
  return new ApiError("NETWORK", 0);
}

/**
 * @param {string} token
 * @param {{ onUnauthorized?: (error: ApiError) => void }} [hooks]
 */
export function createApi(token, hooks = {}) {
  const auth = { authorization: `Bearer ${token}` };

  /** @param {ApiError} error */
  const fail = (error) => {
    if (error.code === "UNAUTHORIZED") hooks.onUnauthorized?.(error);
    return error;
  };

  /**
   * A raw response (for streamed downloads); non-2xx answers throw.
   * @param {string} path
   * @param {{ signal?: AbortSignal }} [options]
   */
  async function raw(path, options = {}) {
    let res;
    try {
      res = await fetch(path, { headers: auth, cache: "no-store", ...(options.signal ? { signal: options.signal } : {}) });
    } catch (error) {
      throw fail(asApiError(error));
    }
    if (!res.ok) throw fail(errorFrom(res.status, await res.json().catch(() => null)));
    return res;
  }

  /**
   * @param {string} method
   * @param {string} path
   * @param {unknown} [body]
   * @returns {Promise<any>}
   */
  async function call(method, path, body) {
    /** @type {Record<string, string>} */
    const headers = { ...auth, accept: "application/json" };
    if (body !== undefined) headers["content-type"] = "application/json";
    let res;
    try {
      res = await fetch(path, { method, headers, cache: "no-store", ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    } catch (error) {
      throw fail(asApiError(error));
    }
    const json = await res.json().catch(() => null);
    if (!res.ok) throw fail(errorFrom(res.status, json));
    return json;
  }

  const file = (/** @type {string} */ id) => `/v1/files/${encodeURIComponent(id)}`;

  return {
    raw,
    /** @returns {Promise<Me>} */
    me: () => call("GET", "/v1/me"),
    /** @returns {Promise<FileView[]>} */
    listFiles: async () => (await call("GET", "/v1/files?limit=1000")).files,
    /** @returns {Promise<FileView>} */
    getFile: (/** @type {string} */ id) => call("GET", file(id)),
    /** @returns {Promise<object>} */
    receipt: (/** @type {string} */ id) => call("GET", `${file(id)}/receipt`),
    /** @returns {Promise<FileView>} */
    grant: (/** @type {string} */ id, /** @type {string} */ recipient, /** @type {string | undefined} */ expiresAt) =>
      call("POST", `${file(id)}/grants`, expiresAt === undefined ? { recipient } : { recipient, expiresAt }),
    /** @returns {Promise<FileView>} */
    revoke: (/** @type {string} */ id, /** @type {string} */ recipient) =>
      call("DELETE", `${file(id)}/grants/${encodeURIComponent(recipient)}`),
    /** @returns {Promise<Record<string, any>>} */
    erase: (/** @type {string} */ id, /** @type {string} */ reason) => call("POST", `${file(id)}/erasure`, { reason }),
    /**
     * @param {{ file?: string, actor?: string, action?: string, after?: number, limit?: number }} query
     * @returns {Promise<AuditEvent[]>}
     */
    audit: async (query) => {
      const q = new URLSearchParams();
      for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== "") q.set(k, String(v));
      return (await call("GET", `/v1/audit?${q}`)).events;
    },
    /** @returns {Promise<{ id: string, name: string, role: string, token: string }>} */
    createPrincipal: (/** @type {{ name: string, role: string, ageRecipient?: string }} */ input) => call("POST", "/v1/principals", input),

    /**
     * A multipart upload through XMLHttpRequest, for its upload progress events. Text fields go
     * before the file part: the vault needs the recipients before the bytes start to flow.
     * @param {File} blob
     * @param {{ recipients: string[], expiresAt?: string }} fields
     * @param {(sentBytes: number, totalBytes: number) => void} onProgress
     * @returns {{ done: Promise<FileView>, abort: () => void }}
     */
    upload(blob, fields, onProgress) {
      const xhr = new XMLHttpRequest();
      const done = new Promise((resolve, reject) => {
        xhr.open("POST", "/v1/files");
        xhr.setRequestHeader("authorization", auth.authorization);
        xhr.responseType = "json";
        xhr.upload.onprogress = (e) => onProgress(e.loaded, e.lengthComputable ? e.total : blob.size);
        xhr.onload = () => (xhr.status === 201 ? resolve(xhr.response) : reject(fail(errorFrom(xhr.status, xhr.response))));
        xhr.onerror = () => reject(fail(new ApiError("NETWORK", 0)));
        xhr.onabort = () => reject(new ApiError("ABORTED", 0));
        const form = new FormData();
        for (const r of fields.recipients) form.append("recipients", r);
        if (fields.expiresAt !== undefined) form.append("expiresAt", fields.expiresAt);
        form.append("file", blob, blob.name);
        xhr.send(form);
      });
      return { done, abort: () => xhr.abort() };
    },
  };
}

/** @typedef {ReturnType<typeof createApi>} Api */
