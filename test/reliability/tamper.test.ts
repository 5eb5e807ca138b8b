/**
 * Issue 7, "Tampering": every kind of tampering is detected with its own code, and files nobody
 * touched never fail (no false alarms). One real in-process server (embedded anvil) on a data
 * dir of our own, stopped and started again where the catalog is edited:
 *   1. a flipped bit in a stored block: 500 INTEGRITY_FAILED, audited;
 *   2. catalog edits (server stopped): a recipient header swapped between two files (the age
 *      file no longer decrypts: PAYLOAD_FAILURE), the vault header swapped (500 INTEGRITY_FAILED,
 *      audited), an edited plaintext_sha256 or payload_cid (the commitment no longer matches:
 *      500 INTEGRITY_FAILED, audited);
 *   3. forged receipts: BAD_PROOF, ROOT_NOT_ON_CHAIN, HASH_MISMATCH, WRONG_CONTRACT, WRONG_CHAIN;
 *   4. a root dropped from the chain (anvil `evm_revert` with mining paused): the receipt gives
 *      ROOT_NOT_ON_CHAIN, the next read makes the file pending again (as `checkAnchor`
 *      documents), and once mining resumes it is anchored again and the old receipt verifies.
 * After each case every untouched file downloads intact and its receipt verifies.
 */

import { createHash, randomBytes } from "node:crypto";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { NextToLast } from "blockstore-fs/sharding";
import { getAddress } from "ethers";
import { CID } from "multiformats/cid";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Receipt } from "../../src/anchor/receipt.ts";
import { verifyReceipt } from "../../src/anchor/receipt.ts";
import { inclusionProof, merkleRoot } from "../../src/anchor/tree.ts";
import { decryptStream, parseIdentity } from "../../src/crypto/index.ts";
import { isVaultError } from "../../src/errors.ts";
import { type Running, startServer } from "../../src/server.ts";
import { bytes, tempDir } from "../crypto/helpers.ts";
import {
  addPrincipal,
  call,
  type Download,
  fetchDownload,
  flipBitOnDisk,
  newToken,
  type Principal,
  sleep,
  upload,
} from "../service/harness.ts";

type Stored = { id: string; data: Buffer; sha: Uint8Array; cid: string; receipt: Receipt };
type Anchor = { status: "pending" | "anchored" | "final"; batchId?: number; blockNumber?: number };

const dir = tempDir("medvault-tamper-");
const adminToken = newToken();
let running: Running | undefined;
let url: string;
let uploader: Principal;
let recipient: Principal;
let officer: Principal;
let seed = 700;
const files = new Map<string, Stored>();
const tampered = new Set<string>(); // ids of files tampered with (excluded from the no-false-alarm checks)

async function start(): Promise<void> {
  running = await startServer(
    {
      dataDir: dir.path,
      host: "127.0.0.1",
      port: 0,
      maxUploadBytes: 1024 ** 3,
      adminToken,
      webDir: undefined,
      logLevel: "silent",
    },
    { ...process.env, MEDVAULT_CHAIN_RPC: "", MEDVAULT_BATCH_MAX_MS: "100" },
  );
  url = running.url;
}

async function stop(): Promise<void> {
  const r = running;
  running = undefined;
  await r?.close();
}

async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

async function anchorOf(id: string): Promise<Anchor> {
  const res = await call(url, uploader.token, "GET", `/v1/files/${id}`);
  expect(res.status).toBe(200);
  return (res.body as { anchor: Anchor }).anchor;
}

const isAnchored = (a: Anchor) => a.status === "anchored" || a.status === "final";

async function rpcUrl(): Promise<string> {
  const res = await call(url, undefined, "GET", "/v1/chain");
  expect(res.status).toBe(200);
  return (res.body as { rpc: string }).rpc;
}

async function receiptOf(id: string): Promise<Receipt> {
  const res = await call(url, uploader.token, "GET", `/v1/files/${id}/receipt`);
  expect(res.status).toBe(200);
  return res.body as Receipt;
}

