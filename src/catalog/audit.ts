/**
 * The hash-chained audit log. Every event is appended in the transaction of the change it
 * records, and queues its event hash as an anchoring leaf in that same transaction.
 *
 * Exact bytes (DESIGN.md, "Integrity and anchoring"); outside verifiers depend on them:
 *
 *   eventHash = SHA-256( "medvault/audit/v1"   17 bytes, ASCII, no terminator
 *                      ‖ prevEventHash          32 bytes; 32 zero bytes for the first event
 *                      ‖ canonicalJson(event) ) UTF-8
 *
 *   event = { "id": "e_…", "at": "2025-01-02T03:04:05.678Z", "actor": "p_…" | null,
 *             "action": "file.upload", "fileId": "f_…" | null,
 *             "outcome": "ok" | "denied" | "failed", "detail": { … } }
 *
 * canonicalJson is `canonical.ts` (JCS-like: keys sorted recursively, no whitespace), so the
 * serialized key order is action, actor, at, detail, fileId, id, outcome. `at` is exactly the
 * stored text; a missing actor or file is `null`; a missing detail is `{}`. Example:
 *   {"action":"file.erase","actor":"p_…","at":"2025-…Z","detail":{"reason":"…"},"fileId":"f_…","id":"e_…","outcome":"ok"}
 *
 * Detail must never carry plaintext, keys, tokens, salts, headers or file names. That is the
 * caller's duty; `checkDetail` refuses the obvious cases (such key names, `mvt_` tokens, age
 * secret keys) and anything over 8 KiB.
 */

import { createHash } from "node:crypto";
import { VaultError } from "../errors.ts";
import { canonicalJson, type JsonValue } from "./canonical.ts";
import { checkInt, checkPattern, checkText } from "./check.ts";
import { blob, type Db, int, type Row, text, textOrNull } from "./db.ts";
import { newId } from "./ids.ts";

export type AuditOutcome = "ok" | "denied" | "failed";
export type AuditDetail = { [key: string]: JsonValue };

export interface AuditEvent {
  /** Position in the chain, from 1. */
  seq: number;
  id: string;
  /** ISO 8601 UTC, exactly as hashed. */
  at: string;
  actorId: string | null;
  /** Dotted lowercase verb, e.g. `file.upload`, `file.read`, `file.erase`. */
  action: string;
  fileId: string | null;
  outcome: AuditOutcome;
  detail: AuditDetail;
  prevHash: Uint8Array;
  eventHash: Uint8Array;
}

export interface AppendEventInput {
  actorId?: string | null;
  action: string;
  fileId?: string | null;
  outcome: AuditOutcome;
  detail?: AuditDetail;
}

export interface ListEventsQuery {
  fileId?: string;
  actorId?: string;
  action?: string;
  /** Only events after this seq (for paging: pass the last seq you got). */
  afterSeq?: number;
  /** 1..10,000; default 100. */
  limit?: number;
}

export type AuditChainCheck =
  | { ok: true; count: number; head: Uint8Array }
  | { ok: false; seq: number; reason: "prev_hash" | "event_hash" | "detail" | "leaf" };

export const AUDIT_DOMAIN = "medvault/audit/v1";
export const GENESIS_HASH: Uint8Array = new Uint8Array(32);

const MAX_DETAIL_CHARS = 8192;
const ACTION_PATTERN = /^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$/;
const OUTCOMES: readonly AuditOutcome[] = ["ok", "denied", "failed"];
// Normalized (lowercase, letters and digits only) detail keys that would name a secret.
const FORBIDDEN_KEYS = new Set([
  "token",
  "bearer",
  "secret",
  "password",
  "passphrase",
  "identity",
  "key",
  "filekey",
  "privatekey",
  "secretkey",
  "salt",
  "header",
  "plaintext",
  "name",
  "filename",
]);
const SECRET_VALUE = /AGE-SECRET-KEY-|mvt_[A-Za-z0-9_-]{16}/i;

