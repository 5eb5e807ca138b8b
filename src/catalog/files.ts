/**
 * File records: the upload commit, reads and listings, and erasure (crypto-shredding).
 *
 * `commitUpload` is the upload's acknowledgement: one transaction writes the file row, the
 * vault's header, a header and a grant per recipient, the `file.upload` audit event (with its
 * leaf) and the file's commitment leaf. Either all of it is durable (synchronous = FULL) or none.
 *
 * `eraseFile` destroys every copy of the file key the vault holds: one transaction deletes all
 * of the file's headers and its salt (and clears its name and plaintext SHA-256, so nothing in
 * the catalog links the erased record to a known document), revokes the grants and audits
 * `file.erase`; then a TRUNCATE checkpoint copies the zeroed pages (secure_delete) into the
 * main file and empties the WAL, so the old bytes are gone from every database file.
 */

import { VaultError } from "../errors.ts";
import { type Audit, type AuditDetail, type AuditEvent, checkDetail } from "./audit.ts";
import { checkBytes, checkInt, checkOptionalDate, checkPattern, checkText } from "./check.ts";
import { blob, blobOrNull, type Db, int, type Row, text, textOrNull } from "./db.ts";
import { checkHeader, requireActiveFile, writeGrant } from "./grants.ts";
import { isId } from "./ids.ts";

export type FileState = "active" | "erased";

export interface FileRecord {
  id: string;
  ownerId: string;
  /** The uploader's file name: metadata only, never a path. Null after erasure. */
  name: string | null;
  mediaType: string;
  size: number;
  /** SHA-256 of the plaintext; null after erasure. */
  plaintextSha256: Uint8Array | null;
  payloadCid: string;
  /** 32 random bytes keying the commitment; null after erasure. */
  salt: Uint8Array | null;
  /** HMAC-SHA-256(salt, "medvault/file/v1" ‖ 0 ‖ id ‖ 0 ‖ sha256 ‖ CID bytes), DESIGN.md. */
  commitment: Uint8Array;
  state: FileState;
  createdAt: string;
  expiresAt: string | null;
  erasedAt: string | null;
}

export interface NewFile {
  /** From `newFileId()`: the commitment binds it, so it exists before the commit. */
  id: string;
  ownerId: string;
  name: string;
  mediaType: string;
  size: number;
  plaintextSha256: Uint8Array;
  payloadCid: string;
  salt: Uint8Array;
  commitment: Uint8Array;
  /** Default expiry of the recipients' grants. */
  expiresAt?: Date;
}

export interface RecipientHeader {
  principalId: string;
  /** The age header wrapping the file key for this recipient. */
  header: Uint8Array;
  /** Grant expiry; defaults to `file.expiresAt`. */
  expiresAt?: Date;
}

export interface CommitUploadInput {
  file: NewFile;
  /** The age header for the vault's own identity. */
  vaultHeader: Uint8Array;
  recipients: readonly RecipientHeader[];
  actorId: string;
  /** Extra audit detail (no names, keys or tokens); size, media type and recipients are added. */
  detail?: AuditDetail;
}

export interface ListFilesQuery {
  /** Only files this principal uploaded. */
  ownerId?: string;
  /** Only files this principal holds a grant for that is in force at `now`. */
  recipientId?: string;
  /** Include erased files (default false). */
  includeErased?: boolean;
  /** Time for grant expiry; default the catalog's clock. */
  now?: Date;
  /** Paging: files after this id, in upload order. */
  afterId?: string;
  /** 1..10,000; default 1,000. */
  limit?: number;
}

export interface Erasure {
  fileId: string;
  erasedAt: string;
  /** The payload to unpin and collect. */
  payloadCid: string;
  destroyed: {
    /** Headers deleted (vault and recipients): every wrapped copy of the file key. */
    headers: number;
    salt: true;
    name: true;
    plaintextSha256: true;
    /** Grants revoked by the erasure (those not already revoked). */
    grants: number;
  };
  event: AuditEvent;
  /** Whether the WAL was checkpointed and emptied; false only if another reader held it. */
  walTruncated: boolean;
}

