/**
 * Issue 4, "Done when", end to end through a real `medvault serve` child and its embedded anvil:
 *   1. an upload turns anchored within the batch interval plus a few seconds; `medvault verify`
 *      with only `--rpc` accepts its receipt, and a changed byte, path element, contract or chain
 *      id each fail with their own code;
 *   2. SIGINT and a start on the same data dir: receipts issued before still verify, files download;
 *   3. the chain stopped (SIGSTOP): uploads answer 201 and stay pending, then anchor on their own
 *      once it is back (SIGCONT); anvil killed (SIGKILL): the vault starts it again from its state
 *      file, lost roots are anchored again, and receipts verify again.
 * Every process started here (the vault, and the anvil it runs) is stopped by its PID.
 */

import { createHash, randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { getAddress } from "ethers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { deployVaultAnchor } from "../../src/anchor/chain.ts";
import { fundedKey } from "../anchor/fixture.ts";
import { medvault } from "../cli/run.ts";
import { bytes, tempDir } from "../crypto/helpers.ts";
import { addPrincipal, call, newToken, type Principal, type Served, sleep, spawnServe, upload } from "./harness.ts";

type Chain = { chainId: number; contract: string; rpc: string };
type Anchor = { status: "pending" | "anchored" | "final"; batchId?: number; blockNumber?: number; txHash?: string };
type Receipt = {
  fileId: string;
  path: string[];
  batchId: number;
  chainId: number;
  contract: string;
  txHash: string;
  blockNumber: number;
  root: string;
  [key: string]: unknown;
};
type Stored = { id: string; data: Buffer; path: string; receipt?: Receipt };

const data = tempDir("medvault-anchoring-");
const work = tempDir("medvault-anchoring-work-");
const adminToken = newToken(); // mvt_ + 43 characters
const ENV = { MEDVAULT_BATCH_MAX_MS: "500" };
const PID_FILE = join(data.path, "chain", "anvil.pid");
const STATE_FILE = join(data.path, "chain", "state.json");

const running: Served[] = [];
const anvilPids = new Set<number>();
const stopped = new Set<number>(); // anvils sent SIGSTOP and not yet SIGCONT
let server: Served;
let uploader: Principal;
let recipient: Principal;
const files: Stored[] = [];
let seed = 1000;
const logs: string[] = []; // the vault's log (pino JSON lines)

async function serve(): Promise<Served> {
  const s = await spawnServe(data.path, adminToken, ENV);
  running.push(s);
  s.child.stdout?.on("data", (d: Buffer) => logs.push(d.toString()));
  anvilPids.add(anvilPid());
  return s;
}

/** The embedded anvil's PID, from the vault's pid file. */
function anvilPid(): number {
  const pid = Number(readFileSync(PID_FILE, "utf8").trim());
  if (!Number.isInteger(pid) || pid <= 1) throw new Error(`bad anvil pid file: ${pid}`);
  return pid;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A zombie is gone for our purposes.
  try {
    return !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, "utf8"));
  } catch {
    return false;
  }
}

/** Only an anvil running on this test's state file. */
function isOurAnvil(pid: number): boolean {
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ");
    return cmdline.includes("anvil") && cmdline.includes(STATE_FILE);
  } catch {
    return false;
  }
}

