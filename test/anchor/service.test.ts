// The anchoring service: embedded anvil in a data dir (deploy once, reuse, survive SIGTERM,
// SIGKILL and a lost state file), an external chain, certificates, reads.

import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { recoverCertificateSigner, verifyCertificate } from "../../src/anchor/certificate.ts";
import { deployVaultAnchor } from "../../src/anchor/chain.ts";
import { verifyReceipt } from "../../src/anchor/receipt.ts";
import { verifyEventProof } from "../../src/anchor/receipts.ts";
import { ANCHORER_KEY_FILE, type Anchoring, readAnchorerKey, startAnchoring } from "../../src/anchor/service.ts";
import { type Catalog, canonicalJson, openCatalog } from "../../src/catalog/index.ts";
import { codeOf, commitFile, fundedKey, nextDump, startTestChain, waitFor } from "./fixture.ts";

const FAST = { pollMs: 20, reconcileMs: 200, maxBackoffMs: 300 };
const ENV = { MEDVAULT_BATCH_MAX_MS: "200" };

const dirs: string[] = [];
const running: Anchoring[] = [];
const catalogs: Catalog[] = [];
afterEach(async () => {
  for (const a of running.splice(0)) await a.stop();
  for (const c of catalogs.splice(0)) c.close();
});
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function dataDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "medvault-service-"));
  dirs.push(dir);
  return dir;
}

function open(dir: string): Catalog {
  const catalog = openCatalog({ path: join(dir, "catalog.db") });
  catalogs.push(catalog);
  return catalog;
}

type Line = { level: string; message: string };

async function start(dir: string, catalog: Catalog, env: NodeJS.ProcessEnv = ENV, lines: Line[] = []): Promise<Anchoring> {
  const log = {
    info: (_data: object, message: string) => lines.push({ level: "info", message }),
    warn: (_data: object, message: string) => lines.push({ level: "warn", message }),
  };
  const anchoring = await startAnchoring({ dataDir: dir, catalog, env, log, batcher: FAST });
  running.push(anchoring);
  return anchoring;
}

async function stop(anchoring: Anchoring): Promise<void> {
  running.splice(running.indexOf(anchoring), 1);
  await anchoring.stop();
}

