/**
 * The catalog's database, behind one small synchronous interface (`Db`) with two engines:
 * SQLite through node:sqlite (`SqliteDb`, the embedded default) and PostgreSQL through a
 * worker thread (`postgres/`, for several vault instances on one catalog). The catalog's
 * modules write plain SQL that both accept (`?` placeholders, `RETURNING`, `ON CONFLICT`).
 *
 * The interface is synchronous on purpose: a catalog transaction never awaits, so no other
 * request's work can interleave with it, and everything one call changes commits together.
 *
 * SQLite settings, and why:
 * - `journal_mode = WAL`: readers never block the writer.
 * - `synchronous = FULL`: a commit is an upload's acknowledgement, so it must reach the disk
 *   before COMMIT returns (NORMAL could lose the last commits on a power cut).
 * - `secure_delete = ON`: deleted and overwritten content is zeroed in the b-tree pages, so an
 *   erased file's headers and salt do not linger in free space (crypto-shredding).
 * - `foreign_keys = ON`, a busy timeout, and defensive mode (no writable_schema tricks).
 */

import { chmodSync, closeSync, openSync } from "node:fs";
import { DatabaseSync, type SQLInputValue, type SQLOutputValue, type StatementSync } from "node:sqlite";
import { VaultError } from "../errors.ts";

export type Row = Record<string, SQLOutputValue>;

export interface DbOptions {
  /** Database file path, or ":memory:". */
  path: string;
  /** The clock; every stored timestamp comes from it. */
  now?: () => Date;
  /** How long to wait for another connection's lock, in ms. */
  busyTimeoutMs?: number;
}

/** Result of `PRAGMA wal_checkpoint`: `busy` is true when a reader kept it from finishing. */
export interface CheckpointResult {
  busy: boolean;
  walFrames: number;
  checkpointedFrames: number;
}

export type Dialect = "sqlite" | "postgres";

/** What the catalog's modules use; both engines implement it. */
export interface Db {
  readonly dialect: Dialect;
  readonly isOpen: boolean;
  readonly inTransaction: boolean;
  /** ISO 8601 UTC with milliseconds; inside a transaction, its start time. */
  nowIso(): string;
  get(sql: string, ...params: SQLInputValue[]): Row | undefined;
  all(sql: string, ...params: SQLInputValue[]): Row[];
  /** Rows one at a time from one consistent snapshot; run it to its end or `return` from it. */
  iterate(sql: string): Iterable<Row>;
  /** Runs a write; returns the number of changed rows. */
  run(sql: string, ...params: SQLInputValue[]): number;
  /** Runs one write per parameter row (one round trip on PostgreSQL); returns each one's changes. */
  runMany(sql: string, rows: SQLInputValue[][]): number[];
  /** Statements without parameters (schema changes). */
  exec(sql: string): void;
  /**
   * Runs `fn` in one write transaction, ROLLBACK if it throws. Nested calls become savepoints.
   * `fn` must be synchronous: returning a promise is refused (and rolled back).
   */
  transaction<T>(fn: () => T): T;
  schemaVersion(): number;
  setSchemaVersion(version: number): void;
  /**
   * After an erasure, makes the deleted bytes leave the database files: SQLite copies the
   * zeroed pages into the main file and empties the WAL; PostgreSQL rewrites the tables that
   * held them (VACUUM FULL) and checkpoints. `busy` when it could not finish now.
   */
  checkpoint(busyTimeoutMs?: number): CheckpointResult;
  close(): void;
}

/**
 * The transaction helper both engines share: BEGIN … COMMIT, savepoints for nested calls, and
 * one timestamp per transaction. Engines say how to begin and how to run a bare statement.
 */
export abstract class TransactionalDb {
  readonly #now: () => Date;
  #depth = 0;
  #transactionTime: string | undefined;

  constructor(now: (() => Date) | undefined) {
    this.#now = now ?? (() => new Date());
  }

  protected abstract execRaw(sql: string): void;
  /** Opens a write transaction that excludes every other writer. */
  protected abstract begin(): void;
  /** Whether the engine still has a transaction open (SQLite ends one on some errors). */
  protected abstract engineInTransaction(): boolean;

