/**
 * The catalog on PostgreSQL (`MEDVAULT_CATALOG_URL=postgres://…`), for several vault instances
 * on one catalog. Same `Db` interface as SQLite, so the catalog's modules are shared:
 *
 * - Synchronous calls: each statement goes to a worker thread holding one `pg` connection and
 *   this thread waits for the reply (Atomics.wait on a shared word, then receiveMessageOnPort).
 *   A catalog call blocks the event loop for its round trips (≈ 0.1 ms each on loopback), as a
 *   SQLite commit blocks it for its fsync; in exchange no transaction can interleave with
 *   another request's work, on either engine.
 * - One writer at a time, as SQLite: a write transaction takes a transaction-scoped advisory
 *   lock first, so the audit hash chain and the leaf queue grow in commit order across
 *   instances. Reads outside transactions run in autocommit.
 * - Batcher election: `tryLock(name)` takes a session-scoped advisory lock. The instance that
 *   holds it anchors; if that instance dies its connection closes and the lock frees.
 * - Erasure: PostgreSQL does not zero deleted tuples. `checkpoint()` (called after an erasure)
 *   rewrites `headers` and `files` (VACUUM FULL, which also rewrites their TOAST tables), so
 *   the erased headers and salt leave the live table files; what it cannot reach is said in
 *   the README (WAL segments until recycled, replicas, base backups and archives).
 *
 * Lock keys are derived from the database and schema, so catalogs in other schemas of the same
 * database do not share locks.
 */

import type { SQLInputValue } from "node:sqlite";
import { MessageChannel, type MessagePort, receiveMessageOnPort, Worker } from "node:worker_threads";
import { VaultError } from "../../errors.ts";
import { type CheckpointResult, type Db, type Row, TransactionalDb } from "../db.ts";
import type { Param, Reply, Request } from "./protocol.ts";

export interface PostgresDbOptions {
  /** `postgres://user:password@host:port/database` (any libpq-style URL `pg` accepts). */
  url: string;
  now?: () => Date;
  /** How long a statement may wait for a lock (another instance's writer), in ms. */
  busyTimeoutMs?: number;
  /** How long this thread waits for any one reply before the catalog gives up, in ms. */
  replyTimeoutMs?: number;
}

export function isPostgresUrl(value: string): boolean {
  return /^postgres(ql)?:\/\//i.test(value);
}

export class PostgresDb extends TransactionalDb implements Db {
  readonly dialect = "postgres";
  readonly #worker: Worker;
  readonly #port: MessagePort;
  readonly #signal = new Int32Array(new SharedArrayBuffer(4));
  readonly #replyTimeoutMs: number;
  readonly #busyTimeoutMs: number;
  readonly #sql = new Map<string, string>();
  #open = true;
  #engineTransaction = false;
  #cursors = 0;