describe("anchoring service: the embedded chain", () => {
  it("first start deploys VaultAnchor and makes a 0600 anchorer key; a file anchors and its receipt verifies", async () => {
    const dir = dataDir();
    const catalog = open(dir);
    const anchoring = await start(dir, catalog);
    const info = { ...anchoring.chainInfo };
    expect(info).toEqual({
      chainId: 31337,
      contract: expect.stringMatching(/^0x[0-9a-fA-F]{40}$/),
      rpc: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/),
    });
    expect(JSON.parse(JSON.stringify(anchoring.chainInfo))).toEqual(info);
    expect(anchoring.http.chainInfo()).toEqual(info);
    expect(statSync(join(dir, ANCHORER_KEY_FILE)).mode & 0o777).toBe(0o600);
    expect(existsSync(join(dir, "chain"))).toBe(true);
    expect(await anchoring.ready()).toBe(true);

    const file = commitFile(catalog, catalog.createPrincipal({ name: "clinic", role: "uploader" }).principal);
    expect(anchoring.hooks.status("file", file.id)).toEqual({ status: "pending" });
    expect(await codeOf(() => anchoring.receipt(file.id))).toBe("PENDING");
    await waitFor(() => anchoring.anchorStatus("file", file.id).status === "final", 10_000, "final within the batch interval");
    const receipt = anchoring.receipt(file.id);
    await expect(verifyReceipt({ plaintextSha256: file.sha, receipt, rpcUrl: info.rpc as string })).resolves.toBeTruthy();
    expect(await anchoring.checkAnchor("file", file.id)).toMatchObject({ status: "final" });
    await expect(anchoring.hooks.verifyOnChain({ id: file.id }, {})).resolves.toBeUndefined();
    const onChain = await anchoring.rootOnChain(Buffer.from(receipt.root, "hex"));
    expect(onChain?.batchId).toBe(receipt.batchId);
    // The audit event of the upload has its proof too.
    const [event] = catalog.listEvents({ fileId: file.id });
    const proof = await anchoring.http.eventProof(event?.id as string);
    await expect(verifyEventProof({ proof, rpcUrl: info.rpc as string })).resolves.toBeTruthy();
  });

  it("certificates are EIP-191 signatures of the anchorer account", async () => {
    const dir = dataDir();
    const anchoring = await start(dir, open(dir));
    const certificate = canonicalJson({ type: "medvault.erasure/v1", fileId: "f_x", erasedAt: "2025-01-01T00:00:00.000Z" });
    const { signature, signer } = await anchoring.signCertificate(certificate);
    expect(signer).toBe(anchoring.signer.address);
    expect(await anchoring.hooks.sign(certificate)).toEqual({ signature, signer });
    expect(verifyCertificate(certificate, signature, signer)).toBe(true);
    expect(verifyCertificate(certificate, signature, signer.toLowerCase())).toBe(true);
    expect(verifyCertificate(certificate.replace("f_x", "f_y"), signature, signer)).toBe(false);
    expect(recoverCertificateSigner(certificate, "0x1234")).toBeNull();
    // The anchorer is our own key, not anvil's published dev account.
    expect(signer).not.toBe("0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266");
  });

  it("stopped (SIGTERM) and started again on the same data dir: same contract and port, receipts still verify", async () => {
    const dir = dataDir();
    let catalog = open(dir);
    let anchoring = await start(dir, catalog);
    const first = { ...anchoring.chainInfo };
    const file = commitFile(catalog, catalog.createPrincipal({ name: "clinic", role: "uploader" }).principal);
    await anchoring.batcher.flush();
    const receipt = anchoring.receipt(file.id);
    const anchorerKey = readAnchorerKey(join(dir, ANCHORER_KEY_FILE));
    await stop(anchoring);
    catalog.close();
    catalogs.splice(catalogs.indexOf(catalog), 1);

    catalog = open(dir);
    anchoring = await start(dir, catalog);
    expect({ ...anchoring.chainInfo }).toEqual(first);
    expect(readAnchorerKey(join(dir, ANCHORER_KEY_FILE))).toBe(anchorerKey);
    await expect(verifyReceipt({ plaintextSha256: file.sha, receipt, rpcUrl: first.rpc as string })).resolves.toBeTruthy();
    await anchoring.batcher.flush();
    expect(anchoring.receipt(file.id)).toEqual(receipt); // not anchored a second time
  });

  it("anvil killed (SIGKILL): started again from its state file, lost roots anchored again, old receipts verify", async () => {
    const dir = dataDir();
    const catalog = open(dir);
    const lines: Line[] = [];
    const anchoring = await start(dir, catalog, ENV, lines);
    const p = catalog.createPrincipal({ name: "clinic", role: "uploader" }).principal;
    const kept = commitFile(catalog, p);
    await anchoring.batcher.flush();
    const chain = anchoring.embeddedChain();
    if (chain === undefined) throw new Error("no embedded chain");
    await nextDump(chain.stateFile);
    await nextDump(chain.stateFile);
    const lost = commitFile(catalog, p);
    await anchoring.batcher.flush();
    const oldReceipt = anchoring.receipt(lost.id);
    process.kill(chain.pid, "SIGKILL");

    await waitFor(() => anchoring.embeddedChain() !== undefined && anchoring.embeddedChain()?.pid !== chain.pid, 15_000, "anvil back");
    const rpcUrl = anchoring.chainInfo.rpc as string;
    expect(rpcUrl).toBe(chain.rpcUrl); // same port again
    await waitFor(() => verifyReceipt({ plaintextSha256: lost.sha, receipt: oldReceipt, rpcUrl }), 20_000, "old receipt verifying");
    await verifyReceipt({ plaintextSha256: kept.sha, receipt: anchoring.receipt(kept.id), rpcUrl });
    await waitFor(() => anchoring.anchorStatus("file", lost.id).status === "final", 10_000, "final again");
    await verifyReceipt({ plaintextSha256: lost.sha, receipt: anchoring.receipt(lost.id), rpcUrl });
    expect(lines.map((l) => l.message)).toEqual(
      expect.arrayContaining([expect.stringContaining("embedded chain exited"), expect.stringContaining("no longer on chain")]),
    );
  });

  it("state lost entirely: VaultAnchor deployed again, every batch anchored again, old receipts verify again", async () => {
    const dir = dataDir();
    let catalog = open(dir);
    let anchoring = await start(dir, catalog);
    const p = catalog.createPrincipal({ name: "clinic", role: "uploader" }).principal;
    const files = [commitFile(catalog, p), commitFile(catalog, p)];
    await anchoring.batcher.flush();
    const receipts = files.map((f) => anchoring.receipt(f.id));
    await stop(anchoring);
    catalog.close();
    catalogs.splice(catalogs.indexOf(catalog), 1);
    rmSync(join(dir, "chain"), { recursive: true, force: true });

    catalog = open(dir);
    const lines: Line[] = [];
    anchoring = await start(dir, catalog, ENV, lines);
    expect(lines.map((l) => l.message)).toContainEqual(expect.stringContaining("VaultAnchor deployed again"));
    // Every batch went back to sealed at start; the batcher anchors them on the new contract.
    await anchoring.batcher.flush();
    expect(catalog.batchesWithStatus("sealed")).toEqual([]);
    const rpcUrl = anchoring.chainInfo.rpc as string;
    for (const [i, f] of files.entries()) {
      const fresh = anchoring.receipt(f.id);
      expect(fresh.contract).toBe(anchoring.chainInfo.contract);
      await verifyReceipt({ plaintextSha256: f.sha, receipt: fresh, rpcUrl });
      // Same deployer, same nonce: the contract lands at the same address, so old receipts hold.
      expect(fresh.contract).toBe(receipts[i]?.contract);
      await verifyReceipt({ plaintextSha256: f.sha, receipt: receipts[i], rpcUrl });
    }
  });
});

