/**
 * The age v1 payload (C2SP) and the plaintext's SHA-256, computed off the event loop: the
 * vault's upload and verified download hand their bytes to a streaming worker thread
 * (stream-worker.ts) and get ciphertext or authenticated plaintext back, in order. The event
 * loop keeps the HTTP parsing, block hashing and disk writes; the worker does the crypto, so
 * the two overlap on two cores.
 *
 * Input is gathered into fresh 1 MiB batches (one copy: the caller's pieces are often views of
 * shared socket buffers, which cannot be transferred) and at most `MAX_IN_FLIGHT` batches are
 * ahead of the consumer, so memory stays flat. Outputs are the worker's own buffers, moved here.
 * The bytes match encryptPayload/decryptPayload exactly, and decryption releases only
 * authenticated plaintext, as there.
 */

import { createHash, randomBytes } from "node:crypto";
import type { Worker } from "node:worker_threads";
import { type ErrorCode, VaultError } from "../errors.ts";
import { startWorker } from "../threads.ts";
import { decryptPayload, encryptPayload, NONCE_SIZE } from "./payload.ts";
import type { FromWorker, ToWorker } from "./stream-worker.ts";

const BATCH_BYTES = 1024 * 1024;
const MAX_IN_FLIGHT = 3;
const DEFAULT_WORKERS = 0;

type Source = AsyncIterable<Uint8Array> | Iterable<Uint8Array>;

export type OffloadOptions = {
  signal?: AbortSignal;
  /** Move (detach) source buffers that own their whole ArrayBuffer instead of copying them. */
  transfer?: boolean;
};

/** A payload stream and the SHA-256 of the plaintext, known once the stream has ended. */
export type HashedStream = { stream: AsyncGenerator<Uint8Array>; sha256(): Uint8Array };

type Slot = { worker: Worker; sessions: Map<number, (m: FromWorker) => void> };
let slots: Slot[] | undefined;
let nextId = 1;

