/**
 * Blob stores in a private swarm, all real: libp2p over TCP on 127.0.0.1 (free ports), stores
 * on disk in temp dirs, R = 2. Three nodes a, b, c; then a stops; then strangers try to join.
 * The tests run in order and share the files added.
 */

import { readFile, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import * as dagPb from "@ipld/dag-pb";
import { noise } from "@libp2p/noise";
import { tcp } from "@libp2p/tcp";
import { yamux } from "@libp2p/yamux";
import { multiaddr } from "@multiformats/multiaddr";
import { createLibp2p } from "libp2p";
import type { CID } from "multiformats/cid";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isVaultError } from "../../src/errors.ts";
import { generateSwarmKey } from "../../src/swarm/index.ts";
import { blockPath, catBytes, KiB, MiB, pieces, random } from "../store/helpers.ts";
import type { TestNode } from "./helpers.ts";
import { eventually, hasAnyBlock, hasWholeDag, Nodes, pinList, pinnedOn } from "./helpers.ts";

const swarmKey = generateSwarmKey();
const nodes = new Nodes();
let a: TestNode;
let b: TestNode;
let c: TestNode;
const files: { cid: CID; data: Buffer }[] = [];

function addresses(node: TestNode): string[] {
  return node.store.swarm?.multiaddrs() ?? [];
}

function peersOf(node: TestNode): string[] {
  return node.store.swarm?.peers() ?? [];
}

function peerId(node: TestNode): string {
  return node.store.swarm?.peerId ?? "";
}

function byName(name: string): TestNode {
  const node = nodes.all.find((n) => n.name === name);
  if (node === undefined) throw new Error(`no node ${name}`);
  return node;
}

async function expectCode(promise: Promise<unknown>, code: Parameters<typeof isVaultError>[1]): Promise<void> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isVaultError(error, code), `expected ${code}, got ${String(error)}`).toBe(true);
}

beforeAll(async () => {
  // a cuts small chunks: more blocks to move per file.
  a = await nodes.start("a", { swarmKey }, { chunkSize: 256 * KiB });
  b = await nodes.start("b", { swarmKey, peers: addresses(a) });
  // c names b without its peer id: any node holding the key at that address is accepted.
  const bWithoutId = addresses(b).map((address) => address.replace(/\/p2p\/[^/]+$/, ""));
  c = await nodes.start("c", { swarmKey, peers: [...addresses(a), ...bWithoutId] });
  await eventually(() => [a, b, c].every((node) => peersOf(node).length === 2), "a, b and c connected to each other");
});

afterAll(async () => {
  await nodes.stopAll();
});

