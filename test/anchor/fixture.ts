/**
 * A real anvil for the anchoring tests: free port on 127.0.0.1, its state in a temp dir,
 * stopped by its own PID. Keys are generated here and funded with anvil_setBalance. Also a real
 * catalog (node:sqlite in a temp dir) whose uploads carry real commitments.
 */

import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { JsonRpcProvider, Network, Wallet } from "ethers";
import { CID } from "multiformats/cid";
import { type AnvilProcess, startAnvil } from "../../src/anchor/anvil.ts";
import { fileCommitment } from "../../src/anchor/commitment.ts";
import { type Catalog, newFileId, openCatalog, type Principal } from "../../src/catalog/index.ts";
import { isVaultError } from "../../src/errors.ts";

export interface TestChain {
  anvil: AnvilProcess;
  dir: string;
  /** Where anvil keeps its state when started with `persistent`. */
  stateFile: string;
  rpcUrl: string;
  stop(): Promise<void>;
}

export async function startTestChain(options: { persistent?: boolean } = {}): Promise<TestChain> {
  const dir = mkdtempSync(join(tmpdir(), "medvault-anchor-"));
  const stateFile = join(dir, "chain", "state.json");
  const anvil = await startAnvil(options.persistent ? { stateFile } : {});
  return {
    anvil,
    dir,
    stateFile,
    rpcUrl: anvil.rpcUrl,
    async stop() {
      await anvil.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A fresh random key holding 100 ETH on the test chain. */
export async function fundedKey(rpcUrl: string): Promise<string> {
  const wallet = Wallet.createRandom();
  const provider = new JsonRpcProvider(rpcUrl, undefined, { staticNetwork: Network.from(31337), batchMaxCount: 1 });
  try {
    await provider.send("anvil_setBalance", [wallet.address, "0x56bc75e2d63100000"]);
  } finally {
    provider.destroy();
  }
  return wallet.privateKey;
}

export function rawProvider(rpcUrl: string): JsonRpcProvider {
  return new JsonRpcProvider(rpcUrl, undefined, {
    staticNetwork: Network.from(31337),
    batchMaxCount: 1,
    cacheTimeout: -1,
  });
}

export function randomRoot(): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(32));
}

export const ZERO_ROOT = new Uint8Array(32);

/** Intrinsic gas of a call's calldata (EIP-2028: 4 per zero byte, 16 per other byte). */
export function calldataGas(data: string): number {
  const bytes = Buffer.from(data.slice(2), "hex");
  let gas = 0;
  for (const b of bytes) gas += b === 0 ? 4 : 16;
  return gas;
}

// ---------------------------------------------------------------------------------------------
// A real catalog whose files carry real commitments (so their receipts verify).

export interface TestCatalog {
  dir: string;
  catalog: Catalog;
  owner: Principal;
  cleanup(): void;
}

export function openTestCatalog(): TestCatalog {
  const dir = mkdtempSync(join(tmpdir(), "medvault-anchor-catalog-"));
  const catalog = openCatalog({ path: join(dir, "catalog.db") });
  const { principal: owner } = catalog.createPrincipal({ name: "clinic", role: "uploader" });
  return {
    dir,
    catalog,
    owner,
    cleanup() {
      catalog.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface CommittedFile {
  id: string;
  plaintext: Uint8Array;
  sha: Uint8Array;
}

export const sha256 = (data: Uint8Array) => new Uint8Array(createHash("sha256").update(data).digest());

/** Commits an upload (two leaves: the file's commitment and its audit event). */
export function commitFile(catalog: Catalog, owner: Principal, size = 100): CommittedFile {
  const id = newFileId();
  const plaintext = new Uint8Array(randomBytes(size));
  const sha = sha256(plaintext);
  const payloadCid = CID.decode(Buffer.concat([Buffer.from("01551220", "hex"), sha256(randomBytes(64))])).toString();
  const salt = new Uint8Array(randomBytes(32));
  const commitment = fileCommitment({ salt, fileId: id, plaintextSha256: sha, payloadCid });
  catalog.commitUpload({
    file: {
      id,
      ownerId: owner.id,
      name: "scan.dcm",
      mediaType: "application/dicom",
      size,
      plaintextSha256: sha,
      payloadCid,
      salt,
      commitment,
    },
    vaultHeader: new Uint8Array(randomBytes(180)),
    recipients: [],
    actorId: owner.id,
  });
  return { id, plaintext, sha };
}

/** Queues `n` audit events (one leaf each). */
export function appendEvents(catalog: Catalog, n: number): void {
  catalog.transaction(() => {
    for (let i = 0; i < n; i++) catalog.appendEvent({ action: "test.tick", outcome: "ok", detail: { i } });
  });
}

export async function waitFor<T>(check: () => T | Promise<T>, timeoutMs = 15_000, what = "condition"): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== null && value !== false) return value as NonNullable<T>;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`, { cause: last });
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Resolves right after anvil's next periodic state dump (`--state-interval 1`). */
export async function nextDump(stateFile: string): Promise<void> {
  const mtime = () => (existsSync(stateFile) ? statSync(stateFile).mtimeMs : 0);
  const before = mtime();
  const deadline = Date.now() + 5000;
  while (mtime() === before) {
    if (Date.now() > deadline) throw new Error("no state dump within 5 s");
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

export async function codeOf(promise: Promise<unknown> | (() => unknown)): Promise<string> {
  try {
    await (typeof promise === "function" ? promise() : promise);
    return "resolved";
  } catch (error) {
    if (isVaultError(error)) return error.code;
    throw error;
  }
}
