/**
 * The catalog's first schema on PostgreSQL: the same tables, columns and constraints as the
 * SQLite one in `../migrations.ts`. BYTEA for BLOB, BIGINT for INTEGER (file sizes pass 2^31),
 * identity columns where SQLite uses its rowid (`audit.seq`, `leaves.seq`, `batches.id`), and an
 * explicit `rowid` on files, which listings page by. `batches` comes before `leaves`, which
 * refers to it. The schema version lives in `schema_version` (one row).
 */

export const POSTGRES_SCHEMA_1 = `
  CREATE TABLE principals (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    role          TEXT NOT NULL CHECK (role IN ('uploader', 'recipient', 'privacy', 'admin')),
    age_recipient TEXT,
    token_sha256  BYTEA NOT NULL UNIQUE CHECK (length(token_sha256) = 32),
    created_at    TEXT NOT NULL,
    disabled_at   TEXT
  );

  CREATE TABLE files (
    rowid            BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
    id               TEXT PRIMARY KEY,
    owner_id         TEXT NOT NULL REFERENCES principals (id),
    name             TEXT,
    media_type       TEXT NOT NULL,
    size             BIGINT NOT NULL CHECK (size >= 0),
    plaintext_sha256 BYTEA CHECK (length(plaintext_sha256) = 32),
    payload_cid      TEXT NOT NULL,
    salt             BYTEA CHECK (length(salt) = 32),
    commitment       BYTEA NOT NULL CHECK (length(commitment) = 32),
    state            TEXT NOT NULL CHECK (state IN ('active', 'erased')),
    created_at       TEXT NOT NULL,
    expires_at       TEXT,
    erased_at        TEXT,
    CHECK ((state = 'active') = (salt IS NOT NULL AND erased_at IS NULL))
  );
  CREATE INDEX files_owner ON files (owner_id);

  CREATE TABLE headers (
    file_id TEXT NOT NULL REFERENCES files (id),
    holder  TEXT NOT NULL,
    header  BYTEA NOT NULL,
    PRIMARY KEY (file_id, holder)
  );

  CREATE TABLE grants (
    file_id      TEXT NOT NULL REFERENCES files (id),
    principal_id TEXT NOT NULL REFERENCES principals (id),
    granted_by   TEXT NOT NULL REFERENCES principals (id),
    created_at   TEXT NOT NULL,
    expires_at   TEXT,
    revoked_at   TEXT,
    PRIMARY KEY (file_id, principal_id)
  );
  CREATE INDEX grants_principal ON grants (principal_id);

  CREATE TABLE audit (
    seq        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id         TEXT NOT NULL UNIQUE,
    at         TEXT NOT NULL,
    actor_id   TEXT REFERENCES principals (id),
    action     TEXT NOT NULL,
    file_id    TEXT,
    outcome    TEXT NOT NULL CHECK (outcome IN ('ok', 'denied', 'failed')),
    detail     TEXT NOT NULL,
    prev_hash  BYTEA NOT NULL CHECK (length(prev_hash) = 32),
    event_hash BYTEA NOT NULL CHECK (length(event_hash) = 32)
  );
  CREATE INDEX audit_file ON audit (file_id, seq) WHERE file_id IS NOT NULL;
  CREATE INDEX audit_actor ON audit (actor_id, seq) WHERE actor_id IS NOT NULL;

  CREATE TABLE batches (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    root           BYTEA NOT NULL CHECK (length(root) = 32),
    leaf_count     BIGINT NOT NULL CHECK (leaf_count > 0),
    sealed_at      TEXT NOT NULL,
    status         TEXT NOT NULL CHECK (status IN ('sealed', 'anchored', 'final')),
    chain_batch_id BIGINT,
    prev_root      BYTEA CHECK (length(prev_root) = 32),
    tx_hash        TEXT,
    block_number   BIGINT,
    block_hash     TEXT,
    chain_id       BIGINT,
    contract       TEXT,
    anchored_at    TEXT,
    CHECK ((status = 'sealed') = (tx_hash IS NULL))
  );
  CREATE INDEX batches_status ON batches (status, id);

  CREATE TABLE leaves (
    seq        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind       TEXT NOT NULL CHECK (kind IN ('file', 'event')),
    ref        TEXT NOT NULL,
    value      BYTEA NOT NULL CHECK (length(value) = 32),
    batch_id   BIGINT REFERENCES batches (id),
    leaf_index BIGINT,
    UNIQUE (kind, ref),
    CHECK ((batch_id IS NULL) = (leaf_index IS NULL))
  );
  CREATE INDEX leaves_pending ON leaves (seq) WHERE batch_id IS NULL;
  CREATE UNIQUE INDEX leaves_position ON leaves (batch_id, leaf_index) WHERE batch_id IS NOT NULL;

  CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
  );
`;