/** MEDVAULT_STREAM_WORKERS: worker threads for payload streams; 0 keeps them on the event loop. */
function poolSize(): number {
  const configured = process.env.MEDVAULT_STREAM_WORKERS;
  if (configured !== undefined && configured !== "") return Math.max(0, Math.min(16, Number.parseInt(configured, 10) || 0));
  // Off by default for now: on 2 cores the worker adds about 100 MiB of peak RSS to a 2 GiB
  // upload (over the 300 MiB budget) for a gain the shared machine could not show reliably.
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

function ownsBuffer(b: Uint8Array): boolean {
  return b.byteOffset === 0 && b.byteLength === b.buffer.byteLength && b.buffer instanceof ArrayBuffer && b.byteLength >= 4096;
}

async function* run(
  start: ToWorker,
  source: Source,
  options: OffloadOptions,
  onDigest: (d: Uint8Array) => void,
): AsyncGenerator<Uint8Array> {
  const slot = pickSlot();
  const id = start.id;
  const inbox: FromWorker[] = [];
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
    inbox.push(m);
    notify();
  });
  if (slot.sessions.size === 1) slot.worker.ref();
  const send = (m: ToWorker, transfer: ArrayBuffer[] = []) => slot.worker.postMessage(m, transfer);
  send(start, []);
  if (start.op === "seal" || start.op === "open") start.key.fill(0);

  const waitForRoom = () => (sent - taken < MAX_IN_FLIGHT || finished ? undefined : new Promise<void>((resolve) => (room = resolve)));

  const pump = (async () => {
    let batch = Buffer.allocUnsafeSlow(BATCH_BYTES);
    let filled = 0;
    const flush = async () => {
      if (filled === 0) return;
      const data = filled === batch.byteLength ? batch : batch.subarray(0, filled);
      sent++;
      send({ id, op: "data", data }, [batch.buffer as ArrayBuffer]);
      batch = Buffer.allocUnsafeSlow(BATCH_BYTES);
      filled = 0;
      await waitForRoom();
    };
    for await (const piece of source) {
      options.signal?.throwIfAborted();
      if (finished) return;
      if (options.transfer === true && filled === 0 && ownsBuffer(piece)) {
        sent++;
        send({ id, op: "data", data: piece }, [piece.buffer as ArrayBuffer]);
        await waitForRoom();
        continue;
      }
      for (let at = 0; at < piece.byteLength; ) {
        const n = Math.min(BATCH_BYTES - filled, piece.byteLength - at);
        batch.set(piece.subarray(at, at + n), filled);
        filled += n;
        at += n;
        if (filled === BATCH_BYTES) await flush();
      }
    }
    await flush();
    options.signal?.throwIfAborted();
    send({ id, op: "end" });
  })().catch((error: unknown) => {
    pumpFailure = { error };
    notify();
  });

  try {
    for (;;) {
      const m = inbox.shift();
      if (m === undefined) {
        // A failing source (say, a block that failed verification) fails the stream only after
        // the output of the batches sent before it: the consumer gets every authenticated byte.
        if (pumpFailure !== undefined && received >= sent) throw pumpFailure.error;
        await new Promise<void>((resolve) => (wake = resolve));
        continue;
      }
      if (m.op === "error") throw new VaultError(m.code as ErrorCode, m.message);
      taken++;
      room?.();
      room = undefined;
      if (m.data !== null) yield m.data;
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

/** The same stream on this thread, for MEDVAULT_STREAM_WORKERS=0. */
function here(start: ToWorker & { op: "seal" | "open" }, source: Source, options: OffloadOptions): HashedStream {
  const hash = createHash("sha256");
  const signal = options.signal === undefined ? {} : { signal: options.signal };
  let digest: Uint8Array | undefined;
  const fileKey = new Uint8Array(start.key);
  start.key.fill(0);
  async function* hashing(input: Source): AsyncGenerator<Uint8Array> {
    for await (const piece of input) {
      hash.update(piece);
      yield piece;
    }
  }
  const inner =
    start.op === "seal"
      ? encryptPayload(fileKey, hashing(source), { ...signal, nonce: start.nonce })
      : hashing(decryptPayload(fileKey, source, signal));
  return {
    stream: (async function* () {
      try {
        yield* inner;
        digest = new Uint8Array(hash.digest());
      } finally {
        fileKey.fill(0);
      }
    })(),
    sha256() {
      if (digest === undefined) throw new VaultError("INTERNAL", "the payload stream has not ended");
      return digest;
    },
  };
}

function hashed(start: ToWorker & { op: "seal" | "open" }, source: Source, options: OffloadOptions, before?: Uint8Array): HashedStream {
  if (poolSize() === 0) return here(start, source, options);
  let digest: Uint8Array | undefined;
  const inner = run(start, source, options, (d) => {
    digest = d;
  });
  return {
    stream: (async function* () {
      if (before !== undefined) yield before;
      yield* inner;
    })(),
    sha256() {
      if (digest === undefined) throw new VaultError("INTERNAL", "the payload stream has not ended");
      return digest;
    },
  };
}

/** Like encryptPayload, off the event loop, plus the plaintext's SHA-256. */
export function encryptPayloadOffThread(
  fileKey: Uint8Array,
  source: Source,
  options: OffloadOptions & { nonce?: Uint8Array } = {},
): HashedStream {
  const nonce = options.nonce ?? randomBytes(NONCE_SIZE);
  if (nonce.length !== NONCE_SIZE) throw new VaultError("BAD_REQUEST", "payload nonce must be 16 bytes");
  const start = { id: nextId++, op: "seal" as const, key: new Uint8Array(fileKey), nonce: new Uint8Array(nonce) };
  return hashed(start, source, options, new Uint8Array(nonce));
}

/** Like decryptPayload, off the event loop, plus the plaintext's SHA-256. */
export function decryptPayloadOffThread(fileKey: Uint8Array, source: Source, options: OffloadOptions = {}): HashedStream {
  return hashed({ id: nextId++, op: "open", key: new Uint8Array(fileKey) }, source, options);
}
