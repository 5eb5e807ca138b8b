/**
 * File-to-file payload encryption and decryption on several threads. STREAM chunks are
 * independent (each nonce is the chunk counter), and one OpenSSL ChaCha20-Poly1305 thread is
 * slower than the disk, so a regular file is cut into chunk ranges, one per core (this thread
 * takes the first, worker threads the others), each reading and writing its own offsets. The Go `age` CLI uses one core; this uses them all.
 * The rules are chunks.ts's, shared with the streaming path.
 */

import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import { VaultError } from "../errors.ts";
import { CHUNK_SIZE, SEALED_CHUNK, TAG_SIZE } from "./chunks.ts";
import { runRange } from "./ranges.ts";

export type RangeJob = {
  op: "seal" | "open";
  key: Uint8Array;
  input: string;
  output: string;
  /** Where chunk 0 starts in the input and in the output. */
  inOffset: number;
  outOffset: number;
  /** Input byte where the payload ends (exclusive). */
  inEnd: number;
  /** Chunks [first, end) of `total`. */
  first: number;
  end: number;
  total: number;
};
export type RangeResult = { failedAt?: number; reason?: string; io?: boolean; finalAt?: number };

const BATCH_CHUNKS = 16;

export function workerCount(): number {
  const configured = process.env.MEDVAULT_CRYPTO_WORKERS;
  if (configured !== undefined && configured !== "") return Math.max(1, Math.min(16, Number.parseInt(configured, 10) || 1));
  return Math.min(8, availableParallelism());
}

/** Files at least this large go through the workers (a worker costs a few ms to start). */
export function parallelMinBytes(): number {
  const configured = process.env.MEDVAULT_PARALLEL_MIN_BYTES;
  return configured !== undefined && configured !== "" ? Number(configured) : 8 * 1024 * 1024;
}

/** Runs a range here (blocking this thread: the CLI has nothing else to do) without throwing. */
function runHere(job: RangeJob): RangeResult {
  try {
    return runRange(job);
  } catch (error) {
    return { failedAt: job.first, reason: (error as Error).message, io: true };
  }
}

/** Ranges after the first go to workers, started first; the first runs in this thread meanwhile. */
async function runAll(jobs: RangeJob[]): Promise<RangeResult[]> {
  const [first, ...rest] = jobs;
  if (first === undefined) return [];
  const others = rest.map(runWorker);
  for (const p of others) p.catch(() => {});
  const mine = runHere(first);
  return [mine, ...(await Promise.all(others))];
}

function runWorker(job: RangeJob): Promise<RangeResult> {
  return new Promise((resolve, reject) => {
    const w = new Worker(new URL("./worker.ts", import.meta.url));
    w.once("message", (r: RangeResult) => {
      resolve(r);
      void w.terminate();
    });
    w.once("error", (cause) => reject(new VaultError("INTERNAL", "crypto worker failed", { cause })));
    w.postMessage(job);
  });
}

function ranges(total: number, workers: number): [number, number][] {
  const batches = Math.ceil(total / BATCH_CHUNKS);
  const per = Math.ceil(batches / Math.max(1, Math.min(workers, batches))) * BATCH_CHUNKS;
  const out: [number, number][] = [];
  for (let first = 0; first < total; first += per) out.push([first, Math.min(total, first + per)]);
  return out;
}

type Files = { key: Uint8Array; input: string; output: string; inOffset: number; outOffset: number };

/** Seals `plaintextBytes` of `input` (from inOffset) into `output` at outOffset. Returns ciphertext bytes. */
export async function sealFile(files: Files & { plaintextBytes: number }): Promise<number> {
  const total = Math.max(1, Math.ceil(files.plaintextBytes / CHUNK_SIZE));
  const inEnd = files.inOffset + files.plaintextBytes;
  const results = await runAll(ranges(total, workerCount()).map(([first, end]) => ({ op: "seal", ...files, inEnd, first, end, total })));
  const failed = results.find((r) => r.failedAt !== undefined);
  if (failed !== undefined) throw new VaultError("IO_ERROR", failed.reason ?? "encryption failed");
  return files.plaintextBytes + total * TAG_SIZE;
}

/**
 * Opens the payload body (after the nonce) of `input` into `output`. On failure the output
 * is cut back to the plaintext authenticated before the first failing chunk, then PAYLOAD_FAILURE.
 */
export async function openFile(
  files: Files & { sealedBytes: number },
): Promise<{ plaintextBytes: number; truncateTo?: number; failure?: VaultError }> {
  if (files.sealedBytes === 0)
    return { plaintextBytes: 0, truncateTo: 0, failure: new VaultError("PAYLOAD_FAILURE", "payload has no STREAM chunk") };
  const total = Math.ceil(files.sealedBytes / SEALED_CHUNK);
  const inEnd = files.inOffset + files.sealedBytes;
  const results = await runAll(ranges(total, workerCount()).map(([first, end]) => ({ op: "open", ...files, inEnd, first, end, total })));
  // The first failure wins; a final chunk that is not the last chunk is a failure right after it.
  let failedAt = total;
  let reason = "";
  for (const r of results) {
    if (r.failedAt !== undefined && r.failedAt < failedAt) [failedAt, reason] = [r.failedAt, r.reason ?? "STREAM failure"];
    if (r.finalAt !== undefined && r.finalAt < total - 1 && r.finalAt + 1 < failedAt)
      [failedAt, reason] = [r.finalAt + 1, "data after the final STREAM chunk"];
  }
  const lastSize = files.sealedBytes - (total - 1) * SEALED_CHUNK - TAG_SIZE;
  const plaintextBytes = (total - 1) * CHUNK_SIZE + Math.max(0, lastSize);
  if (failedAt === total) {
    if (results.at(-1)?.finalAt === total - 1) return { plaintextBytes };
    // Every chunk authenticated, but as a middle chunk: the payload was cut short.
    return { plaintextBytes, failure: new VaultError("PAYLOAD_FAILURE", "payload ends without a final STREAM chunk") };
  }
  return {
    plaintextBytes: failedAt * CHUNK_SIZE,
    truncateTo: files.outOffset + failedAt * CHUNK_SIZE,
    failure: new VaultError("PAYLOAD_FAILURE", reason),
  };
}
