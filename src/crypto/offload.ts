/**
 * An upload's crypto off the event loop: the plaintext goes to a worker thread
 * (stream-worker.ts), which hashes it, seals it as an age v1 payload (C2SP) and cuts the
 * payload into hashed store leaves (sealer.ts). The event loop keeps the HTTP parsing and the
 * disk writes, so the two overlap on two cores.
 *
 * Input is gathered into 1 MiB batches (one copy: the caller's pieces are often views of
 * shared socket buffers, which cannot be transferred) and at most `MAX_IN_FLIGHT` batches are
 * ahead of the consumer, so memory stays flat. Batches come back with the leaves they
 * completed and are filled again; leaf buffers go back to the worker through `release` once
 * the store has written them. The bytes match encryptPayload exactly.
 */

import { randomBytes } from "node:crypto";
import type { Worker } from "node:worker_threads";
import { type ErrorCode, VaultError } from "../errors.ts";
import { startWorker } from "../threads.ts";
import { NONCE_SIZE, payloadKey } from "./payload.ts";
import { LeafPool, LeafSealer, type SealedLeaf } from "./sealer.ts";
import type { FromWorker, ToWorker } from "./stream-worker.ts";

export type { SealedLeaf } from "./sealer.ts";

const BATCH_BYTES = 1024 * 1024;
const MAX_IN_FLIGHT = 3;
/** One worker beside the event loop: the machines this was measured on have 2 cores. */
const DEFAULT_WORKERS = 1;

type Source = AsyncIterable<Uint8Array> | Iterable<Uint8Array>;

/**
 * An upload's payload as store leaves; the plaintext's SHA-256 once they have all been read;
 * `release` gives a leaf's buffer back for reuse once nothing reads it any more (optional).
 */
export type SealedLeaves = {
  leaves: AsyncGenerator<SealedLeaf>;
  sha256(): Uint8Array;
  release(bytes: Uint8Array): void;
};

type Slot = { worker: Worker; sessions: Map<number, (m: FromWorker) => void> };
let slots: Slot[] | undefined;
let nextId = 1;

/** MEDVAULT_STREAM_WORKERS: worker threads for uploads; 0 keeps their crypto on the event loop. */
function poolSize(): number {
  const configured = process.env.MEDVAULT_STREAM_WORKERS;
  if (configured !== undefined && configured !== "") return Math.max(0, Math.min(16, Number.parseInt(configured, 10) || 0));
  return DEFAULT_WORKERS;
}

function startSlot(): Slot {
  // A small young generation: the worker's garbage is mostly per-chunk cipher output.
  const worker = startWorker(new URL("./stream-worker.ts", import.meta.url), { resourceLimits: { maxYoungGenerationSizeMb: 2 } });
  const slot: Slot = { worker, sessions: new Map() };
  worker.unref();
  worker.on("message", (m: FromWorker) => slot.sessions.get(m.id)?.(m));
  worker.on("error", (cause) => {
    // Every session on it fails; the next session gets a fresh worker.
    const i = slots?.indexOf(slot) ?? -1;
    if (i >= 0) slots?.splice(i, 1, startSlot());
    for (const [id, deliver] of slot.sessions) deliver({ id, op: "error", code: "INTERNAL", message: String(cause) });
    slot.sessions.clear();
  });
  return slot;
}

/** The least busy worker; workers start on first use and never keep the process alive when idle. */
function pickSlot(): Slot {
  slots ??= Array.from({ length: poolSize() }, startSlot);
  return slots.reduce((a, b) => (b.sessions.size < a.sessions.size ? b : a));
}