  get inTransaction(): boolean {
    return this.#depth > 0;
  }

  nowIso(): string {
    return this.#transactionTime ?? this.#now().toISOString();
  }

  transaction<T>(fn: () => T): T {
    const savepoint = this.#depth === 0 ? undefined : `sp${this.#depth}`;
    try {
      if (savepoint === undefined) this.begin();
      else this.execRaw(`SAVEPOINT ${savepoint}`);
    } catch (error) {
      throw asVaultError(error);
    }
    if (savepoint === undefined) this.#transactionTime = this.#now().toISOString();
    this.#depth++;
    try {
      const result = fn();
      if (isThenable(result)) {
        throw new VaultError("INTERNAL", "catalog: a transaction function must be synchronous");
      }
      this.execRaw(savepoint === undefined ? "COMMIT" : `RELEASE ${savepoint}`);
      return result;
    } catch (error) {
      try {
        if (savepoint === undefined) {
          if (this.engineInTransaction()) this.execRaw("ROLLBACK");
        } else {
          this.execRaw(`ROLLBACK TO ${savepoint}`);
          this.execRaw(`RELEASE ${savepoint}`);
        }
      } catch {
        // The engine already rolled back (SQLite does on some errors); the original error matters.
      }
      throw asVaultError(error);
    } finally {
      this.#depth--;
      if (this.#depth === 0) this.#transactionTime = undefined;
    }
  }
}

export class SqliteDb extends TransactionalDb implements Db {
  readonly dialect = "sqlite";
  readonly raw: DatabaseSync;
  readonly #statements = new Map<string, StatementSync>();
  readonly #busyTimeoutMs: number;

  constructor(options: DbOptions) {
    super(options.now);
    const { path } = options;
    this.#busyTimeoutMs = Math.trunc(options.busyTimeoutMs ?? 5000);
    try {
      if (path !== ":memory:") {
        // Owner-only before SQLite touches it (-wal and -shm take the database file's mode),
        // and tightened if an older file was looser.
        closeSync(openSync(path, "a", 0o600));
        chmodSync(path, 0o600);
      }
      this.raw = new DatabaseSync(path, {
        enableForeignKeyConstraints: true,
        timeout: this.#busyTimeoutMs,
      });
    } catch (cause) {
      throw new VaultError("IO_ERROR", "catalog: cannot open the database", { cause });
    }
    this.raw.enableDefensive(true);
    this.raw.exec("PRAGMA journal_mode = WAL");
    this.raw.exec("PRAGMA synchronous = FULL");
    this.raw.exec("PRAGMA secure_delete = ON");
    this.raw.exec("PRAGMA foreign_keys = ON");
    this.raw.exec("PRAGMA trusted_schema = OFF");
  }

  get isOpen(): boolean {
    return this.raw.isOpen;
  }

  protected execRaw(sql: string): void {
    this.raw.exec(sql);
  }

  protected begin(): void {
    this.raw.exec("BEGIN IMMEDIATE");
  }

  protected engineInTransaction(): boolean {
    return this.raw.isTransaction;
  }

  /** A prepared statement, cached by its SQL text. */
  stmt(sql: string): StatementSync {
    let statement = this.#statements.get(sql);
    if (statement === undefined) {
      statement = this.raw.prepare(sql);
      this.#statements.set(sql, statement);
    }
    return statement;
  }

  get(sql: string, ...params: SQLInputValue[]): Row | undefined {
    return this.#wrap(() => this.stmt(sql).get(...params));
  }

  all(sql: string, ...params: SQLInputValue[]): Row[] {
    return this.#wrap(() => this.stmt(sql).all(...params));
  }

  iterate(sql: string): Iterable<Row> {
    return this.#wrap(() => this.stmt(sql).iterate());
  }

  run(sql: string, ...params: SQLInputValue[]): number {
    return this.#wrap(() => Number(this.stmt(sql).run(...params).changes));
  }

