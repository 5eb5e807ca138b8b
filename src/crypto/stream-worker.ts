/**
 * The upload worker thread (offload.ts): runs many upload sessions at once, each the SHA-256
 * of the plaintext, age v1 STREAM sealing (C2SP) and the payload cut into hashed store leaves,
 * in one pass (sealer.ts). Each input batch goes back to the caller for reuse with the leaves
 * it completed (one reply per input message, in order); leaf buffers come back to this thread
 * (`recycle`) once written, so a steady upload allocates nothing but the cipher's output.
 */

import { parentPort } from "node:worker_threads";
import { isVaultError } from "../errors.ts";
import { payloadKey } from "./payload.ts";
import { LeafPool, LeafSealer, type SealedLeaf } from "./sealer.ts";

export type ToWorker =
  | { id: number; op: "leaves"; key: Uint8Array; nonce: Uint8Array; leafSize: number }
  | { id: number; op: "data"; data: Uint8Array }
  | { id: number; op: "end" }
  | { id: number; op: "abort" }
  /** Leaf buffers written to disk, for reuse (session-less). */
  | { id: 0; op: "recycle"; buffers: ArrayBuffer[] };

export type FromWorker =
  | { id: number; op: "out"; leaves: SealedLeaf[]; spent: Uint8Array }
  | { id: number; op: "done"; leaves: SealedLeaf[]; sha256: Uint8Array }
  | { id: number; op: "error"; code: string; message: string };

const port = parentPort;
if (port === null) throw new Error("stream worker started outside a worker thread");
const sessions = new Map<number, LeafSealer>();

/** Leaves written by the store come back for reuse; with no upload left they are let go. */
const leafPool = new LeafPool();

function recycle(buffers: ArrayBuffer[]): void {
  if (sessions.size === 0) leafPool.clear();
  else for (const b of buffers) leafPool.give(new Uint8Array(b));
}

function post(message: FromWorker): void {
  const transfer: ArrayBuffer[] = [];
  if (message.op === "out") transfer.push(message.spent.buffer as ArrayBuffer);
  if (message.op !== "error") for (const leaf of message.leaves) transfer.push(leaf.bytes.buffer as ArrayBuffer);
  port?.postMessage(message, transfer);
}

function handle(m: ToWorker): void {
  if (m.op === "recycle") {
    recycle(m.buffers);
    return;
  }
  if (m.op === "leaves") {
    sessions.set(
      m.id,
      new LeafSealer(payloadKey(m.key, m.nonce), m.nonce, m.leafSize, leafPool.take, (leaf) => recycle([leaf.buffer as ArrayBuffer])),
    );
    m.key.fill(0);
    return;
  }
  const sealer = sessions.get(m.id);
  if (sealer === undefined) return; // failed or aborted: later messages are dropped
  if (m.op !== "data") sessions.delete(m.id);
  if (sessions.size === 0) leafPool.clear();
  if (m.op === "abort") {
    sealer.dispose();
    return;
  }
  try {
    if (m.op === "data") post({ id: m.id, op: "out", leaves: sealer.push(m.data), spent: m.data });
    else if (m.op === "end") post({ id: m.id, op: "done", ...sealer.end() });
  } catch (error) {
    sessions.delete(m.id);
    sealer.dispose();
    const code = isVaultError(error) ? error.code : ((error as { code?: string }).code ?? "INTERNAL");
    post({ id: m.id, op: "error", code, message: (error as Error).message });
  }
}

port.on("message", handle);
