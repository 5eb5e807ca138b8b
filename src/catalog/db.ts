/**
 * The catalog's SQLite connection (node:sqlite, synchronous): durability and privacy settings,
 * a statement cache, the one transaction helper, typed column readers and the clock.
 *
 * Settings, and why:
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

export class Db {
  readonly raw: DatabaseSync;
  readonly #now: () => Date;
  readonly #statements = new Map<string, StatementSync>();
  readonly #busyTimeoutMs: number;
  #depth = 0;
  #transactionTime: string | undefined;

  constructor(options: DbOptions) {
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
    this.#now = options.now ?? (() => new Date());
    this.raw.enableDefensive(true);
    this.raw.exec("PRAGMA journal_mode = WAL");
    this.raw.exec("PRAGMA synchronous = FULL");
    this.raw.exec("PRAGMA secure_delete = ON");
    this.raw.exec("PRAGMA foreign_keys = ON");
    this.raw.exec("PRAGMA trusted_schema = OFF");
  }

  /**
   * The current time as the catalog stores it: ISO 8601 UTC with milliseconds. Inside a
   * transaction it is the transaction's start time, so every row one change writes (a file's
   * erasedAt and its erasure event's `at`, say) carries the same timestamp.
   */
  nowIso(): string {
    return this.#transactionTime ?? this.#now().toISOString();
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
    try {
      return this.stmt(sql).get(...params);
    } catch (error) {
      throw asVaultError(error);
    }
  }

  all(sql: string, ...params: SQLInputValue[]): Row[] {
    try {
      return this.stmt(sql).all(...params);
    } catch (error) {
      throw asVaultError(error);
    }
  }

  /** Runs an INSERT; returns the new row's rowid. */
  insert(sql: string, ...params: SQLInputValue[]): number {
    try {
      return Number(this.stmt(sql).run(...params).lastInsertRowid);
    } catch (error) {
      throw asVaultError(error);
    }
  }

  /** Runs a write; returns the number of changed rows. */
  run(sql: string, ...params: SQLInputValue[]): number {
    try {
      return Number(this.stmt(sql).run(...params).changes);
    } catch (error) {
      throw asVaultError(error);
    }
  }

  /**
   * Runs `fn` in one write transaction: BEGIN IMMEDIATE … COMMIT, ROLLBACK if it throws.
   * Nested calls become savepoints, so catalog operations compose into a larger transaction and
   * a failed inner one undoes only itself. `fn` must be synchronous: a promise would let the
   * transaction commit before its work is done, so returning one is refused (and rolled back).
   * SQLite errors come out as VaultErrors (`asVaultError`); anything else `fn` throws, unchanged.
   */
  transaction<T>(fn: () => T): T {
    const savepoint = this.#depth === 0 ? undefined : `sp${this.#depth}`;
    try {
      this.raw.exec(savepoint === undefined ? "BEGIN IMMEDIATE" : `SAVEPOINT ${savepoint}`);
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
      this.raw.exec(savepoint === undefined ? "COMMIT" : `RELEASE ${savepoint}`);
      return result;
    } catch (error) {
      try {
        if (savepoint === undefined) {
          if (this.raw.isTransaction) this.raw.exec("ROLLBACK");
        } else {
          this.raw.exec(`ROLLBACK TO ${savepoint}`);
          this.raw.exec(`RELEASE ${savepoint}`);
        }
      } catch {
        // SQLite already rolled back (it does on some errors); the original error matters.
      }
      throw asVaultError(error);
    } finally {
      this.#depth--;
      if (this.#depth === 0) this.#transactionTime = undefined;
    }
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