async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 20_000,
  everyMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await fn();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last === undefined ? "" : `: ${String(last)}`}`);
    await sleep(everyMs);
  }
}

/** The last block in anvil's state file; -1 while it cannot be read whole (a dump in progress). */
function dumpedBlock(): number {
  try {
    const state = JSON.parse(readFileSync(STATE_FILE, "utf8")) as { best_block_number?: unknown };
    return typeof state.best_block_number === "number" ? state.best_block_number : -1;
  } catch {
    return -1;
  }
}

async function chainOf(url: string): Promise<Chain> {
  const res = await call(url, undefined, "GET", "/v1/chain");
  expect(res.status).toBe(200);
  return res.body as Chain;
}

async function anchorOf(url: string, id: string): Promise<Anchor> {
  const res = await call(url, uploader.token, "GET", `/v1/files/${id}`);
  expect(res.status).toBe(200);
  return (res.body as { anchor: Anchor }).anchor;
}

const isAnchored = (a: Anchor) => a.status === "anchored" || a.status === "final";

async function waitAnchored(url: string, ids: string[], timeoutMs = 20_000): Promise<Anchor[]> {
  return Promise.all(
    ids.map((id) =>
      waitFor(
        `${id} anchored`,
        async () => {
          const a = await anchorOf(url, id);
          return isAnchored(a) && a;
        },
        timeoutMs,
      ),
    ),
  );
}

async function receiptOf(url: string, id: string): Promise<{ status: number; code: string | undefined; receipt: Receipt }> {
  const res = await call(url, uploader.token, "GET", `/v1/files/${id}/receipt`);
  return { status: res.status, code: res.code, receipt: res.body as Receipt };
}

/** Uploads `n` files at once (one batch), keeping their plaintext on disk for `medvault verify`. */
async function uploadMany(url: string, n: number): Promise<Stored[]> {
  const made = await Promise.all(
    Array.from({ length: n }, async () => {
      const body = bytes(1000 + (seed % 7) * 333, ++seed);
      const res = await upload(url, uploader.token, body, { name: `scan-${seed}.dcm`, recipients: [recipient.name] });
      expect(res.status).toBe(201);
      const path = join(work.path, `${res.file.id}.dcm`);
      writeFileSync(path, body);
      return { id: res.file.id, data: body, path };
    }),
  );
  files.push(...made);
  return made;
}

let receiptCounter = 0;

/** `medvault verify FILE --receipt R --rpc URL`, the receipt written to a file first. */
async function verify(filePath: string, receipt: object, rpc: string) {
  const receiptPath = join(work.path, `receipt-${++receiptCounter}.json`);
  writeFileSync(receiptPath, JSON.stringify(receipt));
  const res = await medvault(["verify", filePath, "--receipt", receiptPath, "--rpc", rpc]);
  return { code: res.code, stdout: res.stdout.toString(), stderr: res.stderr };
}

async function expectVerified(file: Stored, receipt: Receipt, rpc: string): Promise<void> {
  const res = await verify(file.path, receipt, rpc);
  expect(res.stderr).toBe("");
  expect(res.code).toBe(0);
  expect(res.stdout).toMatch(/^verified: batch \d+, block \d+, \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\n$/);
}

async function expectFailure(filePath: string, receipt: object, rpc: string, code: string): Promise<void> {
  const res = await verify(filePath, receipt, rpc);
  expect(res.stdout).toBe("");
  expect(res.stderr).toMatch(new RegExp(`^medvault verify: ${code}: `));
  expect(res.code).toBe(1);
}

async function expectDownloads(url: string, file: Stored): Promise<void> {
  const res = await fetch(`${url}/v1/files/${file.id}/content`, { headers: { authorization: `Bearer ${recipient.token}` } });
  expect(res.status).toBe(200);
  const got = Buffer.from(await res.arrayBuffer());
  expect(createHash("sha256").update(got).digest("hex")).toBe(createHash("sha256").update(file.data).digest("hex"));
}

/** SIGTERM, then SIGKILL when it does not exit within `graceMs`. */
async function stopServer(s: Served, graceMs = 20_000): Promise<void> {
  const timeout = sleep(graceMs).then(() => "timeout" as const);
  if ((await Promise.race([s.stop("SIGTERM"), timeout])) === "timeout") await s.stop("SIGKILL");
}

beforeAll(async () => {
  server = await serve();
  const admin: Principal = { id: "", name: "admin", role: "admin", token: adminToken };
  uploader = await addPrincipal({ url: server.url, admin }, "uploader");
  recipient = await addPrincipal({ url: server.url, admin }, "recipient");
});

afterAll(async () => {
  for (const pid of stopped) if (alive(pid)) process.kill(pid, "SIGCONT");
  for (const s of running) await stopServer(s);
  // An anvil left behind by a vault that had to be killed: stopped by its PID, if it is still ours.
  try {
    anvilPids.add(anvilPid());
  } catch {
    // no pid file
  }
  for (const pid of anvilPids) if (alive(pid) && isOurAnvil(pid)) process.kill(pid, "SIGKILL");
  data.remove();
  work.remove();
}, 90_000);

describe("anchoring through a real medvault serve and its embedded anvil", () => {
  it("an upload anchors within the batch interval; verify accepts its receipt and names each tampering", async () => {
    const chain = await chainOf(server.url);
    expect(chain).toEqual({
      chainId: 31337,
      contract: expect.stringMatching(/^0x[0-9a-fA-F]{40}$/),
      rpc: expect.stringMatching(/^http:\/\/127\.0\.0\.1:\d+$/),
    });

    const batch = await uploadMany(server.url, 4);
    const anchors = await waitAnchored(
      server.url,
      batch.map((f) => f.id),
    );
    for (const a of anchors) {
      expect(a.batchId).toBeGreaterThanOrEqual(1);
      expect(a.blockNumber).toBeGreaterThanOrEqual(1);
      expect(a.txHash).toMatch(/^0x[0-9a-f]{64}$/i);
    }

    for (const [i, file] of batch.entries()) {
      const { status, receipt } = await receiptOf(server.url, file.id);
      expect(status).toBe(200);
      expect(receipt).toMatchObject({
        type: "medvault.receipt/v1",
        fileId: file.id,
        plaintextSha256: createHash("sha256").update(file.data).digest("hex"),
        chainId: chain.chainId,
        contract: chain.contract,
        batchId: anchors[i]?.batchId,
        blockNumber: anchors[i]?.blockNumber,
        txHash: anchors[i]?.txHash,
      });
      file.receipt = receipt;
    }

    // A file whose proof has path elements (several leaves in its batch).
    const file = batch.find((f) => (f.receipt?.path.length ?? 0) > 0) as Stored;
    expect(file).toBeDefined();
    const receipt = file.receipt as Receipt;
    for (const f of batch) await expectVerified(f, f.receipt as Receipt, chain.rpc);
    const ok = await verify(file.path, receipt, chain.rpc);
    expect(ok.stdout).toContain(`verified: batch ${receipt.batchId}, block ${receipt.blockNumber}, `);

    // One changed byte of the file.
    const changed = Buffer.from(file.data);
    const at = Math.floor(changed.length / 2);
    changed[at] = (changed[at] as number) ^ 0x01;
    const changedPath = join(work.path, "changed.dcm");
    writeFileSync(changedPath, changed);
    await expectFailure(changedPath, receipt, chain.rpc, "HASH_MISMATCH");

    // A changed path element.
    const path = [...receipt.path];
    const first = Buffer.from(path[0] as string, "hex");
    first[0] = (first[0] as number) ^ 0x80;
    path[0] = first.toString("hex");
    await expectFailure(file.path, { ...receipt, path }, chain.rpc, "BAD_PROOF");

    // Another contract: an address without code, and another VaultAnchor on the same chain.
    await expectFailure(
      file.path,
      { ...receipt, contract: getAddress(`0x${randomBytes(20).toString("hex")}`) },
      chain.rpc,
      "WRONG_CONTRACT",
    );
    const other = await deployVaultAnchor(chain.rpc, await fundedKey(chain.rpc));
    expect(other.address).not.toBe(chain.contract);
    await expectFailure(file.path, { ...receipt, contract: other.address }, chain.rpc, "WRONG_CONTRACT");

    // Another chain id.
    await expectFailure(file.path, { ...receipt, chainId: 1 }, chain.rpc, "WRONG_CHAIN");
  });

  it("stopped with SIGINT and started again on the same data dir: old receipts verify, files download", async () => {
    expect(files.every((f) => f.receipt !== undefined)).toBe(true);
    const before = await chainOf(server.url);
    const oldAnvil = anvilPid();
    expect(await server.stop("SIGINT")).toBe(0);
    expect(alive(oldAnvil)).toBe(false); // the vault stopped its anvil on the way out

    server = await serve();
    const after = await chainOf(server.url);
    expect(after.chainId).toBe(before.chainId);
    expect(after.contract).toBe(before.contract);
    expect(anvilPid()).not.toBe(oldAnvil);

    for (const f of files) {
      await expectVerified(f, f.receipt as Receipt, after.rpc);
      expect(isAnchored(await anchorOf(server.url, f.id))).toBe(true);
      await expectDownloads(server.url, f);
    }
  });

  it("chain stopped: uploads go on and stay pending, then anchor on their own; anvil killed: restarted, receipts verify again", async () => {
    // --- SIGSTOP: the chain does not answer at all.
    const pid = anvilPid();
    expect(isOurAnvil(pid)).toBe(true);
    process.kill(pid, "SIGSTOP");
    stopped.add(pid);
    let during: Stored[];
    try {
      during = await uploadMany(server.url, 3); // each answered 201 (checked inside)
      // Well past the batch interval (500 ms): still pending, and no receipt yet.
      for (let i = 0; i < 6; i++) {
        await sleep(500);
        for (const f of during) expect((await anchorOf(server.url, f.id)).status).toBe("pending");
      }
      for (const f of during) {
        const { status, code } = await receiptOf(server.url, f.id);
        expect([status, code]).toEqual([409, "PENDING"]);
      }
    } finally {
      process.kill(pid, "SIGCONT");
      stopped.delete(pid);
    }
    await waitAnchored(
      server.url,
      during.map((f) => f.id),
      30_000,
    );
    let chain = await chainOf(server.url);
    for (const f of during) {
      const { status, receipt } = await receiptOf(server.url, f.id);
      expect(status).toBe(200);
      f.receipt = receipt;
      await expectVerified(f, receipt, chain.rpc);
    }

    // --- SIGKILL: anvil loses whatever it has not dumped yet (it dumps every second). Frozen
    // (SIGSTOP) the moment new uploads are anchored, it dumps no more; killed once its state file
    // is seen to lack their block, so the kill certainly loses their roots.
    let lost = false;
    for (let attempt = 0; attempt < 5 && !lost; attempt++) {
      const last = await uploadMany(server.url, 2);
      const anchors = await waitFor(
        "the new uploads anchored",
        async () => {
          const all = await Promise.all(last.map((f) => anchorOf(server.url, f.id)));
          return all.every(isAnchored) && all;
        },
        20_000,
        10,
      );
      process.kill(pid, "SIGSTOP");
      stopped.add(pid);
      const dumped = dumpedBlock();
      // Issued before the kill (from the catalog: the frozen chain is not asked).
      for (const f of last) {
        const { status, receipt } = await receiptOf(server.url, f.id);
        expect(status).toBe(200);
        f.receipt = receipt;
      }
      lost = dumped >= 0 && dumped < Math.max(...anchors.map((a) => a.blockNumber as number));
      if (!lost) {
        process.kill(pid, "SIGCONT");
        stopped.delete(pid);
      }
    }
    expect(lost).toBe(true);
    process.kill(pid, "SIGKILL"); // delivered to a stopped process too
    stopped.delete(pid);

    const restarted = await waitFor(
      "the vault to start anvil again",
      () => {
        const next = anvilPid();
        return next !== pid && alive(next) && next;
      },
      30_000,
    );
    anvilPids.add(restarted);
    expect(isOurAnvil(restarted)).toBe(true);
    await waitFor(
      "the chain ready again",
      async () => ((await call(server.url, undefined, "GET", "/readyz")).body as { chain: string }).chain === "up",
    );
    chain = await chainOf(server.url);

    // Every file's receipt, as the receipt endpoint now gives it, verifies again.
    for (const f of files) {
      const fresh = await waitFor(
        `${f.id} verifying again`,
        async () => {
          const { status, receipt } = await receiptOf(server.url, f.id);
          if (status !== 200) return undefined;
          const res = await verify(f.path, receipt, chain.rpc);
          return res.code === 0 && receipt;
        },
        30_000,
      );
      expect(fresh.fileId).toBe(f.id);
      expect(fresh.root).toBe(f.receipt?.root); // same leaves, same root: only its batch data may change
      expect(isAnchored(await anchorOf(server.url, f.id))).toBe(true);
    }
    // The vault found the lost roots missing on chain and anchored them again by itself.
    expect(logs.join("")).toMatch(/roots missing on chain were queued again|root no longer on chain/);
    // And so do the receipts issued before the kill: the chain knows their roots again.
    for (const f of files) await expectVerified(f, f.receipt as Receipt, chain.rpc);
    for (const f of files) await expectDownloads(server.url, f);
  });
});
