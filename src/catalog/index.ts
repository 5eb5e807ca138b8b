/**
 * The catalog: medvault's metadata in one SQLite file (node:sqlite, synchronous API), or in
 * PostgreSQL when several vault instances share it (`url: "postgres://…"`, `postgres/`).
 *
 * It owns principals and token hashes, file records, age headers (the wrapped file keys),
 * grants, the hash-chained audit log and the durable anchoring queue. It holds no plaintext and
 * no unwrapped key; erasing a file deletes every header and the salt (crypto-shredding).
 *
 * Everything a caller changes in one call is one transaction, its audit event and anchoring
 * leaf included. `transaction(fn)` groups several calls into one (nested calls are savepoints).
 *
 *   const catalog = openCatalog({ path: join(dataDir, "catalog.db") });
 *   const { principal, token } = catalog.createPrincipal({ name: "clinic", role: "uploader" });
 *   const file = catalog.commitUpload({ file: { id: newFileId(), … }, vaultHeader, recipients, actorId });
 *   catalog.close();
 *
 * Modules: db (the engine interface, SQLite settings, transaction), postgres/, migrations, principals, files, grants, audit (+ canonical),
 * queue, ids, check.
 */

import { type Audit, createAudit } from "./audit.ts";
import { type CheckpointResult, type Db, type Dialect, int, SqliteDb, text } from "./db.ts";
import { createFiles, type Files } from "./files.ts";
import { createGrants, type Grants } from "./grants.ts";
import { migrate } from "./migrations.ts";
import { isPostgresUrl, PostgresDb } from "./postgres/db.ts";
import { createPrincipals, type Principals } from "./principals.ts";
import { createQueue, type Queue } from "./queue.ts";

export type {
  AppendEventInput,
  AuditChainCheck,
  AuditDetail,
  AuditEvent,
  AuditOutcome,
  ListEventsQuery,
} from "./audit.ts";
export { AUDIT_DOMAIN, auditEventHash, GENESIS_HASH } from "./audit.ts";
export { canonicalJson, type JsonValue } from "./canonical.ts";
export type { CheckpointResult } from "./db.ts";
export type {
  CommitUploadInput,
  Erasure,
  FileRecord,
  FileState,
  ListFilesQuery,
  NewFile,
  RecipientHeader,
} from "./files.ts";
export { VAULT_HOLDER } from "./files.ts";
export type { Grant, GrantInput, RevokeInput } from "./grants.ts";
export { MAX_HEADER_BYTES } from "./grants.ts";
export { isId, newFileId } from "./ids.ts";
export { isPostgresUrl } from "./postgres/db.ts";
export type { NewPrincipal, Principal, Role } from "./principals.ts";
export { ROLES } from "./principals.ts";
export type { Batch, BatchStatus, ChainAnchor, Leaf, LeafKind, PendingLeaf } from "./queue.ts";

export interface CatalogOptions {
  /**
   * SQLite: the database file (created mode 0600 if missing), or ":memory:" for tests.
   * PostgreSQL: a `postgres://…` URL (the schema is created in the URL's database).
   */
  path: string;
  /** Clock for every stored timestamp; default `new Date()`. */
  now?: () => Date;
  /** Wait for another connection's lock, in ms; default 5000. */
  busyTimeoutMs?: number;
}

/** Counts for /metrics and /readyz. */
export interface CatalogStats {
  principals: number;
  activeFiles: number;
  erasedFiles: number;
  auditEvents: number;
  pendingLeaves: number;
  batches: { sealed: number; anchored: number; final: number };
}

export interface Catalog extends Principals, Files, Grants, Audit, Queue {
  readonly engine: Dialect;
  /** The schema version after migration. */
  readonly schemaVersion: number;
  /**
   * Whether this instance may run the named singleton job (the batcher): always on SQLite (one
   * instance per file); on PostgreSQL, the instance holding the job's advisory lock, which it
   * keeps until it closes or dies.
   */
  tryLead(job: string): boolean;
  /** Runs `fn` (synchronous) in one transaction; catalog calls inside it join it. */
  transaction<T>(fn: () => T): T;
  getMeta(key: string): string | undefined;
  setMeta(key: string, value: string): void;
  stats(): CatalogStats;
  /** SQLite: `PRAGMA wal_checkpoint(TRUNCATE)`; PostgreSQL: rewrites the erasable tables. */
  checkpoint(): CheckpointResult;
  /** Checkpoints and closes; further calls throw. Idempotent. */
  close(): void;
}

export function openCatalog(options: CatalogOptions): Catalog {
  const db: Db = isPostgresUrl(options.path)
    ? new PostgresDb({ url: options.path, ...pick(options) })
    : new SqliteDb({ path: options.path, ...pick(options) });
  try {
    migrate(db);
  } catch (error) {
    db.close();
    throw error;
  }
  const audit = createAudit(db);
  const count = (sql: string): number => int(db.get(sql) ?? { n: 0 }, "n");

  return {
    ...createPrincipals(db, audit),
    ...createFiles(db, audit),
    ...createGrants(db, audit),
    ...audit,
    ...createQueue(db),
    engine: db.dialect,
    schemaVersion: db.schemaVersion(),
    tryLead: (job) => (db instanceof PostgresDb ? db.tryLock(job) : true),
    transaction: (fn) => db.transaction(fn),
    getMeta(key) {
      const row = db.get("SELECT value FROM meta WHERE key = ?", key);
      return row === undefined ? undefined : text(row, "value");
    },
    setMeta(key, value) {
      db.run("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value", key, value);
    },
    stats() {
      const batches = { sealed: 0, anchored: 0, final: 0 };
      for (const row of db.all("SELECT status, count(*) AS n FROM batches GROUP BY status")) {
        batches[text(row, "status") as keyof typeof batches] = int(row, "n");
      }
      return {
        principals: count("SELECT count(*) AS n FROM principals"),
        activeFiles: count("SELECT count(*) AS n FROM files WHERE state = 'active'"),
        erasedFiles: count("SELECT count(*) AS n FROM files WHERE state = 'erased'"),
        auditEvents: count("SELECT count(*) AS n FROM audit"),
        pendingLeaves: count("SELECT count(*) AS n FROM leaves WHERE batch_id IS NULL"),
        batches,
      };
    },
    checkpoint: () => db.checkpoint(),
    close() {
      if (!db.isOpen) return;
      if (!db.inTransaction && db.dialect === "sqlite") db.checkpoint();
      db.close();
    },
  };
}

function pick(options: CatalogOptions): { now?: () => Date; busyTimeoutMs?: number } {
  return {
    ...(options.now === undefined ? {} : { now: options.now }),
    ...(options.busyTimeoutMs === undefined ? {} : { busyTimeoutMs: options.busyTimeoutMs }),
  };
}
