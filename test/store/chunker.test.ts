import { describe, expect, it } from "vitest";
import { ChunkPool, copyingChunker } from "../../src/store/chunker.ts";

async function* pieces(...parts: Uint8Array[]): AsyncGenerator<Uint8Array> {
  yield* parts;
}

describe("ChunkPool", () => {
  it("reuses a chunk only after it is given back, and only once", () => {
    const pool = new ChunkPool(8, 4);
    const a = pool.take();
    const b = pool.take();
    expect(b.buffer).not.toBe(a.buffer);
    pool.give(a);
    pool.give(a); // a second give of the same chunk is ignored
    pool.give(new Uint8Array(8)); // so is a buffer the pool never handed out
    const c = pool.take();
    expect(c.buffer).toBe(a.buffer);
    const d = pool.take();
    expect([a.buffer, b.buffer]).not.toContain(d.buffer);
  });

  it("gives distinct chunks to the importer while none are given back", async () => {
    const pool = new ChunkPool(4, 4);
    const chunks: Uint8Array[] = [];
    for await (const chunk of copyingChunker(4, () => {}, {}, pool)(pieces(Uint8Array.of(1, 2, 3, 4, 5, 6), Uint8Array.of(7, 8, 9)))) {
      chunks.push(chunk);
    }
    expect(chunks.map((c) => [...c])).toEqual([[1, 2, 3, 4], [5, 6, 7, 8], [9]]);
    expect(chunks[1]?.buffer).not.toBe(chunks[0]?.buffer);
  });
});
