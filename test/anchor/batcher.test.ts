// The batcher against a real anvil and a real catalog: sealing by size and by time, a chain that
// goes away and comes back, and a chain that loses its newest state (SIGKILL before a dump).

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type AnvilProcess, startAnvil } from "../../src/anchor/anvil.ts";
import { type Batcher, batcherConfigFromEnv, createBatcher } from "../../src/anchor/batcher.ts";
import { type ChainClient, createChainClient, deployVaultAnchor } from "../../src/anchor/chain.ts";
import { verifyReceipt } from "../../src/anchor/receipt.ts";
import { anchorStatus, buildReceipt } from "../../src/anchor/receipts.ts";
import { buildTree } from "../../src/anchor/tree.ts";
import {
  appendEvents,
  codeOf,
  commitFile,
  fundedKey,
  nextDump,
  openTestCatalog,
  startTestChain,
  type TestCatalog,
  type TestChain,
  waitFor,
} from "./fixture.ts";

const FAST = { pollMs: 20, reconcileMs: 200, maxBackoffMs: 300, stopTimeoutMs: 5000 };

function quietLog() {
  const lines: { level: string; data: object; message: string }[] = [];
  return {
    lines,
    info: (data: object, message: string) => lines.push({ level: "info", data, message }),
    warn: (data: object, message: string) => lines.push({ level: "warn", data, message }),
  };
}

const batchers: Batcher[] = [];
const catalogs: TestCatalog[] = [];
afterEach(async () => {
  for (const b of batchers.splice(0)) await b.stop();
  for (const c of catalogs.splice(0)) c.cleanup();
});

function newCatalog(): TestCatalog {
  const c = openTestCatalog();
  catalogs.push(c);
  return c;
}

describe("batcher: configuration", () => {
  it("reads MEDVAULT_BATCH_MAX_LEAVES, MEDVAULT_BATCH_MAX_MS, MEDVAULT_CONFIRMATIONS with defaults", async () => {
    expect(batcherConfigFromEnv({})).toEqual({ maxLeaves: 10_000, maxMs: 2000, confirmations: 1 });
    expect(batcherConfigFromEnv({ MEDVAULT_BATCH_MAX_LEAVES: "500", MEDVAULT_BATCH_MAX_MS: "100", MEDVAULT_CONFIRMATIONS: "3" })).toEqual({
      maxLeaves: 500,
      maxMs: 100,
      confirmations: 3,
    });
    for (const bad of ["0", "-1", "1.5", "ten", "4294967296"]) {
      expect(await codeOf(() => batcherConfigFromEnv({ MEDVAULT_BATCH_MAX_LEAVES: bad }))).toBe("BAD_REQUEST");
    }
  });
});