  runMany(sql: string, rows: SQLInputValue[][]): number[] {
    return this.#wrap(() => {
      const statement = this.stmt(sql);
      return rows.map((params) => Number(statement.run(...params).changes));
    });
  }

  exec(sql: string): void {
    this.#wrap(() => this.raw.exec(sql));
  }

  schemaVersion(): number {
    return Number(this.raw.prepare("PRAGMA user_version").get()?.user_version ?? 0);
  }

  setSchemaVersion(version: number): void {
    this.raw.exec(`PRAGMA user_version = ${Math.trunc(version)}`);
  }

  /**
   * `PRAGMA wal_checkpoint(TRUNCATE)`: copies the WAL into the main file and empties it. It
   * waits up to `busyTimeoutMs` for other connections' readers (blocking this thread), then
   * reports `busy` instead.
   */
  checkpoint(busyTimeoutMs = this.#busyTimeoutMs): CheckpointResult {
    if (busyTimeoutMs !== this.#busyTimeoutMs) this.raw.exec(`PRAGMA busy_timeout = ${Math.trunc(busyTimeoutMs)}`);
    let row: Row | undefined;
    try {
      row = this.raw.prepare("PRAGMA wal_checkpoint(TRUNCATE)").get();
    } finally {
      if (busyTimeoutMs !== this.#busyTimeoutMs) this.raw.exec(`PRAGMA busy_timeout = ${this.#busyTimeoutMs}`);
    }
    return {
      busy: row?.busy === 1,
      walFrames: Number(row?.log ?? 0),
      checkpointedFrames: Number(row?.checkpointed ?? 0),
    };
  }

  close(): void {
    if (!this.raw.isOpen) return;
    this.#statements.clear();
    this.raw.close();
  }

  #wrap<T>(fn: () => T): T {
    try {
      return fn();
    } catch (error) {
      throw asVaultError(error);
    }
  }
}

/**
 * An error from SQLite as a VaultError (other errors unchanged): constraint failures are
 * CONFLICT, disk, lock and corruption trouble IO_ERROR, the rest INTERNAL. The message carries
 * SQLite's generic error string only, never a value; the original stays as `cause`.
 */
export function asVaultError(error: unknown): unknown {
  if (!(error instanceof Error) || (error as { code?: unknown }).code !== "ERR_SQLITE_ERROR") return error;
  const { errcode, errstr } = error as { errcode?: unknown; errstr?: unknown };
  const primary = typeof errcode === "number" ? errcode & 0xff : -1;
  const detail = typeof errstr === "string" ? errstr : "unknown";
  // 19 CONSTRAINT; 5 BUSY, 6 LOCKED, 8 READONLY, 10 IOERR, 11 CORRUPT, 13 FULL, 14 CANTOPEN, 26 NOTADB
  const code = primary === 19 ? "CONFLICT" : [5, 6, 8, 10, 11, 13, 14, 26].includes(primary) ? "IO_ERROR" : "INTERNAL";
  return new VaultError(code, `catalog: database error (${detail})`, { cause: error });
}

function isThenable(value: unknown): boolean {
  return typeof value === "object" && value !== null && typeof (value as { then?: unknown }).then === "function";
}

// Typed column readers: a schema drift shows up as an INTERNAL error, not as a wrong type.

export function text(row: Row, column: string): string {
  const value = row[column];
  if (typeof value !== "string") throw columnError(column);
  return value;
}

export function textOrNull(row: Row, column: string): string | null {
  const value = row[column];
  if (value === null) return null;
  if (typeof value !== "string") throw columnError(column);
  return value;
}

export function int(row: Row, column: string): number {
  const value = row[column];
  if (typeof value !== "number") throw columnError(column);
  return value;
}

export function intOrNull(row: Row, column: string): number | null {
  const value = row[column];
  if (value === null) return null;
  if (typeof value !== "number") throw columnError(column);
  return value;
}

export function blob(row: Row, column: string): Uint8Array {
  const value = row[column];
  if (!(value instanceof Uint8Array)) throw columnError(column);
  return value;
}

export function blobOrNull(row: Row, column: string): Uint8Array | null {
  const value = row[column];
  if (value === null) return null;
  if (!(value instanceof Uint8Array)) throw columnError(column);
  return value;
}

function columnError(column: string): VaultError {
  return new VaultError("INTERNAL", `catalog: unexpected value in column ${column}`);
}
