/** The reader reads ahead a bounded number of blocks, however slow the consumer. */

import { unixfs } from "@helia/unixfs";
import { MemoryBlockstore } from "blockstore-core";
import type { CID } from "multiformats/cid";
import { describe, expect, it } from "vitest";
import { readFile } from "../../src/store/reader.ts";
import { blockBytes } from "../../src/store/verify.ts";
import { MiB, random } from "./helpers.ts";

describe("readFile", () => {
  it("reads at most `readAhead` leaves past what the consumer took", async () => {
    const blockstore = new MemoryBlockstore();
    const data = random(40 * MiB);
    const root = await unixfs({ blockstore }).addBytes(data);
    let reads = 0;
    const read = async (cid: CID) => {
      reads++;
      return blockBytes(blockstore.get(cid));
    };
    const stream = readFile(root, read, { readAhead: 4 });
    const first = await stream.next();
    expect(first.value?.byteLength).toBe(MiB);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(reads).toBeLessThanOrEqual(1 + 1 + 4); // root, the leaf taken, the window
    await stream.return(undefined);
  });
});