/** Uploads `n` files at once, waits until they are anchored, and keeps their receipts. */
async function uploadAnchored(n: number): Promise<Stored[]> {
  const made = await Promise.all(
    Array.from({ length: n }, async () => {
      const data = bytes(3000 + (seed % 5) * 40_000, ++seed);
      const res = await upload(url, uploader.token, data, { name: `scan-${seed}.dcm`, recipients: [recipient.name] });
      expect(res.status).toBe(201);
      return { id: res.file.id, data, cid: res.file.cid, sha: new Uint8Array(createHash("sha256").update(data).digest()) };
    }),
  );
  await Promise.all(made.map((f) => waitFor(`${f.id} anchored`, async () => isAnchored(await anchorOf(f.id)))));
  const stored: Stored[] = [];
  for (const f of made) {
    const s = { ...f, receipt: await receiptOf(f.id) };
    files.set(s.id, s);
    stored.push(s);
  }
  return stored;
}

function download(id: string, what: "content" | "age"): Promise<Download> {
  return fetchDownload(url, recipient.token, id, what);
}

async function integrityEvents(id: string): Promise<{ outcome: string; actorId: string }[]> {
  const res = await call(url, officer.token, "GET", `/v1/audit?file=${id}&action=file.integrity`);
  expect(res.status).toBe(200);
  return (res.body as { events: { outcome: string; actorId: string }[] }).events;
}

async function expectIntegrityFailed(id: string, what: "content" | "age" = "content"): Promise<void> {
  const before = (await integrityEvents(id)).length;
  const d = await download(id, what);
  expect([d.status, d.code]).toEqual([500, "INTEGRITY_FAILED"]);
  const events = await integrityEvents(id);
  expect(events.length).toBe(before + 1);
  expect(events.every((e) => e.outcome === "failed" && e.actorId === recipient.id)).toBe(true);
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    if (isVaultError(error)) return error.code;
    throw error;
  }
  return "OK";
}

/** No false alarms: every untouched file downloads intact (content and age), its receipt verifies, nothing audited. */
async function expectUntouchedIntact(): Promise<void> {
  const rpc = await rpcUrl();
  const untouched = [...files.values()].filter((f) => !tampered.has(f.id));
  expect(untouched.length).toBeGreaterThanOrEqual(3);
  for (const f of untouched) {
    const d = await download(f.id, "content");
    expect([d.status, d.errored]).toEqual([200, false]);
    expect(createHash("sha256").update(d.body).digest().equals(f.sha)).toBe(true);
    const age = await download(f.id, "age");
    expect([age.status, age.errored]).toEqual([200, false]);
    const parts: Uint8Array[] = [];
    for await (const piece of decryptStream([age.body], [parseIdentity(recipient.identity as string)])) parts.push(piece);
    const plain = Buffer.concat(parts);
    expect(plain.equals(f.data)).toBe(true);
    const info = await verifyReceipt({ plaintextSha256: f.sha, receipt: f.receipt, rpcUrl: rpc });
    expect(info.batchId).toBe(f.receipt.batchId);
    expect(await integrityEvents(f.id)).toEqual([]);
  }
}

async function rpcCall(rpc: string, method: string, params: unknown[] = []): Promise<unknown> {
  const res = await fetch(rpc, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }),
  });
  const body = (await res.json()) as { result?: unknown; error?: { message: string } };
  if (body.error !== undefined) throw new Error(`${method}: ${body.error.message}`);
  return body.result;
}

beforeAll(async () => {
  await start();
  const service = { url, admin: { id: "", name: "admin", role: "admin" as const, token: adminToken } };
  uploader = await addPrincipal(service, "uploader");
  recipient = await addPrincipal(service, "recipient");
  officer = await addPrincipal(service, "privacy");
  await uploadAnchored(10);
  await expectUntouchedIntact();
});

afterAll(async () => {
  await stop();
  dir.remove();
}, 30_000);

