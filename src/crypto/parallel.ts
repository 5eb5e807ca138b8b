/**
 * File-to-file payload encryption and decryption on several threads. STREAM chunks are
 * independent (each nonce is the chunk counter), and one OpenSSL ChaCha20-Poly1305 thread is
 * slower than the disk, so a regular file is cut into chunk ranges that this thread and worker
 * threads take from a shared counter as they go, each reading and writing its own offsets. The
 * Go `age` CLI uses one core; this uses them all. Ranges are taken, not dealt: a worker needs
 * 40–80 ms to start here (80–250 ms before it shared the compile cache, threads.ts), and with
 * one fixed half each it finished that much after this thread; now this thread simply takes
 * more ranges meanwhile, and a worker that has not taken
 * any when the work is done is stopped without being waited for.
 * The rules are chunks.ts's, shared with the streaming path.
 */

import { availableParallelism } from "node:os";
import { VaultError } from "../errors.ts";
import { startWorker } from "../threads.ts";
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

/** What a worker gets: every range, and the shared word it takes the next one from. */
export type RangeQueue = { jobs: RangeJob[]; next: Int32Array; owner: Int32Array };
export type QueueReport = { index: number; result: RangeResult }[];

/** Takes the next range index, or -1 when none is left; marks who took it (`who` ≠ 0). */
export function takeRange(queue: RangeQueue, who: number): number {
  const index = Atomics.add(queue.next, 0, 1);
  if (index >= queue.jobs.length) return -1;
  Atomics.store(queue.owner, index, who);
  return index;
}

/**
 * Runs the ranges on this thread and `workers - 1` workers, results in range order. A worker
 * that took no range is terminated without waiting for it.
 */
async function runAll(jobs: RangeJob[], threads = workerCount()): Promise<RangeResult[]> {
  if (jobs.length === 0) return [];
  const queue: RangeQueue = {
    jobs,
    next: new Int32Array(new SharedArrayBuffer(4)),
    owner: new Int32Array(new SharedArrayBuffer(4 * jobs.length)),
  };
  const workers = Array.from({ length: Math.min(threads, jobs.length) - 1 }, () => startRangeWorker(queue));
  const results: RangeResult[] = new Array(jobs.length);
  const MAIN = -1;
  for (let index = takeRange(queue, MAIN); index >= 0; index = takeRange(queue, MAIN)) {
    results[index] = runHere(jobs[index] as RangeJob);
  }
  // Every range taken. If this thread ran them all, no worker has anything to report.
  const mineOnly = jobs.every((_, index) => Atomics.load(queue.owner, index) === MAIN);
  if (mineOnly) {
    for (const w of workers) w.stop();
    return results;
  }
  for (const report of await Promise.all(workers.map((w) => w.done))) {
    for (const { index, result } of report) results[index] = result;
  }
  return results;
}

function startRangeWorker(queue: RangeQueue): { done: Promise<QueueReport>; stop(): void } {
  const w = startWorker(new URL("./worker.ts", import.meta.url));
  const done = new Promise<QueueReport>((resolve, reject) => {
    w.once("message", (report: QueueReport) => {
      resolve(report);
      void w.terminate();
    });
    w.once("error", (cause) => reject(new VaultError("INTERNAL", "crypto worker failed", { cause })));
  });
  done.catch(() => {});
  w.postMessage(queue);
  return { done, stop: () => void w.terminate() };
}

/** Ranges of whole batches, about eight per thread (at least 4 MiB each), so threads can share them out. */
function ranges(total: number, threads: number): [number, number][] {
  const batches = Math.ceil(total / BATCH_CHUNKS);
  const per = Math.max(4, Math.ceil(batches / (Math.max(1, threads) * 8))) * BATCH_CHUNKS;
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
