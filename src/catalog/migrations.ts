/**
 * Schema migrations, tracked by `PRAGMA user_version` on SQLite and by the `schema_version`
 * table on PostgreSQL (`Db.schemaVersion`): migration i (0-based) brings the schema
 * from version i to i + 1. Each runs in its own transaction together with the version bump, so
 * a crash leaves the schema either before or after it, and reopening never applies one twice.
 * Append new migrations at the end; never edit a released one.
 *
 * One schema, written once per engine: SQLite tables are STRICT (it checks column types);
 * PostgreSQL gets the same tables, columns and constraints with BYTEA for BLOB, BIGINT for
 * INTEGER, identity columns for SQLite's rowid keys, and an explicit `rowid` on files (listings
 * page by it on both). Timestamps are ISO 8601 UTC text from `Date.toISOString()` (one fixed
 * format, so they compare correctly as text); hashes, salts and headers are byte strings.
 */

import { VaultError } from "../errors.ts";
import type { Db } from "./db.ts";
import { POSTGRES_SCHEMA_1 } from "./postgres/schema.ts";

export type Migration = (db: Db) => void;

export const migrations: readonly Migration[] = [
  // 1: the initial schema.
  (db) => {
    if (db.dialect === "postgres") {
      db.exec(POSTGRES_SCHEMA_1);
      return;
    }
    db.exec(`
      CREATE TABLE principals (
        id            TEXT PRIMARY KEY,
        name          TEXT NOT NULL UNIQUE,
        role          TEXT NOT NULL CHECK (role IN ('uploader', 'recipient', 'privacy', 'admin')),
        age_recipient TEXT,
        token_sha256  BLOB NOT NULL UNIQUE CHECK (length(token_sha256) = 32),
        created_at    TEXT NOT NULL,
        disabled_at   TEXT
      ) STRICT;

      -- name and plaintext_sha256 are cleared on erasure, with the salt and every header.
      CREATE TABLE files (
        id               TEXT PRIMARY KEY,
        owner_id         TEXT NOT NULL REFERENCES principals (id),
        name             TEXT,
        media_type       TEXT NOT NULL,
        size             INTEGER NOT NULL CHECK (size >= 0),
        plaintext_sha256 BLOB CHECK (length(plaintext_sha256) = 32),
        payload_cid      TEXT NOT NULL,
        salt             BLOB CHECK (length(salt) = 32),
        commitment       BLOB NOT NULL CHECK (length(commitment) = 32),
        state            TEXT NOT NULL CHECK (state IN ('active', 'erased')),
        created_at       TEXT NOT NULL,
        expires_at       TEXT,
        erased_at        TEXT,
        CHECK ((state = 'active') = (salt IS NOT NULL AND erased_at IS NULL))
      ) STRICT;
      CREATE INDEX files_owner ON files (owner_id);

      -- age headers: 'vault' or a principal id; each holds a wrapped file key.
      CREATE TABLE headers (
        file_id TEXT NOT NULL REFERENCES files (id),
        holder  TEXT NOT NULL,
        header  BLOB NOT NULL,
        PRIMARY KEY (file_id, holder)
      ) STRICT;

      CREATE TABLE grants (
        file_id      TEXT NOT NULL REFERENCES files (id),
        principal_id TEXT NOT NULL REFERENCES principals (id),
        granted_by   TEXT NOT NULL REFERENCES principals (id),
        created_at   TEXT NOT NULL,
        expires_at   TEXT,
        revoked_at   TEXT,
        PRIMARY KEY (file_id, principal_id)
      ) STRICT;
      CREATE INDEX grants_principal ON grants (principal_id);

      CREATE TABLE audit (
        seq        INTEGER PRIMARY KEY,
        id         TEXT NOT NULL UNIQUE,
        at         TEXT NOT NULL,
        actor_id   TEXT REFERENCES principals (id),
        action     TEXT NOT NULL,
        file_id    TEXT,
        outcome    TEXT NOT NULL CHECK (outcome IN ('ok', 'denied', 'failed')),
        detail     TEXT NOT NULL,
        prev_hash  BLOB NOT NULL CHECK (length(prev_hash) = 32),
        event_hash BLOB NOT NULL CHECK (length(event_hash) = 32)
      ) STRICT;
      CREATE INDEX audit_file ON audit (file_id, seq) WHERE file_id IS NOT NULL;
      CREATE INDEX audit_actor ON audit (actor_id, seq) WHERE actor_id IS NOT NULL;

      -- The durable anchoring queue: file commitments and audit event hashes.
      CREATE TABLE leaves (
        seq        INTEGER PRIMARY KEY AUTOINCREMENT,
        kind       TEXT NOT NULL CHECK (kind IN ('file', 'event')),
        ref        TEXT NOT NULL,
        value      BLOB NOT NULL CHECK (length(value) = 32),
        batch_id   INTEGER REFERENCES batches (id),
        leaf_index INTEGER,
        UNIQUE (kind, ref),
        CHECK ((batch_id IS NULL) = (leaf_index IS NULL))
      ) STRICT;
      CREATE INDEX leaves_pending ON leaves (seq) WHERE batch_id IS NULL;
      CREATE UNIQUE INDEX leaves_position ON leaves (batch_id, leaf_index) WHERE batch_id IS NOT NULL;

      CREATE TABLE batches (
        id             INTEGER PRIMARY KEY,
        root           BLOB NOT NULL CHECK (length(root) = 32),
        leaf_count     INTEGER NOT NULL CHECK (leaf_count > 0),
        sealed_at      TEXT NOT NULL,
        status         TEXT NOT NULL CHECK (status IN ('sealed', 'anchored', 'final')),
        chain_batch_id INTEGER,
        prev_root      BLOB CHECK (length(prev_root) = 32),
        tx_hash        TEXT,
        block_number   INTEGER,
        block_hash     TEXT,
        chain_id       INTEGER,
        contract       TEXT,
        anchored_at    TEXT,
        CHECK ((status = 'sealed') = (tx_hash IS NULL))
      ) STRICT;
      CREATE INDEX batches_status ON batches (status, id);

      CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
      ) STRICT;
    `);
  },
];

/**
 * Brings the schema up to date; returns how many migrations ran (0 when already current).
 * A database written by a newer medvault (a higher version than we know) is refused.
 */
export function migrate(db: Db, list: readonly Migration[] = migrations): number {
  const current = db.schemaVersion();
  if (current > list.length) {
    throw new VaultError("UNSUPPORTED", `catalog: schema version ${current} is newer than this medvault (${list.length})`);
  }
  for (let version = current; version < list.length; version++) {
    const migration = list[version];
    if (migration === undefined) break;
    db.transaction(() => {
      // Another instance on the same catalog may have run it meanwhile (PostgreSQL).
      if (db.schemaVersion() !== version) return;
      migration(db);
      db.setSchemaVersion(version + 1);
    });
  }
  return list.length - current;
}