describe("batcher: on a real anvil", () => {
  let chain: TestChain;
  let key: string;
  let contract: string;
  let client: ChainClient;

  beforeAll(async () => {
    chain = await startTestChain();
    key = await fundedKey(chain.rpcUrl);
    contract = (await deployVaultAnchor(chain.rpcUrl, key)).address;
    client = await createChainClient({ rpcUrl: chain.rpcUrl, privateKey: key, contract, chainId: 31337 });
  });
  afterAll(async () => {
    client?.close();
    await chain?.stop();
  });

  it("seals by size: full batches close at once, the rest waits for its time", async () => {
    const { catalog } = newCatalog();
    const batcher = createBatcher({ catalog, chain: client, maxLeaves: 4, maxMs: 60_000, ...FAST });
    batchers.push(batcher);
    const base = catalog.countPendingLeaves(); // the principal's creation event
    batcher.start();
    appendEvents(catalog, 11 - base);
    batcher.notify();
    await waitFor(() => catalog.batchesWithStatus("final").length === 2, 10_000, "two final batches");
    const batches = catalog.batchesWithStatus("final");
    expect(batches.map((b) => b.leafCount)).toEqual([4, 4]);
    expect(catalog.countPendingLeaves()).toBe(3);
    // Each root is the RFC 9162 root of its leaves, and the chain holds it.
    for (const batch of batches) {
      expect(buildTree(catalog.batchLeaves(batch.id)).root).toEqual(batch.root);
      const info = await client.rootInfo(batch.root);
      expect(info?.batchId).toBe(batch.chainBatchId);
      expect(info?.blockNumber).toBe(batch.blockNumber);
    }
    expect(batches[1]?.prevRoot).toEqual(batches[0]?.root);
  });

  it("seals by time: a partial batch closes when its oldest leaf is maxMs old", async () => {
    const { catalog } = newCatalog();
    const batcher = createBatcher({ catalog, chain: client, maxLeaves: 1000, maxMs: 400, ...FAST });
    batchers.push(batcher);
    batcher.start();
    // Leaves from before the start (the principal's creation event) count as old: sealed at once.
    await waitFor(() => catalog.batchesWithStatus("final").length === 1, 10_000, "the start-up batch");
    const started = Date.now();
    appendEvents(catalog, 3);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(catalog.countPendingLeaves()).toBe(3);
    await waitFor(() => catalog.batchesWithStatus("final").length === 2, 10_000, "a final batch");
    const elapsed = Date.now() - started;
    // Sealed by time, not by size (3 < maxLeaves): never before maxMs. No upper bound is asserted on a shared machine.
    expect(elapsed).toBeGreaterThanOrEqual(400);
    expect(catalog.batchesWithStatus("final")[1]?.leafCount).toBe(3);
    expect(batcher.status()).toMatchObject({ running: true, chain: "up", pendingLeaves: 0, sealedBatches: 0 });
  });

  it("leaves left from before a restart are sealed at once; flush seals and anchors what is pending", async () => {
    const { catalog, owner } = newCatalog();
    const file = commitFile(catalog, owner);
    expect(anchorStatus(catalog, "file", file.id)).toEqual({ status: "pending" });
    const batcher = createBatcher({ catalog, chain: client, maxLeaves: 1000, maxMs: 60_000, ...FAST });
    batchers.push(batcher);
    batcher.start();
    await waitFor(() => anchorStatus(catalog, "file", file.id).status === "final", 10_000, "final");
    appendEvents(catalog, 5);
    await batcher.flush();
    expect(catalog.countPendingLeaves()).toBe(0);
    const status = anchorStatus(catalog, "file", file.id);
    expect(status).toMatchObject({ status: "final", batchId: expect.any(Number), blockNumber: expect.any(Number) });
    expect(status.txHash).toMatch(/^0x[0-9a-f]{64}$/);
  });

  it("with confirmations > 1 a batch stays anchored until the chain is deep enough", async () => {
    const { catalog } = newCatalog();
    const batcher = createBatcher({ catalog, chain: client, maxLeaves: 1000, maxMs: 60_000, confirmations: 3, ...FAST });
    batchers.push(batcher);
    batcher.start();
    appendEvents(catalog, 2);
    await batcher.flush();
    const [batch] = catalog.batchesWithStatus("anchored");
    expect(batch?.leafCount).toBe(3); // and the principal's creation event
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(catalog.getBatch(batch?.id ?? 0)?.status).toBe("anchored");
    // Two more blocks: depth 3.
    const raw = (await import("./fixture.ts")).rawProvider(chain.rpcUrl);
    try {
      await raw.send("anvil_mine", ["0x2"]);
    } finally {
      raw.destroy();
    }
    await waitFor(() => catalog.getBatch(batch?.id ?? 0)?.status === "final", 10_000, "final after 3 confirmations");
  });

  it("a root already on chain (sent, then a crash before the catalog heard of it) is adopted, not sent twice", async () => {
    const { catalog } = newCatalog();
    appendEvents(catalog, 3);
    const leaves = catalog.pendingLeaves(10);
    const root = buildTree(leaves.map((l) => l.value)).root;
    const id = catalog.sealBatch({ leafSeqs: leaves.map((l) => l.seq), root });
    const state = await client.state();
    const sent = await client.anchorBatch({ batchId: state.nextBatchId, root, leafCount: leaves.length, prevRoot: state.lastRoot });
    const batcher = createBatcher({ catalog, chain: client, ...FAST });
    batchers.push(batcher);
    await batcher.flush();
    const batch = catalog.getBatch(id);
    expect(batch).toMatchObject({ status: "final", txHash: sent.txHash, chainBatchId: state.nextBatchId, prevRoot: state.lastRoot });
    expect((await client.state()).nextBatchId).toBe(state.nextBatchId + 1);
  });
});

