/** Where CLI commands read and write: a file or the standard streams, streamed either way. */

import { createReadStream } from "node:fs";
import { open } from "node:fs/promises";
import { VaultError } from "../errors.ts";

const READ_CHUNK = 1024 * 1024;

export function openInput(path: string | undefined): AsyncIterable<Uint8Array> {
  if (path === undefined || path === "-") return process.stdin;
  return createReadStream(path, { highWaterMark: READ_CHUNK });
}

export type Output = { write(pieces: Uint8Array[]): Promise<void>; close(): Promise<void> };

/**
 * Writes gathered pieces with one writev per batch (a STREAM chunk arrives as ciphertext and
 * tag). To a file opened with `mode`, or to stdout honouring back-pressure.
 */
export async function openOutput(path: string | undefined, options: { mode?: number; exclusive?: boolean } = {}): Promise<Output> {
  if (path === undefined || path === "-") {
    return {
      async write(pieces) {
        for (const p of pieces) {
          if (!process.stdout.write(p)) await new Promise((resolve) => process.stdout.once("drain", resolve));
        }
      },
      async close() {},
    };
  }
  const handle = await open(path, options.exclusive === true ? "wx" : "w", options.mode ?? 0o644).catch((cause: unknown) => {
    const code = (cause as { code?: string }).code;
    if (code === "EEXIST") throw new VaultError("CONFLICT", `${path} already exists`, { cause });
    throw new VaultError("IO_ERROR", `cannot open ${path} for writing`, { cause });
  });
  return {
    async write(pieces) {
      let left = pieces;
      while (left.length > 0) {
        const { bytesWritten } = await handle.writev(left);
        left = skipBytes(left, bytesWritten);
      }
    },
    async close() {
      await handle.close();
    },
  };
}

function skipBytes(pieces: Uint8Array[], n: number): Uint8Array[] {
  let i = 0;
  while (i < pieces.length && n >= (pieces[i] as Uint8Array).length) n -= (pieces[i++] as Uint8Array).length;
  if (i === pieces.length) return [];
  return [(pieces[i] as Uint8Array).subarray(n), ...pieces.slice(i + 1)];
}

/**
 * Drains an async byte stream into an output, batching pieces up to about `batchBytes`. One
 * write stays in flight while the next batch is computed, so encryption and disk overlap.
 */
export async function pump(source: AsyncIterable<Uint8Array>, out: Output, batchBytes = 1024 * 1024): Promise<number> {
  let batch: Uint8Array[] = [];
  let batched = 0;
  let total = 0;
  let inFlight: Promise<void> = Promise.resolve();
  const flush = async () => {
    const pieces = batch;
    batch = [];
    total += batched;
    batched = 0;
    await inFlight;
    inFlight = out.write(pieces);
  };
  try {
    for await (const piece of source) {
      batch.push(piece);
      batched += piece.length;
      if (batched >= batchBytes) await flush();
    }
  } finally {
    // On a failure too: what the source yielded is good (the envelope yields only authenticated plaintext).
    if (batch.length > 0) await flush();
    await inFlight;
  }
  return total;
}
