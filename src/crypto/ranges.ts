/**
 * One chunk range of a file, sealed or opened straight from one file into another with
 * positional reads and writes (parallel.ts runs one range in this thread and the others in
 * workers, worker.ts). The rules are chunks.ts's.
 */

import { createSecretKey } from "node:crypto";
import { closeSync, openSync, readSync, writeSync, writevSync } from "node:fs";
import v8 from "node:v8";
import { runInNewContext } from "node:vm";
import { isVaultError } from "../errors.ts";
import { CHUNK_SIZE, ChunkOpener, SEALED_CHUNK, sealChunk } from "./chunks.ts";
import type { RangeJob, RangeResult } from "./parallel.ts";

const BATCH_CHUNKS = 16;
/**
 * node:crypto returns a fresh 64 KiB buffer per chunk. V8 sizes its collections by the JS heap,
 * where those buffers weigh almost nothing, so without help some 100 MiB of dead buffers pile up
 * per worker before a collection. A minor GC every few MiB keeps memory flat at little cost.
 */
const GC_EVERY_BATCHES = 1;
v8.setFlagsFromString("--expose-gc");
const collect = runInNewContext("gc") as (options: { type: "minor" | "major" }) => void;

function readFully(fd: number, buf: Buffer, length: number, position: number): number {
  let got = 0;
  while (got < length) {
    const n = readSync(fd, buf, got, length - got, position + got);
    if (n === 0) break;
    got += n;
  }
  return got;
}

/**
 * Plaintext goes out in 32 KiB writes, as `age` writes it; ciphertext one sealed chunk
 * (64 KiB + 16, one writev of its ciphertext and tag) per write, as age does: writing the
 * 16-byte tags on their own made encrypt 0.72–0.76 × age, one writev per chunk 0.86–0.87 ×.
 * Never one writev per batch: a 1 MiB write makes the kernel allocate large
 * page-cache folios, and on VMs with free page reporting (virtio-balloon, as here) high-order
 * free blocks are the ones handed back to the host, so each such write faults fresh host
 * memory in. Measured on this VM after 512 MiB of page cache was freed: decrypting 512 MiB
 * took 1.0–2.0 s with 1 MiB writevs (1.4–2.1 s in the kernel) and 0.5–0.6 s with 64 KiB
 * writes; in the bench harness, which frees 512 MiB before every run, decrypt with 32 KiB
 * writes measured 0.96 and 1.02 × age against 0.74 and 0.95 × with 64 KiB.
 */
const PLAINTEXT_WRITE = 32_768;

/** One sealed chunk (its ciphertext pieces and tag) per writev: 65,552 bytes, as age writes them. */
function writeSealed(fd: number, chunks: Buffer[][], position: number): void {
  let at = position;
  for (const chunk of chunks) {
    let left = chunk;
    while (left.length > 0) {
      let n = writevSync(fd, left, at);
      at += n;
      let i = 0;
      while (i < left.length && n >= (left[i] as Buffer).length) n -= (left[i++] as Buffer).length;
      left = i < left.length ? [(left[i] as Buffer).subarray(n), ...left.slice(i + 1)] : [];
    }
  }
}

function writeAll(fd: number, pieces: Buffer[], position: number, maxWrite: number): void {
  let at = position;
  for (const piece of pieces) {
    let done = 0;
    while (done < piece.length) done += writeSync(fd, piece, done, Math.min(maxWrite, piece.length - done), at + done);
    at += piece.length;
  }
}

/** One read buffer per thread for all its ranges: a fresh 1 MiB each time is 256 page faults. */
let batch: Buffer | undefined;
function batchBuffer(size: number): Buffer {
  if (batch === undefined || batch.length < size) batch = Buffer.allocUnsafeSlow(size);
  return batch;
}

export function runRange(job: RangeJob): RangeResult {
  const key = createSecretKey(job.key);
  const input = openSync(job.input, "r");
  const output = openSync(job.output, "r+");
  const inChunk = job.op === "seal" ? CHUNK_SIZE : SEALED_CHUNK;
  const outChunk = job.op === "seal" ? SEALED_CHUNK : CHUNK_SIZE;
  const buf = batchBuffer(BATCH_CHUNKS * inChunk);
  const opener = new ChunkOpener(key, job.first);
  const nonce = Buffer.alloc(12);
  try {
    for (let c = job.first; c < job.end; c += BATCH_CHUNKS) {
      const n = Math.min(BATCH_CHUNKS, job.end - c);
      const inAt = job.inOffset + c * inChunk;
      const want = Math.min(n * inChunk, job.inEnd - inAt);
      if (readFully(input, buf, want, inAt) !== want) return { failedAt: c, reason: "input changed while reading", io: true };
      const pieces: Buffer[] = [];
      const sealed: Buffer[][] = [];
      for (let k = 0; k < n; k++) {
        const chunk = buf.subarray(k * inChunk, Math.min((k + 1) * inChunk, want));
        const index = c + k;
        const last = index === job.total - 1;
        if (job.op === "seal") sealed.push(sealChunk(key, index, last, [chunk], nonce));
        else {
          try {
            pieces.push(opener.next(chunk, last));
          } catch (error) {
            // Plaintext authenticated before the failure is still written.
            writeAll(output, pieces, job.outOffset + c * outChunk, PLAINTEXT_WRITE);
            return { failedAt: index, reason: isVaultError(error) ? error.message : String(error) };
          }
        }
      }
      if (job.op === "seal") writeSealed(output, sealed, job.outOffset + c * outChunk);
      else writeAll(output, pieces, job.outOffset + c * outChunk, PLAINTEXT_WRITE);
      if (((c - job.first) / BATCH_CHUNKS) % GC_EVERY_BATCHES === GC_EVERY_BATCHES - 1) collect({ type: "minor" });
    }
    return job.op === "open" && opener.sawFinal ? { finalAt: opener.counter - 1 } : {};
  } finally {
    closeSync(input);
    closeSync(output);
  }
}
