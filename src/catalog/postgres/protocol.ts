import type { MessagePort } from "node:worker_threads";

/** Messages between `PostgresDb` (the calling thread) and its worker (`worker.ts`). */

export type Param = string | number | bigint | null | Uint8Array;
export type ResultRow = Record<string, string | number | null | Uint8Array>;

export type Request =
  | { op: "query"; sql: string; params: Param[] }
  | { op: "many"; sql: string; rows: Param[][] }
  | { op: "exec"; sql: string }
  | { op: "close" };

export type Reply =
  | { ok: true; rows: ResultRow[]; rowCount: number; counts?: number[] }
  | { ok: false; error: { message: string; sqlstate: string | undefined; connection: boolean } };

export interface WorkerData {
  url: string;
  /** The worker's answer goes here: 0 while waiting, 1 when a reply is on the port. */
  signal: Int32Array;
  port: MessagePort;
  applicationName: string;
  /** Run on every new connection (the session settings). */
  sessionSetup: string;
}