describe("a swarm of three with R = 2", () => {
  it("pins an add on its node and exactly one other, and every node reads it back byte-equal", async () => {
    for (const size of [0, 1, 3 * MiB + 17]) {
      const data = random(size);
      const added = await a.store.add(pieces(data));
      const pinned = await pinnedOn([a, b, c], added.cid);
      expect(pinned).toHaveLength(2);
      expect(pinned).toContain("a");
      for (const name of pinned) expect(await hasWholeDag(byName(name).dir, added.cid)).toBe(true);
      files.push({ cid: added.cid, data });
    }
    for (const node of [a, b, c]) {
      for (const file of files) expect((await catBytes(node.store, file.cid)).equals(file.data), node.name).toBe(true);
    }
    // The node without a replica read every block from peers, a range too, and kept none.
    const big = files[2] as { cid: CID; data: Buffer };
    const [holder] = await pinnedOn([b, c], big.cid);
    const outsider = [b, c].find((node) => node.name !== holder) as TestNode;
    const range = await catBytes(outsider.store, big.cid, { offset: MiB - 5, length: MiB + 10 });
    expect(range.equals(big.data.subarray(MiB - 5, 2 * MiB + 5))).toBe(true);
    expect(await hasAnyBlock(outsider.dir, a.dir, big.cid)).toBe(false);
  });

  it("serves a file again and again from a node without a replica", async () => {
    const big = files[2] as { cid: CID; data: Buffer };
    const [holder] = await pinnedOn([b, c], big.cid);
    const outsider = [b, c].find((node) => node.name !== holder) as TestNode;
    for (let round = 0; round < 2; round++) {
      // Back to back (answered from the fetcher's memory of recent blocks) ...
      expect((await catBytes(outsider.store, big.cid)).equals(big.data)).toBe(true);
      const range = await catBytes(outsider.store, big.cid, { offset: 5, length: 300 * KiB });
      expect(range.equals(big.data.subarray(5, 5 + 300 * KiB))).toBe(true);
      // ... and once that memory has lapsed, so every block is wanted again from holders that sent it before.
      if (round === 0) await new Promise((resolve) => setTimeout(resolve, 2_500));
    }
  });

  it("keeps every block of a replica being fetched while its node collects", async () => {
    let collecting = true;
    const loops = [b, c].map(async (node) => {
      let runs = 0;
      while (collecting) {
        await node.store.collect();
        runs++;
      }
      return runs;
    });
    const data = random(6 * MiB);
    const added = await a.store.add(pieces(data)).finally(() => {
      collecting = false;
    });
    expect((await Promise.all(loops)).every((runs) => runs > 0)).toBe(true);
    const [holder] = (await pinnedOn([b, c], added.cid)).map(byName);
    if (holder === undefined) throw new Error("no replica");
    await holder.store.collect();
    expect(await hasWholeDag(holder.dir, added.cid)).toBe(true);
    files.push({ cid: added.cid, data });
  });

  it("never serves a block that fails its CID: a damaged replica leaves readers to the other holder", async () => {
    const data = random(2 * MiB);
    const added = await a.store.add([data]);
    const [holder] = (await pinnedOn([b, c], added.cid)).map(byName);
    const outsider = [b, c].find((node) => node !== holder);
    if (holder === undefined || outsider === undefined) throw new Error("no replica");
    const leaf = dagPb.decode(await readFile(blockPath(a.dir, added.cid))).Links[1]?.Hash;
    if (leaf === undefined) throw new Error("no leaf");
    const path = blockPath(holder.dir, leaf);
    const bytes = await readFile(path);
    bytes[100] = (bytes[100] as number) ^ 0x10;
    await writeFile(path, bytes);
    await expectCode(catBytes(holder.store, added.cid), "INTEGRITY_FAILED");
    expect((await catBytes(outsider.store, added.cid)).equals(data)).toBe(true);
    // Not in `files`: once a stops, nobody holds a good copy of that leaf.
    await holder.store.unpinEverywhere(added.cid);
  });

  it("with the uploading node stopped, every file reads back from the other two, and adds go on", async () => {
    await a.store.stop();
    await eventually(() => peersOf(b).length === 1 && peersOf(c).length === 1, "b and c see a gone");
    for (const node of [b, c]) {
      for (const file of files) expect((await catBytes(node.store, file.cid)).equals(file.data), node.name).toBe(true);
    }
    const data = random(MiB + 5);
    const added = await b.store.add([data]);
    expect(await pinnedOn([b, c], added.cid)).toEqual(["b", "c"]);
    files.push({ cid: added.cid, data });
  });

  it("keeps out a node with another swarm key, or with none: no connection, no block", async () => {
    const stranger = await nodes.start("d", { swarmKey: generateSwarmKey(), peers: addresses(b), replication: 1, fetchTimeoutMs: 1_500 });
    expect(peersOf(stranger)).toEqual([]);
    await expectCode(stranger.store.swarm?.dial(addresses(b)[0] as string) ?? Promise.resolve(), "IO_ERROR");
    await expectCode(b.store.swarm?.dial(addresses(stranger)[0] as string) ?? Promise.resolve(), "IO_ERROR");
    await expectCode(catBytes(stranger.store, (files[2] as { cid: CID }).cid), "NOT_FOUND");
    expect(peersOf(b)).not.toContain(peerId(stranger));

    const keyless = await createLibp2p({ transports: [tcp()], connectionEncrypters: [noise()], streamMuxers: [yamux()] });
    try {
      await expect(keyless.dial(multiaddr(addresses(c)[0] as string), { signal: AbortSignal.timeout(10_000) })).rejects.toThrow();
      expect(peersOf(c)).not.toContain(keyless.peerId.toString());
    } finally {
      await keyless.stop();
    }
    await stranger.store.stop();
  });

  it("fails an add that too few nodes confirm with REPLICATION_FAILED, and leaves no pin anywhere", async () => {
    const before = await Promise.all([b, c].map(pinList));
    const greedy = await nodes.start("e", { swarmKey, peers: [...addresses(b), ...addresses(c)], replication: 4 });
    expect(peersOf(greedy)).toHaveLength(2);
    await expectCode(greedy.store.add([random(2 * MiB)]), "REPLICATION_FAILED");
    expect(await pinList(greedy)).toEqual([]);
    expect(await Promise.all([b, c].map(pinList))).toEqual(before);
    await greedy.store.collect();
    expect((await greedy.store.stat()).blockCount).toBe(0);
    await greedy.store.stop();

    // Alone in the swarm: nobody to ask.
    const alone = await nodes.start("f", { swarmKey });
    await expectCode(alone.store.add([random(10)]), "REPLICATION_FAILED");
    expect(await pinList(alone)).toEqual([]);
    await alone.store.stop();
  });

  it("unpins everywhere on erasure, and keeps the other files", async () => {
    const target = files[2] as { cid: CID; data: Buffer };
    expect((await pinnedOn([b, c], target.cid)).length).toBeGreaterThan(0);
    const report = await c.store.unpinEverywhere(target.cid);
    expect(report).toEqual({ peersAsked: 1, peersConfirmed: 1 });
    expect(await pinnedOn([b, c], target.cid)).toEqual([]);
    for (const node of [b, c]) {
      await node.store.collect();
      expect(await hasAnyBlock(node.dir, a.dir, target.cid)).toBe(false);
    }
    for (const file of files.filter((f) => f !== target)) {
      expect((await pinnedOn([b, c], file.cid)).length).toBeGreaterThan(0);
      expect((await catBytes(b.store, file.cid)).equals(file.data)).toBe(true);
    }
    files.splice(files.indexOf(target), 1);
  });

  it("keeps its peer id across a restart (key file 0600), and its peers reconnect", async () => {
    const id = peerId(b);
    const port = (addresses(b)[0] as string).match(/\/tcp\/(\d+)\//)?.[1];
    await b.store.stop();
    b = await nodes.start("b", { ...b.config, listen: [`/ip4/127.0.0.1/tcp/${port}`] }, { dir: b.dir });
    expect(peerId(b)).toBe(id);
    expect((await stat(join(b.dir, "peer.key"))).mode & 0o777).toBe(0o600);
    await eventually(() => peersOf(c).includes(id), "c dials b again");
    const data = random(3 * MiB);
    const added = await c.store.add([data]);
    expect(await pinnedOn([b, c], added.cid)).toEqual(["b", "c"]);
    for (const file of files) expect((await catBytes(b.store, file.cid)).equals(file.data)).toBe(true);
  });
});