describe("batcher: the chain goes away", () => {
  const dir = mkdtempSync(join(tmpdir(), "medvault-batcher-"));
  const stateFile = join(dir, "chain", "state.json");
  const anvils: AnvilProcess[] = [];
  afterAll(async () => {
    for (const a of anvils) await a.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  async function anvilAt(port?: number): Promise<AnvilProcess> {
    const a = await startAnvil({ stateFile, ...(port === undefined ? {} : { port }) });
    anvils.push(a);
    return a;
  }

  it("stopped: leaves stay pending, uploads go on, nothing crashes; back: everything anchors without help", async () => {
    let anvil = await anvilAt();
    const { port, rpcUrl } = anvil;
    const key = await fundedKey(rpcUrl);
    const contract = (await deployVaultAnchor(rpcUrl, key)).address;
    const { catalog, owner } = newCatalog();
    const log = quietLog();
    const batcher = createBatcher({
      catalog,
      chain: ({ signal }) => createChainClient({ rpcUrl, privateKey: key, contract, chainId: 31337, ...(signal ? { signal } : {}) }),
      maxLeaves: 1000,
      maxMs: 100,
      log,
      ...FAST,
    });
    batchers.push(batcher);
    batcher.start();
    const before = commitFile(catalog, owner);
    await waitFor(() => anchorStatus(catalog, "file", before.id).status === "final", 10_000, "first file final");

    await anvil.stop(); // SIGTERM: state dumped
    const during = [commitFile(catalog, owner), commitFile(catalog, owner)];
    appendEvents(catalog, 3);
    await waitFor(() => batcher.status().chain === "down", 10_000, "chain down");
    await new Promise((resolve) => setTimeout(resolve, 1000));
    for (const f of during) expect(anchorStatus(catalog, "file", f.id).status).toBe("pending");
    commitFile(catalog, owner); // uploads still commit while the chain is away
    expect(batcher.status()).toMatchObject({ running: true, chain: "down", lastError: { code: "CHAIN_UNAVAILABLE" } });
    // One outage, one warning (not one per retry).
    expect(log.lines.filter((l) => l.level === "warn").length).toBe(1);

    anvil = await anvilAt(port);
    await waitFor(
      () => catalog.countPendingLeaves() === 0 && catalog.batchesWithStatus("sealed").length === 0,
      15_000,
      "everything anchored",
    );
    for (const f of during) expect(anchorStatus(catalog, "file", f.id).status).toBe("final");
    expect(batcher.status().chain).toBe("up");
    expect(log.lines.some((l) => l.message.includes("chain back"))).toBe(true);
    // While a batch waited for the chain, later leaves did not close one small batch per maxMs.
    expect(catalog.batchesWithStatus("final").length).toBeLessThanOrEqual(3);
    for (const f of [before, ...during]) {
      const receipt = buildReceipt(catalog, f.id);
      await expect(verifyReceipt({ plaintextSha256: f.sha, receipt, rpcUrl })).resolves.toBeTruthy();
    }
    await batcher.stop();
    await anvil.stop();
  });

  it("SIGKILL before a dump: the lost roots are anchored again and old receipts verify again", async () => {
    rmSync(stateFile, { force: true });
    let anvil = await anvilAt();
    const { port, rpcUrl } = anvil;
    const key = await fundedKey(rpcUrl);
    const contract = (await deployVaultAnchor(rpcUrl, key)).address;
    const { catalog, owner } = newCatalog();
    const log = quietLog();
    const batcher = createBatcher({
      catalog,
      chain: ({ signal }) => createChainClient({ rpcUrl, privateKey: key, contract, chainId: 31337, ...(signal ? { signal } : {}) }),
      maxLeaves: 1000,
      maxMs: 60_000,
      log,
      ...FAST,
    });
    batchers.push(batcher);
    batcher.start();

    const kept = commitFile(catalog, owner);
    await batcher.flush();
    const keptReceipt = buildReceipt(catalog, kept.id);
    await nextDump(stateFile);
    await nextDump(stateFile); // (a dump that began before the batch may end after it)

    const lost = [commitFile(catalog, owner), commitFile(catalog, owner)];
    await batcher.flush();
    const oldReceipts = lost.map((f) => buildReceipt(catalog, f.id));
    await expect(verifyReceipt({ plaintextSha256: lost[0]?.sha as Uint8Array, receipt: oldReceipts[0], rpcUrl })).resolves.toBeTruthy();
    process.kill(anvil.pid, "SIGKILL"); // well within the next 1 s dump interval
    await anvil.exited;

    anvil = await anvilAt(port);
    // The restarted chain has the first batch only; the batcher notices and anchors the second again.
    await waitFor(
      async () => {
        for (const [i, f] of lost.entries()) {
          await verifyReceipt({ plaintextSha256: f.sha, receipt: oldReceipts[i], rpcUrl });
        }
        return true;
      },
      20_000,
      "old receipts verifying again",
    );
    await expect(verifyReceipt({ plaintextSha256: kept.sha, receipt: keptReceipt, rpcUrl })).resolves.toBeTruthy();
    await waitFor(() => lost.every((f) => anchorStatus(catalog, "file", f.id).status === "final"), 10_000, "final again");
    for (const f of lost) {
      const fresh = buildReceipt(catalog, f.id);
      const info = await verifyReceipt({ plaintextSha256: f.sha, receipt: fresh, rpcUrl });
      expect(info.batchId).toBe(fresh.batchId);
      expect(info.blockNumber).toBe(fresh.blockNumber);
      expect(fresh.root).toBe(oldReceipts[0]?.root); // same batch, same root, same path
    }
    // (Its new transaction may even have the old hash: same nonce, same calldata, same fees.)
    expect(log.lines.some((l) => l.level === "warn" && l.message.includes("no longer on chain"))).toBe(true);
    await batcher.stop();
    await anvil.stop();
  });
});
