// The thread-pool leaf hasher must give exactly the CIDs the importer's own builder gives.
import { randomBytes } from "node:crypto";
import { CID } from "multiformats/cid";
import * as raw from "multiformats/codecs/raw";
import { sha256 } from "multiformats/hashes/sha2";
import { describe, expect, it } from "vitest";
import { rawLeafCid } from "../../src/store/leaves.ts";

describe("rawLeafCid", () => {
  it("is CIDv1, raw codec, sha2-256 of the bytes, for empty, small and 1 MiB leaves", async () => {
    for (const size of [0, 1, 4097, 1_048_576]) {
      const block = randomBytes(size);
      const expected = CID.createV1(raw.code, await sha256.digest(block));
      expect((await rawLeafCid(block)).toString()).toBe(expected.toString());
    }
  });

  it("hashes the bytes as they were when called, even if the buffer is reused right after", async () => {
    const block = randomBytes(65_536);
    const expected = CID.createV1(raw.code, await sha256.digest(block)).toString();
    const pending = rawLeafCid(block);
    block.fill(0);
    expect((await pending).toString()).toBe(expected);
  });
});
