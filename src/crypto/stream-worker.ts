/**
 * A streaming crypto worker thread (offload.ts): runs many payload sessions at once, each a
 * SHA-256 of the plaintext plus the age v1 STREAM (C2SP) sealing or opening of its bytes, with
 * the same rules as the single-thread path (chunks.ts, payload.ts). Messages of a session
 * arrive and leave in order; every output buffer is fresh and transferred.
 */

import { createHash, type Hash, type KeyObject } from "node:crypto";
import { parentPort } from "node:worker_threads";
import { isVaultError } from "../errors.ts";
import { ChunkOpener, sealChunk } from "./chunks.ts";
import { CHUNK_SIZE, Framer, NONCE_SIZE, payloadKey, SEALED_CHUNK } from "./payload.ts";

export type ToWorker =
  | { id: number; op: "seal"; key: Uint8Array; nonce: Uint8Array }
  | { id: number; op: "open"; key: Uint8Array }
  | { id: number; op: "data"; data: Uint8Array }
  | { id: number; op: "end" }
  | { id: number; op: "abort" };

export type FromWorker =
  | { id: number; op: "out"; data: Uint8Array | null }
  | { id: number; op: "done"; data: Uint8Array | null; sha256: Uint8Array }
  | { id: number; op: "error"; code: string; message: string };

type Session = {
  op: "seal" | "open";
  hash: Hash;
  framer: Framer;
  nonce: Buffer<ArrayBuffer>;
  counter: number;
  /** seal: the STREAM key; open: the file key until the payload nonce has arrived. */
  key: KeyObject | undefined;
  fileKey: Uint8Array | undefined;
  opener: ChunkOpener | undefined;
  head: Uint8Array[];
  headBytes: number;
};

const port = parentPort;
if (port === null) throw new Error("stream worker started outside a worker thread");
const sessions = new Map<number, Session>();

/** One fresh transferable buffer holding `parts`, or null when they are empty. */
function joined(parts: readonly Uint8Array[]): Uint8Array | null {
  let length = 0;
  for (const p of parts) length += p.byteLength;
  if (length === 0) return null;
  const out = Buffer.allocUnsafeSlow(length);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

function post(message: FromWorker): void {
  const data = message.op === "error" ? null : message.data;
  port?.postMessage(message, data === null ? [] : [data.buffer as ArrayBuffer]);
}

function seal(s: Session, data: Uint8Array, last: boolean): Uint8Array | null {
  const key = s.key as KeyObject;
  const out: Uint8Array[] = [];
  if (data.byteLength > 0) {
    s.hash.update(data);
    s.framer.push(data);
  }
  // Seal only chunks known not to be last: a full chunk with at least one byte after it.
  while (s.framer.size > CHUNK_SIZE) out.push(...sealChunk(key, s.counter++, false, s.framer.take(), s.nonce));
  if (last) out.push(...sealChunk(key, s.counter, true, s.framer.take(), s.nonce));
  return joined(out);
}

function open(s: Session, data: Uint8Array, last: boolean): Uint8Array | null {
  let rest = data;
  if (s.opener === undefined) {
    const need = NONCE_SIZE - s.headBytes;
    s.head.push(rest.subarray(0, need));
    s.headBytes += Math.min(need, rest.byteLength);
    rest = rest.subarray(Math.min(need, rest.byteLength));
    if (s.headBytes === NONCE_SIZE) {
      s.opener = new ChunkOpener(payloadKey(s.fileKey as Uint8Array, Buffer.concat(s.head)));
      (s.fileKey as Uint8Array).fill(0);
      s.fileKey = undefined;
    } else if (last) {
      throw Object.assign(new Error("payload nonce missing or short"), { code: "HEADER_FAILURE" });
    } else {
      return null;
    }
  }
  const opener = s.opener;
  const out: Uint8Array[] = [];
  if (rest.byteLength > 0) s.framer.push(rest);
  const openNext = (atEnd: boolean) => {
    const pt = opener.next(s.framer.takeContiguous(), atEnd);
    s.hash.update(pt);
    out.push(pt);
  };
  while (s.framer.size > SEALED_CHUNK) openNext(false);
  if (last) {
    if (s.framer.size > 0) openNext(true);
    opener.finish();
  }
  return joined(out);
}

function handle(m: ToWorker): void {
  if (m.op === "seal" || m.op === "open") {
    sessions.set(m.id, {
      op: m.op,
      hash: createHash("sha256"),
      framer: new Framer(m.op === "seal" ? CHUNK_SIZE : SEALED_CHUNK),
      nonce: Buffer.alloc(12),
      counter: 0,
      key: m.op === "seal" ? payloadKey(m.key, m.nonce) : undefined,
      fileKey: m.op === "open" ? m.key : undefined,
      opener: undefined,
      head: [],
      headBytes: 0,
    });
    if (m.op === "seal") m.key.fill(0);
    return;
  }
  const s = sessions.get(m.id);
  if (s === undefined) return; // failed or aborted: later messages are dropped
  if (m.op === "abort") {
    s.fileKey?.fill(0);
    sessions.delete(m.id);
    return;
  }
  const last = m.op === "end";
  const data = m.op === "data" ? m.data : new Uint8Array(0);
  try {
    const out = s.op === "seal" ? seal(s, data, last) : open(s, data, last);
    if (last) {
      sessions.delete(m.id);
      post({ id: m.id, op: "done", data: out, sha256: new Uint8Array(s.hash.digest()) });
    } else {
      post({ id: m.id, op: "out", data: out });
    }
  } catch (error) {
    sessions.delete(m.id);
    s.fileKey?.fill(0);
    const code = isVaultError(error) ? error.code : ((error as { code?: string }).code ?? "INTERNAL");
    post({ id: m.id, op: "error", code, message: (error as Error).message });
  }
}

port.on("message", handle);