  constructor(options: PostgresDbOptions) {
    super(options.now);
    if (!isPostgresUrl(options.url)) throw new VaultError("BAD_REQUEST", "catalog URL: expected postgres://…");
    this.#replyTimeoutMs = options.replyTimeoutMs ?? 60_000;
    this.#busyTimeoutMs = Math.trunc(options.busyTimeoutMs ?? 5000);
    const { port1, port2 } = new MessageChannel();
    this.#port = port1;
    this.#worker = new Worker(new URL("./worker.ts", import.meta.url), {
      workerData: {
        url: options.url,
        signal: this.#signal,
        port: port2,
        applicationName: "medvault",
        // Lock waits become errors (CONFLICT) instead of hangs; timestamps are text anyway.
        sessionSetup: `SET lock_timeout = ${this.#busyTimeoutMs}; SET TIME ZONE 'UTC'`,
      },
      transferList: [port2],
    });
    this.#worker.unref();
    port1.unref();
    try {
      this.exec("SELECT 1"); // connects: a bad URL or password fails here, with a code
    } catch (error) {
      this.close();
      throw error;
    }
  }

  get isOpen(): boolean {
    return this.#open;
  }

  protected execRaw(sql: string): void {
    this.exec(sql);
  }

  protected begin(): void {
    this.#call({ op: "exec", sql: "BEGIN" });
    this.#engineTransaction = true;
    try {
      this.#call({ op: "exec", sql: `SELECT pg_advisory_xact_lock(${lockKey("writer")})` });
    } catch (error) {
      this.#rollbackQuietly();
      throw error;
    }
  }

  protected engineInTransaction(): boolean {
    return this.#engineTransaction;
  }

  get(sql: string, ...params: SQLInputValue[]): Row | undefined {
    return this.#query(sql, params)[0];
  }

  all(sql: string, ...params: SQLInputValue[]): Row[] {
    return this.#query(sql, params);
  }

  /** A cursor over one snapshot (REPEATABLE READ when not already in a transaction), fetched 1,000 rows at a time. */
  *iterate(sql: string): Iterable<Row> {
    const own = !this.inTransaction && !this.#engineTransaction;
    const cursor = `mv_cursor_${this.#cursors++}`;
    if (own) {
      this.exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
      this.#engineTransaction = true;
    }
    try {
      this.exec(`DECLARE ${cursor} NO SCROLL CURSOR FOR ${sql}`);
      for (;;) {
        const rows = this.#query(`FETCH 1000 FROM ${cursor}`, []);
        yield* rows;
        if (rows.length < 1000) break;
      }
      this.exec(`CLOSE ${cursor}`);
    } finally {
      if (own) {
        this.#engineTransaction = false;
        this.#call({ op: "exec", sql: "ROLLBACK" });
      }
    }
  }

  run(sql: string, ...params: SQLInputValue[]): number {
    return this.#call({ op: "query", sql: this.#positional(sql), params: params as Param[] }).rowCount;
  }

  runMany(sql: string, rows: SQLInputValue[][]): number[] {
    if (rows.length === 0) return [];
    return this.#call({ op: "many", sql: this.#positional(sql), rows: rows as Param[][] }).counts ?? [];
  }

  exec(sql: string): void {
    this.#call({ op: "exec", sql });
  }

  schemaVersion(): number {
    this.exec("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)");
    const row = this.get("SELECT max(version) AS version FROM schema_version");
    return Number(row?.version ?? 0);
  }

  setSchemaVersion(version: number): void {
    this.run("DELETE FROM schema_version");
    this.run("INSERT INTO schema_version (version) VALUES (?)", Math.trunc(version));
  }

  /**
   * Tries once to become the holder of the named session lock (the batcher's, say); true if
   * this connection holds it now. It stays held until `unlock` or the connection closes.
   */
  tryLock(name: string): boolean {
    return this.get(`SELECT pg_try_advisory_lock(${lockKey(name)})::int AS held`)?.held === 1;
  }

  unlock(name: string): void {
    this.get(`SELECT pg_advisory_unlock(${lockKey(name)})::int AS released`);
  }

  /**
   * Rewrites the tables an erasure deleted from (VACUUM FULL), waiting up to `busyTimeoutMs`
   * for their lock; `busy` if another transaction held it that long.
   */
  checkpoint(busyTimeoutMs = this.#busyTimeoutMs): CheckpointResult {
    if (this.inTransaction) return { busy: true, walFrames: 0, checkpointedFrames: 0 };
    try {
      this.exec(`SET lock_timeout = ${Math.trunc(busyTimeoutMs)}`);
      this.exec("VACUUM (FULL) headers");
      this.exec("VACUUM (FULL) files");
      return { busy: false, walFrames: 0, checkpointedFrames: 0 };
    } catch (error) {
      if (error instanceof VaultError && error.code === "CONFLICT") return { busy: true, walFrames: 0, checkpointedFrames: 0 };
      throw error;
    } finally {
      this.exec(`SET lock_timeout = ${this.#busyTimeoutMs}`);
    }
  }

  close(): void {
    if (!this.#open) return;
    try {
      this.#call({ op: "close" }, 5_000);
    } catch {
      // The connection is gone already; the worker goes with it.
    }
    this.#open = false;
    this.#port.close();
    void this.#worker.terminate();
  }

  #query(sql: string, params: SQLInputValue[]): Row[] {
    return this.#call({ op: "query", sql: this.#positional(sql), params: params as Param[] }).rows as Row[];
  }

  #rollbackQuietly(): void {
    this.#engineTransaction = false;
    try {
      this.#call({ op: "exec", sql: "ROLLBACK" });
    } catch {
      // Nothing more to undo.
    }
  }

  /** `?` placeholders (outside quotes) as `$1, $2, …`, cached by SQL text. */
  #positional(sql: string): string {
    let converted = this.#sql.get(sql);
    if (converted === undefined) {
      let n = 0;
      converted = sql.replace(/'(?:[^']|'')*'|"(?:[^"]|"")*"|\?/g, (match) => (match === "?" ? `$${++n}` : match));
      this.#sql.set(sql, converted);
    }
    return converted;
  }

  #call(request: Request, timeoutMs = this.#replyTimeoutMs): Extract<Reply, { ok: true }> {
    if (!this.#open) throw new VaultError("INTERNAL", "catalog: the database is closed");
    Atomics.store(this.#signal, 0, 0);
    this.#port.postMessage(request);
    const waited = Atomics.wait(this.#signal, 0, 0, timeoutMs);
    const received = receiveMessageOnPort(this.#port) as { message: Reply } | undefined;
    if (waited === "timed-out" || received === undefined) {
      this.#open = false;
      void this.#worker.terminate();
      throw new VaultError("IO_ERROR", "catalog: PostgreSQL did not answer in time");
    }
    const reply = received.message;
    if (reply.ok) {
      if (request.op === "exec" && /^\s*(COMMIT|ROLLBACK)\s*$/i.test(request.sql)) this.#engineTransaction = false;
      return reply;
    }
    // A lost connection took its transaction with it; the next call reconnects.
    if (reply.error.connection) this.#engineTransaction = false;
    throw pgError(reply.error);
  }
}

/** A 64-bit advisory lock key for this database and schema and the given purpose. */
function lockKey(name: string): string {
  return `hashtextextended(current_database() || '/' || current_schema() || '/medvault/${name.replace(/[^a-z]/g, "")}', 0)`;
}

/**
 * PostgreSQL's SQLSTATE as a VaultError: integrity violations (class 23) and serialization
 * or lock failures (40001, 40P01, 55P03) are CONFLICT; connection and resource trouble
 * (08, 53, 57, 58), refused credentials or a missing database (28, 3D) and a lost connection are IO_ERROR; the rest INTERNAL.
 */
function pgError(error: { message: string; sqlstate: string | undefined; connection: boolean }): VaultError {
  const state = error.sqlstate ?? "";
  const code =
    state.startsWith("23") || ["40001", "40P01", "55P03"].includes(state)
      ? "CONFLICT"
      : error.connection || /^(08|28|3D|53|57|58)/.test(state)
        ? "IO_ERROR"
        : "INTERNAL";
  return new VaultError(code, `catalog: database error (${error.message})`);
}
