/**
 * The PostgreSQL catalog's worker thread: one `pg` connection, one request at a time. The
 * calling thread blocks on `signal` (Atomics.wait) until the reply is on the port, so the
 * catalog stays synchronous on both engines.
 *
 * Statements run as named prepared statements (parsed once per connection). BIGINT columns
 * come back as numbers (every integer the catalog stores is a safe integer), BYTEA as bytes.
 */

import { workerData } from "node:worker_threads";
import pg from "pg";
import type { Param, Reply, Request, ResultRow, WorkerData } from "./protocol.ts";

const { url, signal, port, applicationName, sessionSetup } = workerData as WorkerData;
const INT8 = 20;

/**
 * The connection, made on first use and made again after it broke (PostgreSQL restarted, a
 * network cut): the request that met the break fails, the next one reconnects. A transaction
 * open on the lost connection is gone with it (PostgreSQL rolled it back), and so are session
 * locks, which the batcher election takes again.
 */
let client: pg.Client | undefined;
let connected: Promise<void> | undefined;
let names = new Map<string, string>();
let broken = false;

function connect(): Promise<void> {
  broken = false;
  names = new Map();
  const fresh = new pg.Client({
    connectionString: url,
    application_name: applicationName,
    types: {
      getTypeParser: ((oid: number, format?: "text" | "binary") =>
        oid === INT8 ? (value: string) => Number(value) : pg.types.getTypeParser(oid, format ?? "text")) as typeof pg.types.getTypeParser,
    },
  });
  fresh.on("error", () => {
    broken = true;
  });
  client = fresh;
  return fresh.connect().then(async () => {
    if (sessionSetup !== "") await fresh.query(sessionSetup);
  });
}

async function ready(): Promise<pg.Client> {
  if (broken && client !== undefined) {
    client.end().catch(() => {});
    connected = undefined;
  }
  connected ??= connect().catch((error: unknown) => {
    connected = undefined;
    throw error;
  });
  await connected;
  return client as pg.Client;
}

function toPg(value: Param): unknown {
  return value instanceof Uint8Array ? Buffer.from(value.buffer, value.byteOffset, value.byteLength) : value;
}

function plain(rows: Record<string, unknown>[]): ResultRow[] {
  for (const row of rows) {
    for (const key of Object.keys(row)) {
      const value = row[key];
      if (Buffer.isBuffer(value)) row[key] = new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
    }
  }
  return rows as ResultRow[];
}

async function query(client: pg.Client, sql: string, params: Param[]): Promise<pg.QueryResult> {
  let name = names.get(sql);
  if (name === undefined) {
    name = `mv${names.size}`;
    names.set(sql, name);
  }
  return client.query({ name, text: sql, values: params.map(toPg) });
}

async function handle(request: Request): Promise<Reply> {
  if (request.op === "close") {
    await client?.end();
    return { ok: true, rows: [], rowCount: 0 };
  }
  const connection = await ready();
  switch (request.op) {
    case "query": {
      const result = await query(connection, request.sql, request.params);
      return { ok: true, rows: plain(result.rows), rowCount: result.rowCount ?? 0 };
    }
    case "many": {
      const counts: number[] = [];
      for (const params of request.rows) counts.push((await query(connection, request.sql, params)).rowCount ?? 0);
      return { ok: true, rows: [], rowCount: counts.reduce((a, b) => a + b, 0), counts };
    }
    case "exec": {
      const result = await connection.query(request.sql);
      const last = Array.isArray(result) ? result.at(-1) : result;
      return { ok: true, rows: plain(last?.rows ?? []), rowCount: last?.rowCount ?? 0 };
    }
  }
}

function reply(message: Reply): void {
  port.postMessage(message);
  Atomics.store(signal, 0, 1);
  Atomics.notify(signal, 0);
}

port.on("message", (request: Request) => {
  handle(request).then(reply, (error: unknown) => {
    const e = error as { message?: unknown; code?: unknown };
    const sqlstate = typeof e.code === "string" && /^[0-9A-Z]{5}$/.test(e.code) ? e.code : undefined;
    reply({
      ok: false,
      // PostgreSQL's messages can quote values (a duplicate key's value, say): only the
      // SQLSTATE and the server's constraint or class leave this thread.
      error: {
        message: sqlstate === undefined ? "connection failed" : `SQLSTATE ${sqlstate}`,
        sqlstate,
        connection: broken || sqlstate === undefined,
      },
    });
  });
});