export interface Files {
  /** Commits an upload (see the module header). CONFLICT if the id exists. */
  commitUpload(input: CommitUploadInput): FileRecord;
  getFile(id: string): FileRecord | undefined;
  /** Files in upload order; `ownerId` and `recipientId` combine with AND. */
  listFiles(query?: ListFilesQuery): FileRecord[];
  /** A stored age header: holder is `"vault"` or a principal id. Check the grant first. */
  header(fileId: string, holder: string): Uint8Array | undefined;
  /** Payload CIDs of active files; anything else pinned is garbage from an uncommitted upload. */
  referencedCids(): string[];
  /** Crypto-shreds a file (see the module header). NOT_FOUND if unknown, GONE if already erased. */
  eraseFile(input: { fileId: string; actorId: string; reason: string }): Erasure;
}

export const VAULT_HOLDER = "vault";

/** How long an erasure waits for another connection's reader before reporting `walTruncated: false`. */
const ERASURE_CHECKPOINT_WAIT_MS = 200;

const MEDIA_TYPE_PATTERN = /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$/;
const CID_PATTERN = /^[A-Za-z0-9]{8,256}$/;

export function createFiles(db: Db, audit: Audit): Files {
  function getFile(id: string): FileRecord | undefined {
    const row = db.get("SELECT * FROM files WHERE id = ?", id);
    return row === undefined ? undefined : toFile(row);
  }

  function commitUpload(input: CommitUploadInput): FileRecord {
    const { file } = input;
    if (!isId(file.id, "f")) throw new VaultError("BAD_REQUEST", "file.id: expected an id from newFileId()");
    const name = checkText(file.name, "file.name", 1024);
    const mediaType = checkPattern(file.mediaType, "file.mediaType", MEDIA_TYPE_PATTERN);
    const size = checkInt(file.size, "file.size");
    const plaintextSha256 = checkBytes(file.plaintextSha256, 32, "file.plaintextSha256");
    const payloadCid = checkPattern(file.payloadCid, "file.payloadCid", CID_PATTERN);
    const salt = checkBytes(file.salt, 32, "file.salt");
    const commitment = checkBytes(file.commitment, 32, "file.commitment");
    const expiresAt = checkOptionalDate(file.expiresAt, "file.expiresAt");
    const vaultHeader = checkHeader(input.vaultHeader, "vaultHeader");
    const recipients = input.recipients.map((recipient, i) => ({
      principalId: checkText(recipient.principalId, `recipients[${i}].principalId`, 128),
      header: checkHeader(recipient.header, `recipients[${i}].header`),
      expiresAt: recipient.expiresAt === undefined ? expiresAt : checkOptionalDate(recipient.expiresAt, `recipients[${i}].expiresAt`),
    }));
    const recipientIds = recipients.map((recipient) => recipient.principalId);
    if (new Set(recipientIds).size !== recipientIds.length) {
      throw new VaultError("BAD_REQUEST", "recipients: listed twice");
    }
    const detail = checkDetail({ ...input.detail, size, mediaType, recipients: recipientIds });

    return db.transaction(() => {
      if (db.get("SELECT 1 FROM files WHERE id = ?", file.id) !== undefined) {
        throw new VaultError("CONFLICT", "a file with this id exists");
      }
      if (db.get("SELECT 1 FROM principals WHERE id = ?", file.ownerId) === undefined) {
        throw new VaultError("BAD_REQUEST", "file.ownerId: unknown principal");
      }
      const createdAt = db.nowIso();
      db.run(
        `INSERT INTO files (id, owner_id, name, media_type, size, plaintext_sha256, payload_cid, salt,
           commitment, state, created_at, expires_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'active', ?, ?)`,
        file.id,
        file.ownerId,
        name,
        mediaType,
        size,
        plaintextSha256,
        payloadCid,
        salt,
        commitment,
        createdAt,
        expiresAt,
      );
      db.run("INSERT INTO headers (file_id, holder, header) VALUES (?, ?, ?)", file.id, VAULT_HOLDER, vaultHeader);
      for (const recipient of recipients) {
        writeGrant(db, { fileId: file.id, grantedBy: input.actorId, createdAt, ...recipient });
      }
      db.run("INSERT INTO leaves (kind, ref, value) VALUES ('file', ?, ?)", file.id, commitment);
      audit.appendEvent({
        actorId: input.actorId,
        action: "file.upload",
        fileId: file.id,
        outcome: "ok",
        detail,
      });
      // Read back what was stored: plain Uint8Arrays, no aliasing of the caller's buffers.
      const stored = getFile(file.id);
      if (stored === undefined) throw new VaultError("INTERNAL", "catalog: file vanished");
      return stored;
    });
  }

  function listFiles(query: ListFilesQuery = {}): FileRecord[] {
    const joins: string[] = [];
    const where: string[] = [];
    const params: (string | number)[] = [];
    if (query.recipientId !== undefined) {
      joins.push(
        `JOIN grants g ON g.file_id = f.id AND g.principal_id = ? AND g.revoked_at IS NULL
           AND (g.expires_at IS NULL OR g.expires_at > ?)`,
      );
      params.push(query.recipientId, query.now === undefined ? db.nowIso() : query.now.toISOString());
    }
    if (query.ownerId !== undefined) {
      where.push("f.owner_id = ?");
      params.push(query.ownerId);
    }
    if (query.includeErased !== true) where.push("f.state = 'active'");
    if (query.afterId !== undefined) {
      where.push("f.rowid > coalesce((SELECT rowid FROM files WHERE id = ?), 0)");
      params.push(query.afterId);
    }
    const limit = checkInt(query.limit ?? 1000, "limit", 1, 10_000);
    const sql = `SELECT f.* FROM files f ${joins.join(" ")} ${where.length > 0 ? `WHERE ${where.join(" AND ")}` : ""}
      ORDER BY f.rowid LIMIT ?`;
    return db.all(sql, ...params, limit).map(toFile);
  }

  function eraseFile(input: { fileId: string; actorId: string; reason: string }): Omit<Erasure, "walTruncated"> {
    const reason = checkText(input.reason, "reason", 1000);
    return db.transaction(() => {
      requireActiveFile(db, input.fileId);
      const file = getFile(input.fileId);
      if (file === undefined) throw new VaultError("NOT_FOUND", "no such file");
      const erasedAt = db.nowIso();
      const headers = db.run("DELETE FROM headers WHERE file_id = ?", input.fileId);
      const grants = db.run("UPDATE grants SET revoked_at = ? WHERE file_id = ? AND revoked_at IS NULL", erasedAt, input.fileId);
      db.run(
        `UPDATE files SET salt = NULL, name = NULL, plaintext_sha256 = NULL, state = 'erased', erased_at = ?
         WHERE id = ?`,
        erasedAt,
        input.fileId,
      );
      const event = audit.appendEvent({
        actorId: input.actorId,
        action: "file.erase",
        fileId: input.fileId,
        outcome: "ok",
        detail: { reason, headersDeleted: headers, grantsRevoked: grants },
      });
      return {
        fileId: input.fileId,
        erasedAt,
        payloadCid: file.payloadCid,
        destroyed: { headers, salt: true, name: true, plaintextSha256: true, grants },
        event,
      } as const;
    });
  }

  return {
    commitUpload,
    getFile,
    listFiles,
    header(fileId, holder) {
      const row = db.get("SELECT header FROM headers WHERE file_id = ? AND holder = ?", fileId, holder);
      return row === undefined ? undefined : blob(row, "header");
    },
    referencedCids() {
      return db
        .all("SELECT DISTINCT payload_cid FROM files WHERE state = 'active' ORDER BY payload_cid")
        .map((row) => text(row, "payload_cid"));
    },
    eraseFile(input) {
      const erasure = eraseFile(input);
      // Inside a caller's larger transaction the checkpoint has to wait for its commit. Another
      // connection's reader can hold the WAL; wait briefly, then report it (checkpoint() later).
      const walTruncated = !db.inTransaction && !db.checkpoint(ERASURE_CHECKPOINT_WAIT_MS).busy;
      return { ...erasure, walTruncated };
    },
  };
}

function toFile(row: Row): FileRecord {
  return {
    id: text(row, "id"),
    ownerId: text(row, "owner_id"),
    name: textOrNull(row, "name"),
    mediaType: text(row, "media_type"),
    size: int(row, "size"),
    plaintextSha256: blobOrNull(row, "plaintext_sha256"),
    payloadCid: text(row, "payload_cid"),
    salt: blobOrNull(row, "salt"),
    commitment: blob(row, "commitment"),
    state: text(row, "state") as FileState,
    createdAt: text(row, "created_at"),
    expiresAt: textOrNull(row, "expires_at"),
    erasedAt: textOrNull(row, "erased_at"),
  };
}
