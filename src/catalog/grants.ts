/**
 * Grants: which principal may receive a file's key, until when. A grant always travels with
 * that principal's age header (the file key wrapped for them); revoking deletes the header, so
 * the vault can no longer release the key to them. Revocation cannot take back a key a
 * recipient already unwrapped, nor a plaintext they already downloaded.
 */

import { VaultError } from "../errors.ts";
import type { Audit, AuditEvent } from "./audit.ts";
import { checkBytes, checkOptionalDate } from "./check.ts";
import type { Db, Row } from "./db.ts";
import { text, textOrNull } from "./db.ts";

export interface Grant {
  fileId: string;
  principalId: string;
  grantedBy: string;
  createdAt: string;
  expiresAt: string | null;
  revokedAt: string | null;
}

export interface GrantInput {
  fileId: string;
  principalId: string;
  /** The age header wrapping the file key for this principal. */
  header: Uint8Array;
  expiresAt?: Date;
  actorId: string;
}

export interface RevokeInput {
  fileId: string;
  principalId: string;
  actorId: string;
}

export interface Grants {
  /**
   * Grants (or renews) access: upserts the header and the grant, clearing any revocation, and
   * audits `file.grant`, in one transaction. NOT_FOUND for an unknown file or principal, GONE
   * for an erased file.
   */
  grant(input: GrantInput): { grant: Grant; event: AuditEvent };
  /**
   * Revokes access: deletes the principal's header, sets `revokedAt` (kept from the first
   * revocation), audits `file.revoke`. NOT_FOUND if there is no grant, GONE if erased.
   */
  revoke(input: RevokeInput): { grant: Grant; event: AuditEvent };
  /** Every grant of a file, revoked and expired ones included, oldest first. */
  grantsFor(fileId: string): Grant[];
  /** The grant if it is in force at `now` (not revoked, not expired, file not erased). */
  activeGrant(fileId: string, principalId: string, now?: Date): Grant | undefined;
}

/** Largest header accepted: an age header with a few hybrid post-quantum stanzas is ~2 KiB each. */
export const MAX_HEADER_BYTES = 64 * 1024;

export function checkHeader(header: unknown, title: string): Uint8Array {
  const bytes = checkBytes(header, undefined, title);
  if (bytes.length === 0 || bytes.length > MAX_HEADER_BYTES) {
    throw new VaultError("BAD_REQUEST", `${title}: expected 1 to ${MAX_HEADER_BYTES} bytes`);
  }
  return bytes;
}

/** Writes a header and its grant; the caller holds the transaction and has checked the file. */
export function writeGrant(
  db: Db,
  row: {
    fileId: string;
    principalId: string;
    header: Uint8Array;
    grantedBy: string;
    createdAt: string;
    expiresAt: string | null;
  },
): Grant {
  if (db.get("SELECT 1 FROM principals WHERE id = ?", row.principalId) === undefined) {
    throw new VaultError("NOT_FOUND", "recipient: no such principal");
  }
  db.run(
    `INSERT INTO headers (file_id, holder, header) VALUES (?, ?, ?)
     ON CONFLICT (file_id, holder) DO UPDATE SET header = excluded.header`,
    row.fileId,
    row.principalId,
    row.header,
  );
  db.run(
    `INSERT INTO grants (file_id, principal_id, granted_by, created_at, expires_at) VALUES (?, ?, ?, ?, ?)
     ON CONFLICT (file_id, principal_id) DO UPDATE SET granted_by = excluded.granted_by,
       created_at = excluded.created_at, expires_at = excluded.expires_at, revoked_at = NULL`,
    row.fileId,
    row.principalId,
    row.grantedBy,
    row.createdAt,
    row.expiresAt,
  );
  return {
    fileId: row.fileId,
    principalId: row.principalId,
    grantedBy: row.grantedBy,
    createdAt: row.createdAt,
    expiresAt: row.expiresAt,
    revokedAt: null,
  };
}

/** NOT_FOUND for an unknown file, GONE for an erased one. */
export function requireActiveFile(db: Db, fileId: string): void {
  const row = db.get("SELECT state FROM files WHERE id = ?", fileId);
  if (row === undefined) throw new VaultError("NOT_FOUND", "no such file");
  if (row.state !== "active") throw new VaultError("GONE", "the file was erased");
}

export function createGrants(db: Db, audit: Audit): Grants {
  function getGrant(fileId: string, principalId: string): Grant | undefined {
    const row = db.get("SELECT * FROM grants WHERE file_id = ? AND principal_id = ?", fileId, principalId);
    return row === undefined ? undefined : toGrant(row);
  }

  return {
    grant(input) {
      const header = checkHeader(input.header, "header");
      const expiresAt = checkOptionalDate(input.expiresAt, "expiresAt");
      return db.transaction(() => {
        requireActiveFile(db, input.fileId);
        const grant = writeGrant(db, {
          fileId: input.fileId,
          principalId: input.principalId,
          header,
          grantedBy: input.actorId,
          createdAt: db.nowIso(),
          expiresAt,
        });
        const event = audit.appendEvent({
          actorId: input.actorId,
          action: "file.grant",
          fileId: input.fileId,
          outcome: "ok",
          detail: { principal: input.principalId, expiresAt },
        });
        return { grant, event };
      });
    },

    revoke(input) {
      return db.transaction(() => {
        requireActiveFile(db, input.fileId);
        if (getGrant(input.fileId, input.principalId) === undefined) {
          throw new VaultError("NOT_FOUND", "no such grant");
        }
        const headersDeleted = db.run("DELETE FROM headers WHERE file_id = ? AND holder = ?", input.fileId, input.principalId);
        db.run(
          "UPDATE grants SET revoked_at = ? WHERE file_id = ? AND principal_id = ? AND revoked_at IS NULL",
          db.nowIso(),
          input.fileId,
          input.principalId,
        );
        const event = audit.appendEvent({
          actorId: input.actorId,
          action: "file.revoke",
          fileId: input.fileId,
          outcome: "ok",
          detail: { principal: input.principalId, headersDeleted },
        });
        const grant = getGrant(input.fileId, input.principalId);
        if (grant === undefined) throw new VaultError("INTERNAL", "catalog: grant vanished");
        return { grant, event };
      });
    },

    grantsFor(fileId) {
      return db.all("SELECT * FROM grants WHERE file_id = ? ORDER BY created_at, principal_id", fileId).map(toGrant);
    },

    activeGrant(fileId, principalId, now) {
      const row = db.get(
        `SELECT g.* FROM grants g JOIN files f ON f.id = g.file_id
         WHERE g.file_id = ? AND g.principal_id = ? AND f.state = 'active' AND g.revoked_at IS NULL
           AND (g.expires_at IS NULL OR g.expires_at > ?)`,
        fileId,
        principalId,
        now === undefined ? db.nowIso() : now.toISOString(),
      );
      return row === undefined ? undefined : toGrant(row);
    },
  };
}

export function toGrant(row: Row): Grant {
  return {
    fileId: text(row, "file_id"),
    principalId: text(row, "principal_id"),
    grantedBy: text(row, "granted_by"),
    createdAt: text(row, "created_at"),
    expiresAt: textOrNull(row, "expires_at"),
    revokedAt: textOrNull(row, "revoked_at"),
  };
}
