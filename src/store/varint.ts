/**
 * A fix for protons-runtime 7.1.2 (the protobuf codec under ipfs-unixfs): it encodes a uint64
 * in [2^31, 2^32) wrongly. `LongBits` keeps its low word signed (`lo | 0`), and its varint
 * writer's `while (lo > 127)` then writes one byte where five were reserved, leaving four
 * bytes of uninitialised memory. A UnixFS root records the payload size that way, so every
 * file whose payload is 2 to 4 GiB was stored with a corrupt root: the upload succeeded, every
 * download failed (or, with unlucky leftover bytes, declared the wrong size).
 *
 * protobufjs, where this code comes from, keeps both words unsigned (`>>> 0`); so do we, by
 * wrapping the two constructors the writer uses. The check below runs at import: if the codec
 * still encodes these sizes wrongly (another copy of protons-runtime, a changed API), the
 * store refuses to start rather than write files it cannot read back.
 */

import { UnixFS } from "ipfs-unixfs";
import { writer } from "protons-runtime";

type Bits = { lo: number; hi: number };
type LongBitsClass = { fromBigInt(value: bigint): Bits; fromNumber(value: number): Bits };

function unsigned(bits: Bits): Bits {
  bits.lo >>>= 0;
  bits.hi >>>= 0;
  return bits;
}

/** Whether UnixFS sizes in [2^31, 2^32) survive an encode and decode. */
export function uint64EncodingIsSound(): boolean {
  for (const size of [2n ** 31n, 3n * 2n ** 30n + 12_345n, 2n ** 32n - 1n]) {
    try {
      const node = new UnixFS({ type: "file", blockSizes: [size] });
      const back = UnixFS.unmarshal(node.marshal());
      if (back.fileSize() !== size || back.blockSizes[0] !== size) return false;
    } catch {
      return false;
    }
  }
  return true;
}

function patchLongBits(): void {
  // The writer's pending operation holds a LongBits: the only way to the (unexported) class.
  const w = writer() as unknown as { uint64(value: bigint): unknown; tail: { val: unknown } };
  w.uint64(2n ** 40n);
  const LongBits = (w.tail.val as { constructor: LongBitsClass }).constructor;
  const { fromBigInt, fromNumber } = LongBits;
  LongBits.fromBigInt = function (value) {
    return unsigned(fromBigInt.call(this, value));
  };
  LongBits.fromNumber = function (value) {
    return unsigned(fromNumber.call(this, value));
  };
}

if (!uint64EncodingIsSound()) {
  patchLongBits();
  if (!uint64EncodingIsSound()) {
    throw new Error("protons-runtime encodes UnixFS sizes from 2 to 4 GiB wrongly and the fix did not take: refusing to store files");
  }
}