describe("anchoring service: an external chain", () => {
  it("uses MEDVAULT_CHAIN_RPC, MEDVAULT_ANCHOR_CONTRACT and a key file; no rpc in chainInfo", async () => {
    const chain = await startTestChain();
    try {
      const key = await fundedKey(chain.rpcUrl);
      const { address } = await deployVaultAnchor(chain.rpcUrl, key);
      const dir = dataDir();
      writeFileSync(join(dir, "key.hex"), `${key}\n`, { mode: 0o600 });
      const env = {
        ...ENV,
        MEDVAULT_CHAIN_RPC: chain.rpcUrl,
        MEDVAULT_ANCHOR_CONTRACT: address,
        MEDVAULT_ANCHORER_KEY: join(dir, "key.hex"),
      };
      const catalog = open(dir);
      const anchoring = await start(dir, catalog, env);
      expect(JSON.parse(JSON.stringify(anchoring.chainInfo))).toEqual({ chainId: 31337, contract: address });
      expect(anchoring.embeddedChain()).toBeUndefined();
      expect(existsSync(join(dir, ANCHORER_KEY_FILE))).toBe(false);
      const file = commitFile(catalog, catalog.createPrincipal({ name: "clinic", role: "uploader" }).principal);
      await anchoring.batcher.flush();
      await verifyReceipt({ plaintextSha256: file.sha, receipt: anchoring.receipt(file.id), rpcUrl: chain.rpcUrl });
      await stop(anchoring);

      // Another contract on the same catalog: every batch is anchored again there.
      const second = await deployVaultAnchor(chain.rpcUrl, key);
      const moved = await start(dir, catalog, { ...env, MEDVAULT_ANCHORER_KEY: key, MEDVAULT_ANCHOR_CONTRACT: second.address });
      expect(await codeOf(() => moved.receipt(file.id))).toBe("PENDING");
      await moved.batcher.flush();
      const receipt = moved.receipt(file.id);
      expect(receipt.contract).toBe(second.address);
      await verifyReceipt({ plaintextSha256: file.sha, receipt, rpcUrl: chain.rpcUrl });
    } finally {
      for (const a of running.splice(0)) await a.stop();
      await chain.stop();
    }
  });

  it("refuses an incomplete configuration", async () => {
    const dir = dataDir();
    const catalog = open(dir);
    const rpc = { MEDVAULT_CHAIN_RPC: "http://127.0.0.1:9" };
    expect(await codeOf(startAnchoring({ dataDir: dir, catalog, env: rpc }))).toBe("BAD_REQUEST");
    expect(await codeOf(startAnchoring({ dataDir: dir, catalog, env: { ...rpc, MEDVAULT_ANCHORER_KEY: join(dir, "missing") } }))).toBe(
      "BAD_REQUEST",
    );
    const key = `0x${"11".repeat(32)}`;
    expect(await codeOf(startAnchoring({ dataDir: dir, catalog, env: { ...rpc, MEDVAULT_ANCHORER_KEY: key } }))).toBe("BAD_REQUEST");
    // Unreachable at first start (nothing remembered): CHAIN_UNAVAILABLE.
    const env = { ...rpc, MEDVAULT_ANCHORER_KEY: key, MEDVAULT_ANCHOR_CONTRACT: `0x${"22".repeat(20)}` };
    expect(await codeOf(startAnchoring({ dataDir: dir, catalog, env }))).toBe("CHAIN_UNAVAILABLE");
    expect(await codeOf(startAnchoring({ dataDir: dir, catalog, env: { ...env, MEDVAULT_BATCH_MAX_LEAVES: "0" } }))).toBe("BAD_REQUEST");
  });
});