/** The hash of one event, from its fields as stored (see the module header). */
export function auditEventHash(prevHash: Uint8Array, event: Omit<AuditEvent, "seq" | "prevHash" | "eventHash">): Uint8Array {
  const json = canonicalJson({
    id: event.id,
    at: event.at,
    actor: event.actorId,
    action: event.action,
    fileId: event.fileId,
    outcome: event.outcome,
    detail: event.detail,
  });
  return new Uint8Array(createHash("sha256").update(AUDIT_DOMAIN, "utf8").update(prevHash).update(json, "utf8").digest());
}

/** Refuses detail that is not a small JSON object or that carries obvious secrets. */
export function checkDetail(detail: unknown): AuditDetail {
  if (typeof detail !== "object" || detail === null || Array.isArray(detail)) {
    throw new VaultError("BAD_REQUEST", "audit detail: expected an object");
  }
  const json = canonicalJson(detail);
  if (json.length > MAX_DETAIL_CHARS) throw new VaultError("BAD_REQUEST", "audit detail: too large");
  scan(detail);
  return detail as AuditDetail;
}

function scan(value: unknown): void {
  if (typeof value === "string") {
    if (SECRET_VALUE.test(value)) {
      throw new VaultError("BAD_REQUEST", "audit detail: looks like key or token material");
    }
  } else if (Array.isArray(value)) {
    for (const item of value) scan(item);
  } else if (typeof value === "object" && value !== null) {
    for (const [key, item] of Object.entries(value)) {
      if (FORBIDDEN_KEYS.has(key.toLowerCase().replace(/[^a-z0-9]/g, ""))) {
        throw new VaultError("BAD_REQUEST", `audit detail: the key "${key}" is not allowed`);
      }
      scan(item);
    }
  }
}

export interface Audit {
  /**
   * Appends an event and queues its hash as a leaf, in one transaction (or in the caller's).
   * BAD_REQUEST for a malformed action or outcome, an unknown actor, or unacceptable detail.
   */
  appendEvent(input: AppendEventInput): AuditEvent;
  /** Events oldest first; filters combine with AND. */
  listEvents(query?: ListEventsQuery): AuditEvent[];
  getEvent(id: string): AuditEvent | undefined;
  /**
   * Recomputes the whole chain: each prev_hash, each event hash, each event's leaf, and that
   * no event leaf outlives its event (a dropped newest event). Linear in the log (about 50,000
   * events/s here), so run it at start-up or from the CLI, not per request. A deleted tail
   * whose leaves were deleted too is only caught against the anchored roots.
   */
  verifyAuditChain(): AuditChainCheck;
}

