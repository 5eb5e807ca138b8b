// Receipts and event proofs built from a real catalog, verified against a real anvil; each
// tampering fails with its own code.

import { DatabaseSync } from "node:sqlite";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createBatcher } from "../../src/anchor/batcher.ts";
import { type ChainClient, createChainClient, deployVaultAnchor } from "../../src/anchor/chain.ts";
import { type Receipt, verifyReceipt } from "../../src/anchor/receipt.ts";
import { anchoredRoot, anchorStatus, buildReceipt, eventProof, verifyEventProof } from "../../src/anchor/receipts.ts";
import { verifyInclusion } from "../../src/anchor/tree.ts";
import {
  type CommittedFile,
  codeOf,
  commitFile,
  fundedKey,
  openTestCatalog,
  sha256,
  startTestChain,
  type TestCatalog,
  type TestChain,
} from "./fixture.ts";

let chain: TestChain;
let client: ChainClient;
let other: string;
let db: TestCatalog;
let files: CommittedFile[];
let pendingFile: CommittedFile;
let chainInfo: { chainId: number; contract: string };

beforeAll(async () => {
  chain = await startTestChain();
  const key = await fundedKey(chain.rpcUrl);
  const contract = (await deployVaultAnchor(chain.rpcUrl, key)).address;
  other = (await deployVaultAnchor(chain.rpcUrl, key)).address; // a second, unrelated VaultAnchor
  client = await createChainClient({ rpcUrl: chain.rpcUrl, privateKey: key, contract, chainId: 31337 });
  chainInfo = { chainId: 31337, contract };
  db = openTestCatalog();
  files = Array.from({ length: 7 }, (_, i) => commitFile(db.catalog, db.owner, 10 + i));
  const batcher = createBatcher({ catalog: db.catalog, chain: client, maxLeaves: 6 });
  await batcher.flush(); // 1 + 14 leaves: batches of 6, 6 and 3
  await batcher.stop();
  pendingFile = commitFile(db.catalog, db.owner);
});

afterAll(async () => {
  client?.close();
  db?.cleanup();
  await chain?.stop();
});

const flip = (hex: string, at = 0) => hex.slice(0, at) + (hex[at] === "0" ? "1" : "0") + hex.slice(at + 1);

