import { hmac } from "@noble/hashes/hmac.js";
import { sha256 } from "@noble/hashes/sha2.js";
import { bytesToHex, concatBytes, hexToBytes, randomBytes, utf8ToBytes } from "@noble/hashes/utils.js";
import fc from "fast-check";
import { CID } from "multiformats/cid";
import { describe, expect, it } from "vitest";
import { fileCommitment } from "../../src/anchor/commitment.ts";
import { isVaultError } from "../../src/errors.ts";

const salt = Uint8Array.from({ length: 32 }, (_, i) => i);
const fileId = "file-0001-ä";
const plaintextSha256 = sha256(utf8ToBytes("hello medvault\n"));

// Vectors computed outside JavaScript (Python's hmac/hashlib, CID bytes assembled by hand:
// 0x01 version, 0x55 raw, 0x12 sha2-256, 0x20 length, digest).
describe("commitment: fixed vectors", () => {
  it("CIDv1 raw leaves, base32", () => {
    const commitment = fileCommitment({
      salt,
      fileId,
      plaintextSha256,
      payloadCid: "bafkreibdt5m62vphg7dxcr6pkwwqygydbnwx5z2iu5bgsuxzxbjnlkjv4u",
    });
    expect(bytesToHex(plaintextSha256)).toBe("eb5bc9c68d2d0f2bd1339d42b85bef6d8a0f27c76d549c4f2263059b9b41dbfb");
    expect(bytesToHex(commitment)).toBe("108f39a07aed06aee9c46385a63d13b065df6927c9121ae1498bbe332bf05517");
  });

  it("CIDv0: the binary CID is the bare multihash", () => {
    const commitment = fileCommitment({
      salt,
      fileId,
      plaintextSha256,
      payloadCid: "QmQjhujcqp6DSanktsAXGPR1FxfG1DwEA3GbgtCbQfU3WL",
    });
    expect(bytesToHex(commitment)).toBe("8276e80012e274b31ad56d98affdeff20ccb573c1b09d7b2b9f4db6fcadaaec4");
  });
});

describe("commitment: independent computation", () => {
  it("matches @noble/hashes HMAC over hand-assembled bytes, for any input", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.string({ unit: "grapheme", minLength: 1, maxLength: 40 }).filter((s) => !s.includes("\u0000")),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        (salt, fileId, sha, digest) => {
          const cidBytes = concatBytes(new Uint8Array([0x01, 0x55, 0x12, 0x20]), digest);
          const payloadCid = CID.decode(cidBytes).toString();
          const expected = hmac(
            sha256,
            salt,
            concatBytes(utf8ToBytes("medvault/file/v1"), new Uint8Array([0]), utf8ToBytes(fileId), new Uint8Array([0]), sha, cidBytes),
          );
          expect(bytesToHex(fileCommitment({ salt, fileId, plaintextSha256: sha, payloadCid }))).toBe(bytesToHex(expected));
        },
      ),
      { numRuns: 200 },
    );
  });

  it("every field changes the commitment", () => {
    const base = { salt, fileId, plaintextSha256, payloadCid: "bafkreibdt5m62vphg7dxcr6pkwwqygydbnwx5z2iu5bgsuxzxbjnlkjv4u" };
    const c0 = bytesToHex(fileCommitment(base));
    const otherCid = CID.decode(concatBytes(hexToBytes("01551220"), randomBytes(32))).toString();
    for (const variant of [
      { ...base, salt: randomBytes(32) },
      { ...base, fileId: "file-0002-ä" },
      { ...base, plaintextSha256: randomBytes(32) },
      { ...base, payloadCid: otherCid },
    ]) {
      expect(bytesToHex(fileCommitment(variant))).not.toBe(c0);
    }
  });
});

describe("commitment: boundary checks", () => {
  const base = { salt, fileId, plaintextSha256, payloadCid: "bafkreibdt5m62vphg7dxcr6pkwwqygydbnwx5z2iu5bgsuxzxbjnlkjv4u" };
  it.each([
    ["short salt", { ...base, salt: new Uint8Array(31) }],
    ["short sha", { ...base, plaintextSha256: new Uint8Array(16) }],
    ["empty fileId", { ...base, fileId: "" }],
    ["NUL in fileId", { ...base, fileId: "a\u0000b" }],
    ["lone surrogate in fileId", { ...base, fileId: "a\ud800" }],
    ["not a CID", { ...base, payloadCid: "not-a-cid" }],
    ["empty CID", { ...base, payloadCid: "" }],
  ])("%s → BAD_REQUEST", (_title, input) => {
    let caught: unknown;
    try {
      fileCommitment(input);
    } catch (error) {
      caught = error;
    }
    expect(isVaultError(caught, "BAD_REQUEST")).toBe(true);
  });
});
