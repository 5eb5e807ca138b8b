import { createHash, randomBytes } from "node:crypto";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decryptPayload, encryptPayload, newFileKey } from "../../src/crypto/index.ts";
import { decryptPayloadOffThread, encryptPayloadOffThread } from "../../src/crypto/offload.ts";
import { isVaultError } from "../../src/errors.ts";
import { bytes, collect, pieces, SIZES } from "./helpers.ts";

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest();
const EDGES = [...SIZES, 1024 * 1024 - 1, 1024 * 1024, 1024 * 1024 + 1, 2 * 1024 * 1024 + 65536];

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
  } catch (error) {
    return isVaultError(error) ? error.code : `not a VaultError: ${error}`;
  }
  return undefined;
}

describe.each(["1", "0"])("payload streams with MEDVAULT_STREAM_WORKERS=%s", (workers) => {
  const saved = process.env.MEDVAULT_STREAM_WORKERS;
  beforeAll(() => {
    process.env.MEDVAULT_STREAM_WORKERS = workers;
  });
  afterAll(() => {
    if (saved === undefined) delete process.env.MEDVAULT_STREAM_WORKERS;
    else process.env.MEDVAULT_STREAM_WORKERS = saved;
  });

  it("seals the same bytes as encryptPayload and opens them back, at chunk and batch edges", async () => {
    const key = newFileKey();
    const nonce = randomBytes(16);
    for (const size of EDGES) {
      const data = bytes(size, size + 3);
      const sealed = encryptPayloadOffThread(key, pieces(data, [7000, 65536, 1 << 20, 3]), { nonce });
      const payload = await collect(sealed.stream);
      expect(payload.equals(await collect(encryptPayload(key, pieces(data), { nonce }))), `size ${size}`).toBe(true);
      expect(Buffer.from(sealed.sha256()).equals(sha(data))).toBe(true);
      const opened = decryptPayloadOffThread(key, pieces(payload, [65552, 17, 1 << 20]));
      expect((await collect(opened.stream)).equals(data), `size ${size}`).toBe(true);
      expect(Buffer.from(opened.sha256()).equals(sha(data))).toBe(true);
    }
  });

  it("property: decrypt(encrypt(x)) = x for any cuts; transferred input is moved, not shared", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 300_000 }),
        fc.array(fc.integer({ min: 1, max: 200_000 }), { minLength: 1, maxLength: 4 }),
        async (size, cuts) => {
          const key = newFileKey();
          const data = bytes(size, cuts[0]);
          const payload = await collect(encryptPayloadOffThread(key, pieces(data, cuts)).stream);
          const own = [...pieces(payload, cuts)].map((p) => new Uint8Array(p)); // each owns its buffer
          const opened = decryptPayloadOffThread(key, own, { transfer: true });
          expect((await collect(opened.stream)).equals(data)).toBe(true);
          expect(await collect(decryptPayload(key, [payload]))).toEqual(data);
        },
      ),
      { numRuns: 25 },
    );
  });

  it("refuses a flipped byte, a truncation and a wrong key with codes; nothing after the bad chunk is released", async () => {
    const key = newFileKey();
    const data = bytes(5 * 65536 + 9);
    const payload = await collect(encryptPayloadOffThread(key, [data]).stream);
    const flipped = Buffer.from(payload);
    flipped.writeUInt8((flipped.readUInt8(16 + 2 * 65552 + 5) ^ 1) & 0xff, 16 + 2 * 65552 + 5);
    const released: Uint8Array[] = [];
    const code = await codeOf(
      (async () => {
        for await (const p of decryptPayloadOffThread(key, [flipped]).stream) released.push(p);
      })(),
    );
    expect(code).toBe("PAYLOAD_FAILURE");
    expect(Buffer.concat(released).length).toBeLessThanOrEqual(2 * 65536);
    expect(await codeOf(collect(decryptPayloadOffThread(key, [payload.subarray(0, 16 + 65552)]).stream))).toBe("PAYLOAD_FAILURE");
    expect(await codeOf(collect(decryptPayloadOffThread(newFileKey(), [payload]).stream))).toBe("PAYLOAD_FAILURE");
    expect(await codeOf(collect(decryptPayloadOffThread(key, [payload.subarray(0, 9)]).stream))).toBe("HEADER_FAILURE");
  });

  it("propagates a source error and an abort mid-stream, and keeps working afterwards", async () => {
    const key = newFileKey();
    async function* failing() {
      yield bytes(3 << 20);
      throw Object.assign(new Error("boom"), { code: "X" });
    }
    await expect(collect(encryptPayloadOffThread(key, failing()).stream)).rejects.toThrow("boom");

    const abort = new AbortController();
    async function* slow() {
      for (let i = 0; i < 64; i++) {
        if (i === 5) abort.abort(new Error("stop"));
        yield bytes(1 << 20, i + 1);
      }
    }
    await expect(collect(encryptPayloadOffThread(key, slow(), { signal: abort.signal }).stream)).rejects.toThrow("stop");

    // A consumer that stops early releases its session.
    const s = encryptPayloadOffThread(key, [bytes(8 << 20)]);
    for await (const _ of s.stream) break;
    expect(() => s.sha256()).toThrow();

    const data = bytes(200_000);
    const again = encryptPayloadOffThread(key, [data]);
    const payload = await collect(again.stream);
    expect(await collect(decryptPayload(key, [payload]))).toEqual(data);
  });

  it("runs several sessions at once on the same workers", async () => {
    const key = newFileKey();
    const inputs = Array.from({ length: 6 }, (_, i) => bytes(700_000 + i * 65536, i + 1));
    const outs = await Promise.all(inputs.map((d) => collect(encryptPayloadOffThread(key, pieces(d, [100_000])).stream)));
    for (const [i, payload] of outs.entries()) expect(await collect(decryptPayload(key, [payload]))).toEqual(inputs[i]);
  });
});
