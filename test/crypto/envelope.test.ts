import { bech32 } from "@scure/base";
import { Decrypter, Encrypter, generateHybridIdentity, generateX25519Identity, identityToRecipient } from "age-encryption";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  decryptStream,
  encryptPayload,
  encryptStream,
  generateKey,
  openHeader,
  parseIdentity,
  parseRecipient,
  recipientOf,
  rewrapHeader,
} from "../../src/crypto/index.ts";
import { isVaultError } from "../../src/errors.ts";
import { bytes, collect, pieces } from "./helpers.ts";

const x = await generateKey();
const pq = await generateKey({ pq: true });
const other = await generateKey();

async function roundTrip(data: Uint8Array, cuts: number[], keys = [x]) {
  const { header, payload } = await encryptStream(
    pieces(data, cuts),
    keys.map((k) => parseRecipient(k.recipient)),
  );
  const file = Buffer.concat([header, await collect(payload)]);
  return {
    file,
    header,
    plain: await collect(
      decryptStream(
        pieces(file, cuts.toReversed()),
        keys.map((k) => parseIdentity(k.identity)),
      ),
    ),
  };
}

async function codeOf(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
    return undefined;
  } catch (error) {
    if (isVaultError(error)) return error.code;
    throw error;
  }
}

describe("envelope", () => {
  it("round-trips at the chunk edges, X25519 and hybrid", async () => {
    for (const size of [0, 1, 65535, 65536, 65537, 3 * 65536 + 3]) {
      const data = bytes(size, size + 1);
      for (const key of [x, pq]) {
        const { plain, file } = await roundTrip(data, [4096, 100_000], [key]);
        expect(plain.equals(data)).toBe(true);
        expect(file.length).toBe(file.indexOf("\n---") + 49 + 16 + size + Math.max(1, Math.ceil(size / 65536)) * 16);
      }
    }
  });

  it("property: decrypt(encrypt(x)) = x for any data and any stream cuts", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ maxLength: 200_000 }),
        fc.array(fc.integer({ min: 1, max: 70_000 }), { minLength: 1, maxLength: 5 }),
        async (data, cuts) => {
          const { plain } = await roundTrip(data, cuts);
          expect(plain.equals(Buffer.from(data))).toBe(true);
        },
      ),
      { numRuns: 40, seed: 42 },
    );
  });

  it("property: rewrap for a new recipient, then decrypt with the new identity = x; the old header's payload is untouched", async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 140_000 }), fc.boolean(), async (data, toPq) => {
        const { header, payload } = await encryptStream([data], [parseRecipient(x.recipient)]);
        const body = await collect(payload);
        const target = toPq ? pq : other;
        const newHeader = await rewrapHeader(header, [parseIdentity(x.identity)], [parseRecipient(target.recipient)]);
        const plain = await collect(decryptStream([newHeader, body], [parseIdentity(target.identity)]));
        expect(plain.equals(Buffer.from(data))).toBe(true);
        // The new header does not open with the vault's identity: it holds only the new stanza.
        expect(await codeOf(openHeader(newHeader, [parseIdentity(x.identity)]))).toBe("NO_MATCH");
      }),
      { numRuns: 20, seed: 7 },
    );
  });

  it("property: any flipped byte in header or payload fails with a code, never wrong plaintext", async () => {
    const data = bytes(3 * 65536 + 100, 9);
    const { file } = await roundTrip(data, [65536]);
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: file.length - 1 }), fc.integer({ min: 1, max: 255 }), async (at, mask) => {
        const bad = Buffer.from(file);
        bad[at] = (bad[at] as number) ^ mask;
        const out: Uint8Array[] = [];
        const code = await codeOf(
          (async () => {
            for await (const p of decryptStream([bad], [parseIdentity(x.identity)])) out.push(p);
          })(),
        );
        expect(code).toMatch(/^(HEADER_FAILURE|HMAC_FAILURE|NO_MATCH|PAYLOAD_FAILURE|ARMOR_FAILURE)$/);
        // Whatever was released before the failure is a genuine prefix of the plaintext.
        const released = Buffer.concat(out);
        expect(released.equals(data.subarray(0, released.length))).toBe(true);
      }),
      { numRuns: 150, seed: 3 },
    );
  });

  it("payload bytes equal typage's for the same file key and nonce (node:crypto path = pure-JS reference)", async () => {
    for (const size of [0, 1, 65536, 65537, 200_000]) {
      const data = bytes(size, 5);
      let fileKey: Uint8Array | undefined;
      const e = new Encrypter();
      e.addRecipient(x.recipient);
      e.addRecipient({
        wrapFileKey: (k: Uint8Array) => {
          fileKey = Uint8Array.from(k); // capture typage's file key; this recipient adds no stanza
          return [];
        },
      });
      const reference = Buffer.from(await e.encrypt(data));
      const headerEnd = reference.indexOf("\n---") + 1 + reference.subarray(reference.indexOf("\n---") + 1).indexOf("\n") + 1;
      const nonce = reference.subarray(headerEnd, headerEnd + 16);
      const ours = await collect(encryptPayload(fileKey as Uint8Array, [data], { nonce }));
      expect(ours.equals(reference.subarray(headerEnd))).toBe(true);
    }
  });

  it("interoperates with the age-encryption package both ways, X25519 and hybrid", async () => {
    for (const gen of [generateX25519Identity, generateHybridIdentity]) {
      const identity = await gen();
      const recipient = await identityToRecipient(identity);
      for (const size of [0, 1, 65535, 65536, 65537, 3 * 65536]) {
        const data = bytes(size, size + 3);
        // typage → medvault
        const e = new Encrypter();
        e.addRecipient(recipient);
        const theirs = await e.encrypt(data);
        expect((await collect(decryptStream([theirs], [parseIdentity(identity)]))).equals(data)).toBe(true);
        // medvault → typage
        const { header, payload } = await encryptStream([data], [parseRecipient(recipient)]);
        const ours = Buffer.concat([header, await collect(payload)]);
        const d = new Decrypter();
        d.addIdentity(identity);
        expect(Buffer.from(await d.decrypt(ours)).equals(data)).toBe(true);
      }
    }
  });

  it("derives the same recipient as the age-encryption package for any identity (node:crypto X25519 = typage)", async () => {
    for (const k of [x, pq, other]) expect(await identityToRecipient(k.identity)).toBe(k.recipient);
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ minLength: 32, maxLength: 32 }), async (scalar) => {
        const identity = bech32.encodeFromBytes("AGE-SECRET-KEY-", scalar).toUpperCase();
        expect(await recipientOf(identity)).toBe(await identityToRecipient(identity));
      }),
      { numRuns: 50 },
    );
  });

  it("refuses malformed keys with INVALID_KEY", () => {
    const shortPq = bech32.encode("age1pq", bech32.toWords(new Uint8Array(1215)), false);
    // A point of small order (here 0): every shared secret with it is all zeros.
    const lowOrder = bech32.encodeFromBytes("age", new Uint8Array(32));
    for (const bad of ["age1xyz", "AGE-SECRET-KEY-1QQQ", "AGE-SECRET-KEY-PQ-1QQQ", shortPq, lowOrder, "ssh-ed25519 AAAA", ""]) {
      expect(() => (bad.startsWith("AGE") ? parseIdentity(bad) : parseRecipient(bad))).toThrow(
        expect.objectContaining({ code: "INVALID_KEY" }),
      );
    }
  });
});