export function createAudit(db: Db): Audit {
  function appendEvent(input: AppendEventInput): AuditEvent {
    const action = checkPattern(input.action, "action", ACTION_PATTERN);
    if (action.length > 64) throw new VaultError("BAD_REQUEST", "action: too long");
    if (!OUTCOMES.includes(input.outcome)) throw new VaultError("BAD_REQUEST", "outcome: malformed");
    const actorId = input.actorId ?? null;
    const fileId = input.fileId === undefined || input.fileId === null ? null : checkText(input.fileId, "fileId", 128);
    const detail = checkDetail(input.detail ?? {});
    return db.transaction(() => {
      if (actorId !== null && db.get("SELECT 1 FROM principals WHERE id = ?", actorId) === undefined) {
        throw new VaultError("BAD_REQUEST", "actorId: unknown principal");
      }
      const prevHash = lastHash();
      const event = { id: newId("e"), at: db.nowIso(), actorId, action, fileId, outcome: input.outcome, detail };
      const eventHash = auditEventHash(prevHash, event);
      const inserted = db.get(
        `INSERT INTO audit (id, at, actor_id, action, file_id, outcome, detail, prev_hash, event_hash)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING seq`,
        event.id,
        event.at,
        actorId,
        action,
        fileId,
        event.outcome,
        canonicalJson(detail),
        prevHash,
        eventHash,
      );
      const seq = int(inserted ?? {}, "seq");
      db.run("INSERT INTO leaves (kind, ref, value) VALUES ('event', ?, ?)", event.id, eventHash);
      return { seq, ...event, prevHash, eventHash };
    });
  }

  function lastHash(): Uint8Array {
    const row = db.get("SELECT event_hash FROM audit ORDER BY seq DESC LIMIT 1");
    return row === undefined ? GENESIS_HASH : blob(row, "event_hash");
  }

  function listEvents(query: ListEventsQuery = {}): AuditEvent[] {
    const where: string[] = [];
    const params: (string | number)[] = [];
    if (query.fileId !== undefined) {
      where.push("file_id = ?");
      params.push(query.fileId);
    }
    if (query.actorId !== undefined) {
      where.push("actor_id = ?");
      params.push(query.actorId);
    }
    if (query.action !== undefined) {
      where.push("action = ?");
      params.push(query.action);
    }
    if (query.afterSeq !== undefined) {
      where.push("seq > ?");
      params.push(checkInt(query.afterSeq, "afterSeq"));
    }
    const limit = checkInt(query.limit ?? 100, "limit", 1, 10_000);
    const sql = `SELECT * FROM audit ${where.length > 0 ? `WHERE ${where.join(" AND ")}` : ""} ORDER BY seq LIMIT ?`;
    return db.all(sql, ...params, limit).map(toEvent);
  }

  function getEvent(id: string): AuditEvent | undefined {
    const row = db.get("SELECT * FROM audit WHERE id = ?", id);
    return row === undefined ? undefined : toEvent(row);
  }

  function verifyAuditChain(): AuditChainCheck {
    let prev = GENESIS_HASH;
    let count = 0;
    // One statement, so one consistent snapshot; the iterator is always run to its end or
    // closed by `return` (for…of does that), so no read transaction is left open.
    const rows = db.iterate(
      `SELECT a.*, l.value AS leaf_value FROM audit a
       LEFT JOIN leaves l ON l.kind = 'event' AND l.ref = a.id ORDER BY a.seq`,
    );
    for (const row of rows) {
      const seq = int(row, "seq");
      let event: AuditEvent;
      try {
        event = toEvent(row);
      } catch {
        return { ok: false, seq, reason: "detail" };
      }
      if (!equal(event.prevHash, prev)) return { ok: false, seq, reason: "prev_hash" };
      if (!equal(auditEventHash(prev, event), event.eventHash)) return { ok: false, seq, reason: "event_hash" };
      const leaf = row.leaf_value;
      if (!(leaf instanceof Uint8Array) || !equal(leaf, event.eventHash)) return { ok: false, seq, reason: "leaf" };
      prev = event.eventHash;
      count++;
    }
    // Dropping the newest events leaves their leaves behind (until someone deletes those too;
    // beyond that, only the anchored roots can tell).
    const leaves = int(db.get("SELECT count(*) AS n FROM leaves WHERE kind = 'event'") ?? { n: 0 }, "n");
    if (leaves !== count) return { ok: false, seq: count + 1, reason: "leaf" };
    return { ok: true, count, head: prev };
  }

  return { appendEvent, listEvents, getEvent, verifyAuditChain };
}

function toEvent(row: Row): AuditEvent {
  const detail: unknown = JSON.parse(text(row, "detail"));
  if (typeof detail !== "object" || detail === null || Array.isArray(detail)) {
    throw new VaultError("INTERNAL", "catalog: malformed audit detail");
  }
  return {
    seq: int(row, "seq"),
    id: text(row, "id"),
    at: text(row, "at"),
    actorId: textOrNull(row, "actor_id"),
    action: text(row, "action"),
    fileId: textOrNull(row, "file_id"),
    outcome: text(row, "outcome") as AuditOutcome,
    detail: detail as AuditDetail,
    prevHash: blob(row, "prev_hash"),
    eventHash: blob(row, "event_hash"),
  };
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
