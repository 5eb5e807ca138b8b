import { sha256 } from "@noble/hashes/sha2.js";
import { bytesToHex, concatBytes, utf8ToBytes } from "@noble/hashes/utils.js";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { buildTree, inclusionProof, leafHash, merkleRoot, nodeHash, verifyInclusion } from "../../src/anchor/tree.ts";

// Independent reference, straight from the RFC 9162 §2.1.1 definition, on @noble/hashes.
const L = (d: Uint8Array) => sha256(concatBytes(new Uint8Array([0]), d));
const N = (a: Uint8Array, b: Uint8Array) => sha256(concatBytes(new Uint8Array([1]), a, b));

function mth(d: Uint8Array[]): Uint8Array {
  if (d.length === 0) return sha256(new Uint8Array(0));
  if (d.length === 1) return L(d[0] as Uint8Array);
  let k = 1;
  while (k * 2 < d.length) k *= 2;
  return N(mth(d.slice(0, k)), mth(d.slice(k)));
}

function path(m: number, d: Uint8Array[]): Uint8Array[] {
  if (d.length <= 1) return [];
  let k = 1;
  while (k * 2 < d.length) k *= 2;
  return m < k ? [...path(m, d.slice(0, k)), mth(d.slice(k))] : [...path(m - k, d.slice(k)), mth(d.slice(0, k))];
}

function flip(bytes: Uint8Array, at: number): void {
  bytes[at] = (bytes[at] as number) ^ 1;
}

const hex = (b: Uint8Array) => bytesToHex(b);
const hexes = (bs: Uint8Array[]) => bs.map(hex);

// Leaves d0..d7, each a short distinct string.
const d = Array.from({ length: 8 }, (_, i) => utf8ToBytes(`d${i}`));
const [a, b, c, dd, e, f, g, h] = d.map(L) as [
  Uint8Array,
  Uint8Array,
  Uint8Array,
  Uint8Array,
  Uint8Array,
  Uint8Array,
  Uint8Array,
  Uint8Array,
];

const ab = N(a, b);
const cd = N(c, dd);
const ef = N(e, f);
const gh = N(g, h);
const abcd = N(ab, cd);