describe("receipts from the catalog", () => {
  it("every anchored file's receipt has exactly the issue's fields and verifies against the chain", async () => {
    expect(db.catalog.batchesWithStatus("final").map((b) => b.leafCount)).toEqual([6, 6, 3]);
    for (const file of files) {
      const receipt = buildReceipt(db.catalog, file.id, chainInfo);
      expect(Object.keys(receipt).sort()).toEqual(
        [
          "type",
          "fileId",
          "plaintextSha256",
          "payloadCid",
          "salt",
          "commitment",
          "leafIndex",
          "treeSize",
          "path",
          "root",
          "batchId",
          "chainId",
          "contract",
          "txHash",
          "blockNumber",
        ].sort(),
      );
      expect(receipt).toMatchObject({ type: "medvault.receipt/v1", fileId: file.id, chainId: 31337, contract: chainInfo.contract });
      const info = await verifyReceipt({ plaintextSha256: file.sha, receipt, rpcUrl: chain.rpcUrl });
      expect(info.batchId).toBe(receipt.batchId);
      expect(info.blockNumber).toBe(receipt.blockNumber);
    }
  });

  it("one changed byte of the file: HASH_MISMATCH", async () => {
    const file = files[2] as CommittedFile;
    const receipt = buildReceipt(db.catalog, file.id);
    const changed = new Uint8Array(file.plaintext);
    changed[5] = (changed[5] as number) ^ 1;
    expect(await codeOf(verifyReceipt({ plaintextSha256: sha256(changed), receipt, rpcUrl: chain.rpcUrl }))).toBe("HASH_MISMATCH");
  });

  it("a changed path element: BAD_PROOF", async () => {
    const file = files[3] as CommittedFile;
    const receipt = buildReceipt(db.catalog, file.id);
    expect(receipt.path.length).toBeGreaterThan(0);
    for (let i = 0; i < receipt.path.length; i++) {
      const path = receipt.path.map((p, j) => (j === i ? flip(p, 10) : p));
      expect(await codeOf(verifyReceipt({ plaintextSha256: file.sha, receipt: { ...receipt, path }, rpcUrl: chain.rpcUrl }))).toBe(
        "BAD_PROOF",
      );
    }
  });

  it("another contract: WRONG_CONTRACT; another chain id: WRONG_CHAIN", async () => {
    const file = files[0] as CommittedFile;
    const receipt = buildReceipt(db.catalog, file.id);
    const verify = (r: Receipt) => codeOf(verifyReceipt({ plaintextSha256: file.sha, receipt: r, rpcUrl: chain.rpcUrl }));
    expect(await verify({ ...receipt, contract: other })).toBe("WRONG_CONTRACT");
    expect(await verify({ ...receipt, contract: client.account })).toBe("WRONG_CONTRACT"); // an account, no code
    expect(await verify({ ...receipt, chainId: 1 })).toBe("WRONG_CHAIN");
  });

  it("pending while not anchored (PENDING), unknown (NOT_FOUND), erased (GONE)", async () => {
    expect(anchorStatus(db.catalog, "file", pendingFile.id)).toEqual({ status: "pending" });
    expect(anchoredRoot(db.catalog, "file", pendingFile.id)).toBeUndefined();
    expect(await codeOf(() => buildReceipt(db.catalog, pendingFile.id))).toBe("PENDING");
    expect(await codeOf(() => buildReceipt(db.catalog, "f_doesnotexist0000000000000"))).toBe("NOT_FOUND");
    expect(await codeOf(() => anchorStatus(db.catalog, "file", "f_doesnotexist0000000000000"))).toBe("NOT_FOUND");

    const erased = files[6] as CommittedFile;
    const before = buildReceipt(db.catalog, erased.id);
    db.catalog.eraseFile({ fileId: erased.id, actorId: db.owner.id, reason: "patient request" });
    expect(await codeOf(() => buildReceipt(db.catalog, erased.id))).toBe("GONE");
    // Its leaf stays anchored (nothing links it to the document any more); the old receipt still verifies.
    expect(anchorStatus(db.catalog, "file", erased.id).status).toBe("final");
    await expect(verifyReceipt({ plaintextSha256: erased.sha, receipt: before, rpcUrl: chain.rpcUrl })).resolves.toBeTruthy();
  });

  it("a batch anchored on another chain or contract counts as pending", async () => {
    const file = files[1] as CommittedFile;
    expect(await codeOf(() => buildReceipt(db.catalog, file.id, { chainId: 31337, contract: other }))).toBe("PENDING");
    expect(await codeOf(() => buildReceipt(db.catalog, file.id, { ...chainInfo, chainId: 1 }))).toBe("PENDING");
  });

  it("file views: status, contract batch id, block and transaction", () => {
    const file = files[0] as CommittedFile;
    const status = anchorStatus(db.catalog, "file", file.id);
    const receipt = buildReceipt(db.catalog, file.id);
    expect(status).toEqual({ status: "final", batchId: receipt.batchId, blockNumber: receipt.blockNumber, txHash: receipt.txHash });
  });

  it("an audit event's proof verifies; a changed path or hash does not", async () => {
    const [event] = db.catalog.listEvents({ fileId: (files[4] as CommittedFile).id, action: "file.upload" });
    if (event === undefined) throw new Error("no upload event");
    const proof = eventProof(db.catalog, event.id, chainInfo);
    expect(proof).toMatchObject({
      type: "medvault.event-proof/v1",
      eventId: event.id,
      eventHash: Buffer.from(event.eventHash).toString("hex"),
    });
    expect(
      verifyInclusion(
        event.eventHash,
        proof.leafIndex,
        proof.treeSize,
        proof.path.map((p) => Buffer.from(p, "hex")),
        Buffer.from(proof.root, "hex"),
      ),
    ).toBe(true);
    const info = await verifyEventProof({ proof, rpcUrl: chain.rpcUrl, eventHash: event.eventHash });
    expect(info.batchId).toBe(proof.batchId);
    expect(anchorStatus(db.catalog, "event", event.id).status).toBe("final");

    const badPath = { ...proof, path: proof.path.map((p, i) => (i === 0 ? flip(p) : p)) };
    expect(await codeOf(verifyEventProof({ proof: badPath, rpcUrl: chain.rpcUrl }))).toBe("BAD_PROOF");
    expect(await codeOf(verifyEventProof({ proof, rpcUrl: chain.rpcUrl, eventHash: sha256(new Uint8Array(1)) }))).toBe("HASH_MISMATCH");
    expect(await codeOf(verifyEventProof({ proof: { ...proof, contract: other }, rpcUrl: chain.rpcUrl }))).toBe("WRONG_CONTRACT");
    expect(await codeOf(() => eventProof(db.catalog, "e_doesnotexist"))).toBe("NOT_FOUND");
  });

  it("a catalog whose record no longer matches its anchored leaf gives INTEGRITY_FAILED, not a receipt", async () => {
    const file = files[5] as CommittedFile;
    const raw = new DatabaseSync(`${db.dir}/catalog.db`);
    try {
      raw.prepare("UPDATE files SET plaintext_sha256 = ? WHERE id = ?").run(sha256(new Uint8Array(2)), file.id);
    } finally {
      raw.close();
    }
    expect(await codeOf(() => buildReceipt(db.catalog, file.id))).toBe("INTEGRITY_FAILED");
  });
});
