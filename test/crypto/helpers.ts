/** Test helpers for the envelope: collecting streams, deterministic data, temp dirs. */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export async function collect(source: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const p of source) parts.push(p);
  return Buffer.concat(parts);
}

/** Cheap deterministic bytes (xorshift), so failures replay. */
export function bytes(size: number, seed = 1): Buffer {
  const out = Buffer.allocUnsafe(size);
  let x = seed | 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** Splits a buffer into pieces at the given cut sizes (cycled), to exercise stream boundaries. */
export function* pieces(data: Uint8Array, cuts: readonly number[] = [data.length || 1]): Generator<Uint8Array> {
  let at = 0;
  let i = 0;
  while (at < data.length) {
    const n = Math.max(1, cuts[i++ % cuts.length] as number);
    yield data.subarray(at, at + n);
    at += n;
  }
}

export function tempDir(prefix = "medvault-test-"): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

export const SIZES = [0, 1, 65535, 65536, 65537, 3 * 65536, 10 * 1024 * 1024 + 7];