describe("tampering is detected with its code; untouched files never fail", () => {
  it("a flipped bit in a stored block: 500 INTEGRITY_FAILED, audited", async () => {
    const [target] = await uploadAnchored(1);
    if (target === undefined) throw new Error("no upload");
    tampered.add(target.id);
    const { dir: shard, file } = new NextToLast().encode(CID.parse(target.cid));
    flipBitOnDisk(join(dir.path, "ipfs", "blocks", shard, file), undefined, 0x04);
    await expectIntegrityFailed(target.id);
    await expectUntouchedIntact();
  });

  it("catalog edits: headers swapped between files, an edited sha256 or CID", async () => {
    const [a, b, c, d, e, f, g] = [...files.values()].filter((x) => !tampered.has(x.id)) as Stored[];
    if (g === undefined) throw new Error("not enough files");
    for (const x of [a, b, c, d, e, f]) tampered.add(x?.id as string);

    await stop();
    const db = new DatabaseSync(join(dir.path, "catalog.sqlite"));
    try {
      const header = db.prepare("SELECT header FROM headers WHERE file_id = ? AND holder = ?");
      const set = db.prepare("UPDATE headers SET header = ? WHERE file_id = ? AND holder = ?");
      const swap = (x: Stored, y: Stored, holder: string) => {
        const hx = header.get(x.id, holder)?.header as Uint8Array;
        const hy = header.get(y.id, holder)?.header as Uint8Array;
        expect(Buffer.from(hx).equals(Buffer.from(hy))).toBe(false);
        set.run(hy, x.id, holder);
        set.run(hx, y.id, holder);
      };
      swap(a as Stored, b as Stored, recipient.id);
      swap(c as Stored, d as Stored, "vault");
      const sha = Buffer.from(e?.sha as Uint8Array);
      sha[0] = (sha[0] as number) ^ 0x01;
      expect(db.prepare("UPDATE files SET plaintext_sha256 = ? WHERE id = ?").run(sha, e?.id as string).changes).toBe(1);
      expect(db.prepare("UPDATE files SET payload_cid = ? WHERE id = ?").run(g.cid, f?.id as string).changes).toBe(1);
    } finally {
      db.close();
    }
    await start();

    // Recipient header swapped: /age of A carries B's header; with the recipient's key it opens
    // to B's file key, and A's payload fails its first chunk's authentication.
    for (const x of [a, b] as Stored[]) {
      const age = await download(x.id, "age");
      expect([age.status, age.errored]).toEqual([200, false]);
      const out: Uint8Array[] = [];
      const code = await codeOf(
        (async () => {
          for await (const piece of decryptStream([age.body], [parseIdentity(recipient.identity as string)])) out.push(piece);
        })(),
      );
      expect(code).toBe("PAYLOAD_FAILURE");
      expect(out).toEqual([]); // not one unauthenticated byte
    }
    // Vault header swapped: /content decrypts with the other file's key and fails at once.
    await expectIntegrityFailed((c as Stored).id);
    await expectIntegrityFailed((d as Stored).id);
    // Edited plaintext_sha256: the commitment no longer matches, for content and age alike.
    await expectIntegrityFailed((e as Stored).id);
    await expectIntegrityFailed((e as Stored).id, "age");
    // payload_cid edited to another file's CID (G's): the commitment no longer matches.
    await expectIntegrityFailed((f as Stored).id);
    await expectIntegrityFailed((f as Stored).id, "age");

    await expectUntouchedIntact(); // G, whose CID was borrowed, among them
  });

  it("forged and replayed receipts: BAD_PROOF, ROOT_NOT_ON_CHAIN, HASH_MISMATCH, WRONG_CONTRACT, WRONG_CHAIN", async () => {
    const [x, y] = [...files.values()].filter((f) => !tampered.has(f.id)) as Stored[];
    if (x === undefined || y === undefined) throw new Error("not enough files");
    const rpc = await rpcUrl();
    const check = (receipt: object, sha = x.sha) => codeOf(verifyReceipt({ plaintextSha256: sha, receipt, rpcUrl: rpc }));
    const real = x.receipt;
    expect(await check(real)).toBe("OK");

    // A random root, the real path: the path no longer leads there.
    expect(await check({ ...real, root: randomBytes(32).toString("hex") })).toBe("BAD_PROOF");
    // A forged tree: the real commitment beside a made-up leaf; path and root agree, the chain never saw that root.
    const leaves = [Buffer.from(real.commitment, "hex"), randomBytes(32)];
    const forged = {
      ...real,
      leafIndex: 0,
      treeSize: 2,
      path: inclusionProof(0, leaves).map((p) => Buffer.from(p).toString("hex")),
      root: Buffer.from(merkleRoot(leaves)).toString("hex"),
    };
    expect(await check(forged)).toBe("ROOT_NOT_ON_CHAIN");
    // The receipt made out to another file id (or another CID): the commitment does not match.
    expect(await check({ ...real, fileId: y.id })).toBe("BAD_PROOF");
    expect(await check({ ...real, payloadCid: y.cid })).toBe("BAD_PROOF");
    // Replayed: Y's receipt checked against X's bytes.
    expect(await check(y.receipt, x.sha)).toBe("HASH_MISMATCH");
    // Another contract, another chain.
    expect(await check({ ...real, contract: getAddress(`0x${randomBytes(20).toString("hex")}`) })).toBe("WRONG_CONTRACT");
    expect(await check({ ...real, chainId: 1 })).toBe("WRONG_CHAIN");

    await expectUntouchedIntact();
  });

  it("a root dropped from the chain: ROOT_NOT_ON_CHAIN; the read makes the file pending; anchored again, the old receipt verifies", async () => {
    let rpc = await rpcUrl();
    const snapshot = await rpcCall(rpc, "evm_snapshot");
    const dropped = await uploadAnchored(2); // one batch after the snapshot; never read before the drop
    for (const f of dropped) {
      tampered.add(f.id);
      expect(await codeOf(verifyReceipt({ plaintextSha256: f.sha, receipt: f.receipt, rpcUrl: rpc }))).toBe("OK");
    }
    const [lost] = dropped as [Stored];
    let resumed = false;
    // Mining paused first, so the vault cannot anchor the root again before we look.
    await rpcCall(rpc, "evm_setAutomine", [false]);
    try {
      expect(await rpcCall(rpc, "evm_revert", [snapshot])).toBe(true);
      expect(await codeOf(verifyReceipt({ plaintextSha256: lost.sha, receipt: lost.receipt, rpcUrl: rpc }))).toBe("ROOT_NOT_ON_CHAIN");

      // The read: the stored file is still sound (every block, tag and hash checked), so it is
      // served; the missing root sends the file back to pending (checkAnchor), no receipt meanwhile.
      const d = await download(lost.id, "content");
      expect([d.status, d.errored]).toEqual([200, false]);
      expect(d.body.equals(lost.data)).toBe(true);
      await waitFor(`${lost.id} pending again`, async () => (await anchorOf(lost.id)).status === "pending");
      const res = await call(url, uploader.token, "GET", `/v1/files/${lost.id}/receipt`);
      expect([res.status, res.code]).toEqual([409, "PENDING"]);
      expect(await integrityEvents(lost.id)).toEqual([]); // not a tampered file: no integrity alarm
      await expectUntouchedIntact(); // roots anchored before the snapshot are still there
    } finally {
      await rpcCall(rpc, "evm_setAutomine", [true]);
      resumed = true;
    }
    expect(resumed).toBe(true);
    await rpcCall(rpc, "evm_mine"); // whatever the vault sent while mining was paused

    for (const f of dropped) {
      await waitFor(`${f.id} anchored again`, async () => isAnchored(await anchorOf(f.id)));
      const fresh = await receiptOf(f.id);
      expect(fresh.root).toBe(f.receipt.root); // same leaves, same root
      rpc = await rpcUrl();
      expect(await codeOf(verifyReceipt({ plaintextSha256: f.sha, receipt: f.receipt, rpcUrl: rpc }))).toBe("OK");
      expect(await codeOf(verifyReceipt({ plaintextSha256: f.sha, receipt: fresh, rpcUrl: rpc }))).toBe("OK");
      tampered.delete(f.id); // sound again: from now on an untouched file like the others
    }
    await expectUntouchedIntact();
  });
});