/** One session on `slot`: pumps `source` to the worker in batches and yields the leaves, in order. */
async function* run(
  slot: Slot,
  start: ToWorker & { op: "leaves" },
  source: Source,
  signal: AbortSignal | undefined,
  onDigest: (d: Uint8Array) => void,
): AsyncGenerator<SealedLeaf> {
  const id = start.id;
  const inbox: FromWorker[] = [];
  const spares: Uint8Array[] = [];
  let wake: (() => void) | undefined;
  let pumpFailure: { error: unknown } | undefined;
  let sent = 0;
  let received = 0;
  let taken = 0;
  let room: (() => void) | undefined;
  let finished = false;
  const notify = () => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  slot.sessions.set(id, (m) => {
    received++;
    if (m.op === "out") spares.push(new Uint8Array(m.spent.buffer));
    inbox.push(m);
    notify();
  });
  if (slot.sessions.size === 1) slot.worker.ref();
  const send = (m: ToWorker, transfer: ArrayBuffer[] = []) => slot.worker.postMessage(m, transfer);
  send(start);
  start.key.fill(0);

  const waitForRoom = () => (sent - taken < MAX_IN_FLIGHT || finished ? undefined : new Promise<void>((resolve) => (room = resolve)));

  const pump = (async () => {
    let batch: Uint8Array | undefined;
    let filled = 0;
    const flush = async () => {
      if (batch === undefined || filled === 0) return;
      sent++;
      send({ id, op: "data", data: filled === batch.byteLength ? batch : batch.subarray(0, filled) }, [batch.buffer as ArrayBuffer]);
      batch = undefined;
      filled = 0;
      await waitForRoom();
    };
    for await (const piece of source) {
      signal?.throwIfAborted();
      if (finished) return;
      for (let at = 0; at < piece.byteLength; ) {
        batch ??= spares.pop() ?? new Uint8Array(BATCH_BYTES);
        const n = Math.min(BATCH_BYTES - filled, piece.byteLength - at);
        batch.set(piece.subarray(at, at + n), filled);
        filled += n;
        at += n;
        if (filled === BATCH_BYTES) await flush();
      }
    }
    await flush();
    signal?.throwIfAborted();
    send({ id, op: "end" });
  })().catch((error: unknown) => {
    pumpFailure = { error };
    notify();
  });

  try {
    for (;;) {
      const m = inbox.shift();
      if (m === undefined) {
        // A failing source fails the stream only after the leaves of the batches sent before it.
        if (pumpFailure !== undefined && received >= sent) throw pumpFailure.error;
        await new Promise<void>((resolve) => (wake = resolve));
        continue;
      }
      if (m.op === "error") throw new VaultError(m.code as ErrorCode, m.message);
      taken++;
      room?.();
      room = undefined;
      yield* m.leaves;
      if (m.op === "done") {
        finished = true;
        onDigest(m.sha256);
        await pump;
        return;
      }
    }
  } finally {
    if (!finished) {
      finished = true;
      send({ id, op: "abort" });
      room?.();
      // The source is left to the pump, which stops at its next piece.
      void pump;
    }
    slot.sessions.delete(id);
    if (slot.sessions.size === 0) slot.worker.unref();
  }
}

function notEnded(): never {
  throw new VaultError("INTERNAL", "the payload stream has not ended");
}

/** Leaf buffers kept for reuse when uploads seal on the event loop. */
const hereLeaves = new LeafPool();

/** The same on this thread, for MEDVAULT_STREAM_WORKERS=0. */
function sealHere(fileKey: Uint8Array, nonce: Uint8Array, leafSize: number, source: Source, signal?: AbortSignal): SealedLeaves {
  const key = payloadKey(fileKey, nonce);
  let digest: Uint8Array | undefined;
  return {
    leaves: (async function* () {
      const sealer = new LeafSealer(key, nonce, leafSize, hereLeaves.take, hereLeaves.give);
      try {
        for await (const piece of source) {
          signal?.throwIfAborted();
          yield* sealer.push(piece);
        }
        const end = sealer.end();
        yield* end.leaves;
        digest = end.sha256;
      } finally {
        sealer.dispose();
      }
    })(),
    sha256: () => digest ?? notEnded(),
    release: hereLeaves.give,
  };
}

/**
 * Encrypts `source` into an age payload (the bytes of encryptPayload) cut into leaves of
 * `leafSize` bytes, each with its SHA-256, and hashes the plaintext: on a worker thread
 * unless MEDVAULT_STREAM_WORKERS=0. The caller may reuse its buffers once the next is asked for.
 */
export function sealLeavesOffThread(
  fileKey: Uint8Array,
  source: Source,
  options: { leafSize: number; nonce?: Uint8Array; signal?: AbortSignal },
): SealedLeaves {
  const nonce = options.nonce ?? randomBytes(NONCE_SIZE);
  if (nonce.length !== NONCE_SIZE) throw new VaultError("BAD_REQUEST", "payload nonce must be 16 bytes");
  if (!Number.isSafeInteger(options.leafSize) || options.leafSize < 64)
    throw new VaultError("BAD_REQUEST", "leafSize must be an integer of at least 64");
  if (poolSize() === 0) return sealHere(fileKey, nonce, options.leafSize, source, options.signal);
  const slot = pickSlot();
  let digest: Uint8Array | undefined;
  const start = {
    id: nextId++,
    op: "leaves" as const,
    key: new Uint8Array(fileKey),
    nonce: new Uint8Array(nonce),
    leafSize: options.leafSize,
  };
  return {
    leaves: run(slot, start, source, options.signal, (d) => (digest = d)),
    sha256: () => digest ?? notEnded(),
    release(bytes) {
      // Back to the worker that made it, unless it is a short last leaf or that worker failed.
      if (bytes.buffer.byteLength !== options.leafSize || !slots?.includes(slot)) return;
      const buffer = bytes.buffer as ArrayBuffer;
      slot.worker.postMessage({ id: 0, op: "recycle", buffers: [buffer] } satisfies ToWorker, [buffer]);
    },
  };
}