describe("tree: RFC 9162 §2.1 hand-checked examples", () => {
  it("empty tree is SHA-256 of the empty string", () => {
    expect(hex(merkleRoot([]))).toBe("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  });

  it("leaf and node hashes use the 0x00 / 0x01 prefixes", () => {
    expect(hex(leafHash(d[0] as Uint8Array))).toBe(hex(a));
    expect(hex(nodeHash(a, b))).toBe(hex(N(a, b)));
    // The well-known leaf hash of the empty string in CT: SHA-256(0x00).
    expect(hex(leafHash(new Uint8Array(0)))).toBe("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d");
  });

  // Roots written out by hand for sizes 1..8 (largest power of two strictly below n on the left).
  const expectedRoots: [number, Uint8Array][] = [
    [1, a],
    [2, ab],
    [3, N(ab, c)],
    [4, abcd],
    [5, N(abcd, e)],
    [6, N(abcd, ef)],
    [7, N(abcd, N(ef, g))],
    [8, N(abcd, N(ef, gh))],
  ];
  it.each(expectedRoots)("root of %i leaves", (size, root) => {
    expect(hex(merkleRoot(d.slice(0, size)))).toBe(hex(root));
    expect(hex(mth(d.slice(0, size)))).toBe(hex(root));
  });

  // The RFC's 7-leaf example: k = N(g,h) of its figure is abcd here, l = N(N(e,f), d6).
  it("7-leaf inclusion proofs match the RFC figure", () => {
    const seven = d.slice(0, 7);
    const l = N(ef, g);
    expect(hexes(inclusionProof(0, seven))).toEqual(hexes([b, cd, l]));
    expect(hexes(inclusionProof(3, seven))).toEqual(hexes([c, ab, l]));
    expect(hexes(inclusionProof(4, seven))).toEqual(hexes([f, g, abcd]));
    expect(hexes(inclusionProof(6, seven))).toEqual(hexes([ef, abcd]));
  });

  it("every proof of sizes 1..8 and 13 matches the reference and verifies", () => {
    for (const size of [1, 2, 3, 4, 5, 6, 7, 8, 13]) {
      const leaves = Array.from({ length: size }, (_, i) => utf8ToBytes(`leaf-${i}`));
      const tree = buildTree(leaves);
      expect(hex(tree.root)).toBe(hex(mth(leaves)));
      for (let i = 0; i < size; i++) {
        const proof = tree.proof(i);
        expect(hexes(proof)).toEqual(hexes(path(i, leaves)));
        expect(verifyInclusion(leaves[i] as Uint8Array, i, size, proof, tree.root)).toBe(true);
      }
    }
  });
});

describe("tree: rejected proofs", () => {
  const leaves = Array.from({ length: 13 }, (_, i) => utf8ToBytes(`leaf-${i}`));
  const tree = buildTree(leaves);
  const leaf5 = leaves[5] as Uint8Array;
  const proof5 = tree.proof(5);

  it("a 64-byte interior node offered as a leaf", () => {
    // Without domain separation, (l ‖ r) would hash to the node N(l, r) and verify one level up.
    const four = d.slice(0, 4);
    const root = merkleRoot(four);
    const interior = concatBytes(a, b);
    expect(verifyInclusion(interior, 0, 2, [cd], root)).toBe(false);
    expect(verifyInclusion(interior, 0, 4, [cd], root)).toBe(false);
    // Its honest form, as a node, does recombine to the root.
    expect(hex(N(N(a, b), cd))).toBe(hex(root));
  });

  it("wrong index, wrong size, index out of range", () => {
    expect(verifyInclusion(leaf5, 4, 13, proof5, tree.root)).toBe(false);
    expect(verifyInclusion(leaf5, 6, 13, proof5, tree.root)).toBe(false);
    // A proof fixes the size only as far as it changes the path's shape: 12 and 16 share
    // index 5's shape with 13 (the root still has to match), 6, 8 and 40 do not.
    expect(verifyInclusion(leaf5, 5, 6, proof5, tree.root)).toBe(false);
    expect(verifyInclusion(leaf5, 5, 8, proof5, tree.root)).toBe(false);
    expect(verifyInclusion(leaf5, 5, 40, proof5, tree.root)).toBe(false);
    expect(verifyInclusion(leaf5, 13, 13, proof5, tree.root)).toBe(false);
    expect(verifyInclusion(leaf5, -1, 13, proof5, tree.root)).toBe(false);
    expect(verifyInclusion(leaf5, 0.5, 13, proof5, tree.root)).toBe(false);
  });

  it("extra, missing or changed path elements", () => {
    expect(verifyInclusion(leaf5, 5, 13, [...proof5, new Uint8Array(32)], tree.root)).toBe(false);
    expect(verifyInclusion(leaf5, 5, 13, [...proof5, tree.root], tree.root)).toBe(false);
    expect(verifyInclusion(leaf5, 5, 13, proof5.slice(0, -1), tree.root)).toBe(false);
    expect(verifyInclusion(leaf5, 5, 13, proof5.slice(1), tree.root)).toBe(false);
    expect(verifyInclusion(leaf5, 5, 13, [], tree.root)).toBe(false);
    const changed = proof5.map((p) => p.slice());
    flip(changed[1] as Uint8Array, 0);
    expect(verifyInclusion(leaf5, 5, 13, changed, tree.root)).toBe(false);
    expect(verifyInclusion(leaf5, 5, 13, [...proof5.slice(0, -1), new Uint8Array(31)], tree.root)).toBe(false);
  });

  it("wrong leaf value or root", () => {
    expect(verifyInclusion(utf8ToBytes("leaf-6"), 5, 13, proof5, tree.root)).toBe(false);
    expect(verifyInclusion(leafHash(leaf5), 5, 13, proof5, tree.root)).toBe(false);
    const root = tree.root.slice();
    flip(root, 31);
    expect(verifyInclusion(leaf5, 5, 13, proof5, root)).toBe(false);
  });

  it("single-leaf tree: empty path only", () => {
    const one = [utf8ToBytes("only")];
    const root = merkleRoot(one);
    expect(verifyInclusion(one[0] as Uint8Array, 0, 1, [], root)).toBe(true);
    expect(verifyInclusion(one[0] as Uint8Array, 0, 1, [root], root)).toBe(false);
  });

  it("proof index out of range throws", () => {
    expect(() => tree.proof(13)).toThrow(RangeError);
    expect(() => inclusionProof(0, [])).toThrow(RangeError);
  });
});

describe("tree: properties", () => {
  it("every index of random trees verifies; a flipped bit in its path does not", () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ minLength: 0, maxLength: 40 }), { minLength: 1, maxLength: 70 }), (leaves) => {
        const tree = buildTree(leaves);
        expect(hex(tree.root)).toBe(hex(mth(leaves)));
        for (let i = 0; i < leaves.length; i++) {
          const proof = tree.proof(i);
          if (!verifyInclusion(leaves[i] as Uint8Array, i, leaves.length, proof, tree.root)) return false;
          if (proof.length > 0) {
            const bad = proof.map((p) => p.slice());
            flip(bad[i % bad.length] as Uint8Array, i % 32);
            if (verifyInclusion(leaves[i] as Uint8Array, i, leaves.length, bad, tree.root)) return false;
          }
        }
        return true;
      }),
      { numRuns: 300 },
    );
  });

  // Speed is measured by `npm run bench:anchor`, never asserted here (shared, noisy machines).
  it("a 100,000-leaf tree proves any leaf", () => {
    const leaves = Array.from({ length: 100_000 }, (_, i) => sha256(utf8ToBytes(String(i))));
    const tree = buildTree(leaves);
    expect(tree.root).toEqual(merkleRoot(leaves));
    for (const i of [0, 65_535, 65_536, 77_777, 99_999]) {
      expect(verifyInclusion(leaves[i] as Uint8Array, i, leaves.length, tree.proof(i), tree.root)).toBe(true);
    }
  });
});
