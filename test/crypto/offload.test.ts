import { createHash, randomBytes } from "node:crypto";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decryptPayload, decryptPayloadHashed, encryptPayload, newFileKey } from "../../src/crypto/index.ts";
import { type SealedLeaves, sealLeavesOffThread } from "../../src/crypto/offload.ts";
import { isVaultError } from "../../src/errors.ts";
import { bytes, collect, pieces, SIZES } from "./helpers.ts";

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest();
const MiB = 1024 * 1024;
const EDGES = [...SIZES, MiB - 1, MiB, MiB + 1, 2 * MiB + 65536];

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
  } catch (error) {
    return isVaultError(error) ? error.code : `not a VaultError: ${error}`;
  }
  return undefined;
}

/** Reads every leaf, checks its size and digest, copies it and gives its buffer back. */
async function payloadOf(sealed: SealedLeaves, leafSize: number): Promise<Buffer> {
  const leaves: Buffer[] = [];
  let short = false;
  for await (const leaf of sealed.leaves) {
    expect(short, "only the last leaf may be short").toBe(false);
    expect(leaf.bytes.byteLength).toBeLessThanOrEqual(leafSize);
    short = leaf.bytes.byteLength < leafSize;
    expect(Buffer.from(leaf.sha256).equals(sha(leaf.bytes))).toBe(true);
    leaves.push(Buffer.from(leaf.bytes));
    sealed.release(leaf.bytes);
  }
  return Buffer.concat(leaves);
}

/** Yields `data` in pieces through one buffer that it overwrites after each piece. */
async function* reusing(data: Uint8Array, cuts: readonly number[]): AsyncGenerator<Uint8Array> {
  const buffer = Buffer.alloc(Math.max(...cuts));
  for (const piece of pieces(data, cuts)) {
    buffer.set(piece);
    yield buffer.subarray(0, piece.byteLength);
    buffer.fill(0xee);
  }
}

describe.each(["1", "0"])("upload leaves with MEDVAULT_STREAM_WORKERS=%s", (workers) => {
  const saved = process.env.MEDVAULT_STREAM_WORKERS;
  beforeAll(() => {
    process.env.MEDVAULT_STREAM_WORKERS = workers;
  });
  afterAll(() => {
    if (saved === undefined) delete process.env.MEDVAULT_STREAM_WORKERS;
    else process.env.MEDVAULT_STREAM_WORKERS = saved;
  });

  it("cuts encryptPayload's exact bytes into hashed leaves, at chunk, batch and leaf edges", async () => {
    const key = newFileKey();
    const nonce = randomBytes(16);
    for (const leafSize of [MiB, 1000, 65552 + 1]) {
      for (const size of EDGES) {
        const data = bytes(size, size + 3);
        const sealed = sealLeavesOffThread(key, reusing(data, [7000, 65536, MiB, 3]), { nonce, leafSize });
        const payload = await payloadOf(sealed, leafSize);
        expect(payload.equals(await collect(encryptPayload(key, pieces(data), { nonce }))), `size ${size}, leaf ${leafSize}`).toBe(true);
        expect(Buffer.from(sealed.sha256()).equals(sha(data))).toBe(true);
      }
    }
  });

  it("property: decrypt(seal(x)) = x for any cuts, with leaf buffers given back and reused", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 3 * MiB }),
        fc.array(fc.integer({ min: 1, max: 1_200_000 }), { minLength: 1, maxLength: 4 }),
        async (size, cuts) => {
          const key = newFileKey();
          const data = bytes(size, cuts[0]);
          const sealed = sealLeavesOffThread(key, reusing(data, cuts), { leafSize: MiB });
          const payload = await payloadOf(sealed, MiB);
          expect((await collect(decryptPayload(key, [payload]))).equals(data)).toBe(true);
          expect(Buffer.from(sealed.sha256()).equals(sha(data))).toBe(true);
        },
      ),
      { numRuns: 25 },
    );
  });

  it("propagates a source error and an abort mid-stream, and keeps working afterwards", async () => {
    const key = newFileKey();
    async function* failing() {
      yield bytes(3 * MiB);
      throw Object.assign(new Error("boom"), { code: "X" });
    }
    await expect(payloadOf(sealLeavesOffThread(key, failing(), { leafSize: MiB }), MiB)).rejects.toThrow("boom");

    const abort = new AbortController();
    async function* slow() {
      for (let i = 0; i < 64; i++) {
        if (i === 5) abort.abort(new Error("stop"));
        yield bytes(MiB, i + 1);
      }
    }
    await expect(payloadOf(sealLeavesOffThread(key, slow(), { leafSize: MiB, signal: abort.signal }), MiB)).rejects.toThrow("stop");

    // A consumer that stops early releases its session.
    const s = sealLeavesOffThread(key, [bytes(8 * MiB)], { leafSize: MiB });
    for await (const _ of s.leaves) break;
    expect(() => s.sha256()).toThrow();

    const data = bytes(200_000);
    const payload = await payloadOf(sealLeavesOffThread(key, [data], { leafSize: MiB }), MiB);
    expect(await collect(decryptPayload(key, [payload]))).toEqual(data);
  });

  it("runs several sessions at once on the same workers", async () => {
    const key = newFileKey();
    const inputs = Array.from({ length: 6 }, (_, i) => bytes(700_000 + i * 300_000, i + 1));
    const outs = await Promise.all(inputs.map((d) => payloadOf(sealLeavesOffThread(key, pieces(d, [100_000]), { leafSize: MiB }), MiB)));
    for (const [i, payload] of outs.entries()) expect(await collect(decryptPayload(key, [payload]))).toEqual(inputs[i]);
  });

  it("refuses a bad nonce or leaf size", () => {
    const key = newFileKey();
    expect(() => sealLeavesOffThread(key, [], { leafSize: MiB, nonce: new Uint8Array(15) })).toThrow("16 bytes");
    expect(() => sealLeavesOffThread(key, [], { leafSize: 0 })).toThrow("leafSize");
  });
});

describe("decryptPayloadHashed", () => {
  it("gives the plaintext's SHA-256; refuses a flipped byte, a truncation and a wrong key, releasing nothing after the bad chunk", async () => {
    const key = newFileKey();
    const data = bytes(5 * 65536 + 9);
    const payload = await collect(encryptPayload(key, [data]));
    const opened = decryptPayloadHashed(key, pieces(payload, [65552, 17, MiB]));
    expect((await collect(opened.stream)).equals(data)).toBe(true);
    expect(Buffer.from(opened.sha256()).equals(sha(data))).toBe(true);

    const flipped = Buffer.from(payload);
    flipped.writeUInt8((flipped.readUInt8(16 + 2 * 65552 + 5) ^ 1) & 0xff, 16 + 2 * 65552 + 5);
    const released: Uint8Array[] = [];
    const failed = decryptPayloadHashed(key, [flipped]);
    const code = await codeOf(
      (async () => {
        for await (const p of failed.stream) released.push(p);
      })(),
    );
    expect(code).toBe("PAYLOAD_FAILURE");
    expect(Buffer.concat(released).length).toBeLessThanOrEqual(2 * 65536);
    expect(() => failed.sha256()).toThrow();
    expect(await codeOf(collect(decryptPayloadHashed(key, [payload.subarray(0, 16 + 65552)]).stream))).toBe("PAYLOAD_FAILURE");
    expect(await codeOf(collect(decryptPayloadHashed(newFileKey(), [payload]).stream))).toBe("PAYLOAD_FAILURE");
    expect(await codeOf(collect(decryptPayloadHashed(key, [payload.subarray(0, 9)]).stream))).toBe("HEADER_FAILURE");
  });
});
