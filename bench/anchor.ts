/**
 * Anchoring throughput on a fresh local anvil and a temp catalog (issue 4):
 *   batched:  the commitments of 100,000 files (MEDVAULT_BENCH_FILES) queued by real uploads
 *             (`commitUpload`: each also queues its audit event, so twice as many leaves), then
 *             sealed and anchored by the batcher (MEDVAULT_BATCH_MAX_LEAVES, default 10,000)
 *   per file: one VaultAnchor transaction per file, 1,000 files, through the same chain client
 *   gas:      gas per batch at 100, 1,000 and 10,000 leaves (it must not grow)
 * Targets: ≥ 20,000 leaves/s batched, ≥ 100 × the one-transaction-per-file rate.
 *
 *   node bench/anchor.ts
 */

import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Wallet } from "ethers";
import { CID } from "multiformats/cid";
import { startAnvil } from "../src/anchor/anvil.ts";
import { createBatcher } from "../src/anchor/batcher.ts";
import { type ChainClient, createChainClient, createProvider } from "../src/anchor/chain.ts";
import { fileCommitment } from "../src/anchor/commitment.ts";
import { type Catalog, newFileId, openCatalog } from "../src/catalog/index.ts";
import { printTable } from "./measure.ts";

const files = Number(process.env.MEDVAULT_BENCH_FILES ?? 100_000);
const perFileSample = Number(process.env.MEDVAULT_BENCH_PER_FILE ?? 1000);
const maxLeaves = Number(process.env.MEDVAULT_BATCH_MAX_LEAVES ?? 10_000);

const sha256 = (data: Uint8Array) => new Uint8Array(createHash("sha256").update(data).digest());
const cid = CID.decode(Buffer.concat([Buffer.from("01551220", "hex"), sha256(new Uint8Array(1))])).toString();
const header = new Uint8Array(randomBytes(180));

function fill(catalog: Catalog, ownerId: string, count: number): void {
  for (let done = 0; done < count; ) {
    const chunk = Math.min(5000, count - done);
    catalog.transaction(() => {
      for (let i = 0; i < chunk; i++) {
        const id = newFileId();
        const plaintextSha256 = new Uint8Array(randomBytes(32));
        const salt = new Uint8Array(randomBytes(32));
        const commitment = fileCommitment({ salt, fileId: id, plaintextSha256, payloadCid: cid });
        catalog.commitUpload({
          file: { id, ownerId, name: "f", mediaType: "application/dicom", size: 1, plaintextSha256, payloadCid: cid, salt, commitment },
          vaultHeader: header,
          recipients: [],
          actorId: ownerId,
        });
      }
    });
    done += chunk;
  }
}

function appendEvents(catalog: Catalog, count: number): void {
  catalog.transaction(() => {
    for (let i = 0; i < count; i++) catalog.appendEvent({ action: "bench.tick", outcome: "ok" });
  });
}

const dir = mkdtempSync(join(tmpdir(), "medvault-bench-anchor-"));
const anvil = await startAnvil();
let client: ChainClient | undefined;
const catalogs: Catalog[] = [];
try {
  const key = Wallet.createRandom().privateKey;
  const raw = createProvider(anvil.rpcUrl, 31337);
  await raw.send("anvil_setBalance", [new Wallet(key).address, "0x21e19e0c9bab2400000"]);
  client = await createChainClient({ rpcUrl: anvil.rpcUrl, privateKey: key, chainId: 31337 });
  await client.deploy();
  const chain = client;
  const gasOf = async (txHash: string | null) => Number((await raw.getTransactionReceipt(txHash ?? ""))?.gasUsed ?? 0);

  // --- batched ------------------------------------------------------------------------------
  const catalog = openCatalog({ path: join(dir, "batched.db") });
  catalogs.push(catalog);
  const owner = catalog.createPrincipal({ name: "bench", role: "uploader" }).principal;
  let t = performance.now();
  fill(catalog, owner.id, files);
  const fillSeconds = (performance.now() - t) / 1000;
  const leaves = catalog.countPendingLeaves();
  const batcher = createBatcher({ catalog, chain, maxLeaves });
  t = performance.now();
  await batcher.flush();
  const batchedSeconds = (performance.now() - t) / 1000;
  await batcher.stop();
  const batches = catalog.batchesWithStatus("final");
  if (catalog.countPendingLeaves() !== 0 || batches.reduce((n, b) => n + b.leafCount, 0) !== leaves)
    throw new Error("not all leaves anchored");
  const batchedRate = leaves / batchedSeconds;

  // --- gas by batch size ----------------------------------------------------------------------
  const gasRows: Record<string, string | number>[] = [];
  for (const size of [100, 1000, 10_000]) {
    const c = openCatalog({ path: join(dir, `gas-${size}.db`) });
    catalogs.push(c);
    appendEvents(c, size * 3 - 1); // + the catalog's first event: three full batches
    const b = createBatcher({ catalog: c, chain, maxLeaves: size });
    await b.flush();
    await b.stop();
    const gas = await Promise.all(c.batchesWithStatus("final").map((batch) => gasOf(batch.txHash)));
    gasRows.push({ "leaves per batch": size, batches: gas.length, "gas per batch": gas.join(" / "), "gas per leaf": (gas[0] ?? 0) / size });
  }

  // --- one transaction per file ---------------------------------------------------------------
  const commitments = Array.from({ length: perFileSample }, () => new Uint8Array(randomBytes(32)));
  let state = await chain.state();
  t = performance.now();
  let perFileGas = 0;
  for (const commitment of commitments) {
    const root = sha256(Buffer.concat([Buffer.from([0]), commitment])); // a one-leaf tree
    const tx = await chain.anchorBatch({ batchId: state.nextBatchId, root, leafCount: 1, prevRoot: state.lastRoot });
    perFileGas = tx.gasUsed;
    state = { nextBatchId: state.nextBatchId + 1, lastRoot: root };
  }
  const perFileSeconds = (performance.now() - t) / 1000;
  const perFileRate = perFileSample / perFileSeconds;
  const batchGas = await gasOf(batches[0]?.txHash ?? null);
  raw.destroy();

  console.log(`anvil on ${anvil.rpcUrl}; ${files.toLocaleString("en")} uploads queued in ${fillSeconds.toFixed(1)} s (setup, not timed)\n`);
  printTable([
    {
      mode: "batched",
      items: `${leaves.toLocaleString("en")} leaves (${files.toLocaleString("en")} files + their audit events)`,
      transactions: batches.length,
      seconds: batchedSeconds.toFixed(2),
      "per second": Math.round(batchedRate).toLocaleString("en"),
      "gas per item": (batchGas / (batches[0]?.leafCount ?? 1)).toFixed(1),
    },
    {
      mode: "one tx per file",
      items: `${perFileSample.toLocaleString("en")} files`,
      transactions: perFileSample,
      seconds: perFileSeconds.toFixed(2),
      "per second": Math.round(perFileRate).toLocaleString("en"),
      "gas per item": perFileGas,
    },
  ]);
  console.log("");
  printTable(gasRows);
  const ratio = batchedRate / perFileRate;
  console.log(
    `\nbatched: ${Math.round(batchedRate).toLocaleString("en")} leaves/s (target ≥ 20,000): ${batchedRate >= 20_000 ? "ok" : "MISSED"}`,
  );
  console.log(`ratio to one transaction per file: ${ratio.toFixed(0)} × (target ≥ 100 ×): ${ratio >= 100 ? "ok" : "MISSED"}`);
  if (batchedRate < 20_000 || ratio < 100) process.exitCode = 1;
} finally {
  client?.close();
  for (const c of catalogs) c.close();
  await anvil.stop();
  rmSync(dir, { recursive: true, force: true });
}
