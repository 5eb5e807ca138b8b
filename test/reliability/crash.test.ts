/**
 * Crash suite (issue 7): a child `medvault serve` is killed with SIGKILL at seeded points of a
 * scripted run of 50 mixed operations (uploads from 0 B to a few MiB, two streamed ones,
 * grants, revokes, erasures, with batches being sealed and anchored all the while), restarted
 * on the same data dir after each kill, and the run goes on. What got a 2xx is acknowledged;
 * what got no answer is in doubt (it may or may not have happened, but never half).
 *
 * Invariants, checked at the end:
 * - every acknowledged, non-erased file downloads intact (sha256); acknowledged erasures answer
 *   410; grants and revokes acknowledged hold for the second recipient;
 * - nothing unacknowledged is visible, unless it is complete: every listed file downloads intact,
 *   and a listed file we never got an answer for is one of our uploads in doubt, with its bytes;
 * - with the server stopped: the catalog's referenced payloads are exactly the store's pins,
 *   headers exist only for active files with a pinned payload, the audit hash chain verifies;
 * - after a final flush: no leaf pending, every leaf in exactly one batch at one index, every
 *   batch's root recomputes from its leaves and is on chain under its own chain batch id, and
 *   receipts of a sample verify against the chain (`verifyReceipt`).
 *
 * Seeded: MEDVAULT_CRASH_SEED replays a run's script (operations, sizes, targets, kill points
 * and delays); the exact instant of each kill relative to the server's work still varies.
 */

import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { afterAll, describe, expect, it } from "vitest";
import { checkRootOnChain, verifyReceipt } from "../../src/anchor/receipt.ts";
import { buildTree } from "../../src/anchor/tree.ts";
import { openCatalog } from "../../src/catalog/index.ts";
import { createBlobStore } from "../../src/store/index.ts";
import { bytes, tempDir } from "../crypto/helpers.ts";
import {
  addPrincipal,
  call,
  generated,
  multipartStream,
  newToken,
  type Principal,
  type Served,
  sleep,
  spawnServe,
} from "../service/harness.ts";

const MiB = 1024 * 1024;
const SEED = Number(process.env.MEDVAULT_CRASH_SEED ?? 0x5eed_c0de) >>> 0;
const OPS = 50;
const KILLS = 5;
const CONCURRENCY = 3;
const SIZES = [0, 1, 1000, 65535, 65536, 65537, 200_000, 1 * MiB, 2 * MiB + 3, 4 * MiB - 1];
const STREAMED_BYTES = 24 * MiB;
const KILLED_STREAM_BYTES = 128 * MiB;
const ENV = { MEDVAULT_BATCH_MAX_MS: "150" };

/** mulberry32: small, seedable, good enough to pick operations. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Outcome = "acked" | "doubt";
type Access = "none" | "granted" | "revoked" | "doubt";

type Upload = { op: number; name: string; size: number; sha256: string; outcome?: Outcome; id?: string };
type Tracked = {
  id: string;
  name: string;
  size: number;
  sha256: string;
  /** "doubt": an erasure was sent without an answer. */
  erased: boolean | "doubt";
  second: Access;
  busy: boolean;
};

const data = tempDir("medvault-reliability-crash-");
const adminToken = newToken();
const admin: Principal = { id: "", name: "admin", role: "admin", token: adminToken };
const running: Served[] = [];

async function serve(): Promise<Served> {
  const s = await spawnServe(data.path, adminToken, ENV);
  running.push(s);
  return s;
}

afterAll(async () => {
  for (const s of running) await s.stop("SIGKILL");
  // A vault killed last leaves its anvil behind; stop exactly that process (pid file, checked).
  try {
    const pid = Number(readFileSync(join(data.path, "chain", "anvil.pid"), "utf8").trim());
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8");
    if (Number.isInteger(pid) && pid > 1 && cmdline.includes("anvil") && cmdline.includes(data.path)) process.kill(pid, "SIGKILL");
  } catch {
    // no pid file, or the process is gone
  }
  data.remove();
});

const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

async function sha256Of(source: AsyncIterable<Uint8Array>): Promise<string> {
  const hash = createHash("sha256");
  for await (const piece of source) hash.update(piece);
  return hash.digest("hex");
}

/** A streamed multipart upload; `sent` counts file bytes handed to fetch. */
async function postFile(
  url: string,
  token: string,
  source: AsyncIterable<Uint8Array>,
  name: string,
  recipients: string[],
  progress: { sent: number },
): Promise<{ status: number; body: { id?: string; sha256?: string; error?: { code: string } } }> {
  const { body, contentType } = multipartStream(source, {
    name,
    recipients,
    onChunk: (n) => {
      progress.sent += n;
    },
  });
  const res = await fetch(`${url}/v1/files`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": contentType },
    body,
    duplex: "half",
  } as RequestInit);
  return { status: res.status, body: (await res.json()) as { id?: string; error?: { code: string } } };
}

async function* once(b: Uint8Array): AsyncGenerator<Uint8Array> {
  if (b.length > 0) yield b;
}

/** A recipient's verified download: status, and the sha256 and length of what came. */
async function download(
  url: string,
  token: string,
  id: string,
): Promise<{ status: number; code?: string; sha256?: string; size?: number }> {
  const res = await fetch(`${url}/v1/files/${id}/content`, { headers: { authorization: `Bearer ${token}` } });
  if (res.status !== 200) {
    const body = (await res.json().catch(() => ({}))) as { error?: { code?: string } };
    return { status: res.status, ...(body.error?.code === undefined ? {} : { code: body.error.code }) };
  }
  const hash = createHash("sha256");
  let size = 0;
  for await (const piece of res.body as unknown as AsyncIterable<Uint8Array>) {
    hash.update(piece);
    size += piece.length;
  }
  return { status: 200, sha256: hash.digest("hex"), size };
}

async function waitFor<T>(what: string, deadlineMs: number, probe: () => Promise<T | undefined> | T | undefined): Promise<T> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    const got = await probe();
    if (got !== undefined) return got;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

describe(`SIGKILL at random points of 50 mixed operations (seed ${SEED})`, () => {
  it("acknowledged work survives, nothing half-done is visible, stores agree, the audit chain verifies, every leaf is anchored once", async () => {
    console.log(`crash suite seed: ${SEED} (replay with MEDVAULT_CRASH_SEED=${SEED})`);
    const rand = prng(SEED);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;

    let server = await serve();
    const uploader = await addPrincipal({ url: server.url, admin }, "uploader");
    const first = await addPrincipal({ url: server.url, admin }, "recipient");
    const second = await addPrincipal({ url: server.url, admin }, "recipient");
    const privacy = await addPrincipal({ url: server.url, admin }, "privacy");

    // The script: kill points (not in the first five operations), two streamed uploads, one
    // of them cut by a kill while it streams.
    const killAt = new Map<number, number>(); // op → delay in ms before the kill
    while (killAt.size < KILLS) killAt.set(5 + Math.floor(rand() * (OPS - 6)), Math.floor(rand() * 80));
    const streamedOp = 5 + Math.floor(rand() * 20);
    const killedStreamOp = [...killAt.keys()].filter((k) => k !== streamedOp)[0] as number;
    console.log(
      `kills after ops ${[...killAt.entries()]
        .sort((a, b) => a[0] - b[0])
        .map(([op, ms]) => `${op}${op === killedStreamOp ? " (mid-stream)" : ` (+${ms} ms)`}`)
        .join(", ")}; streamed upload at op ${streamedOp}`,
    );

    const uploads: Upload[] = [];
    const files = new Map<string, Tracked>();
    const unexpected: string[] = [];
    const counts = { acked: 0, doubt: 0 };
    const kinds: Record<string, number> = {};
    let killedStreamProgress = { sent: 0 };

    const settle = (outcome: Outcome, kind: string) => {
      counts[outcome]++;
      kinds[`${kind} ${outcome}`] = (kinds[`${kind} ${outcome}`] ?? 0) + 1;
    };

    async function runUpload(op: number, url: string): Promise<void> {
      const streamed = op === streamedOp || op === killedStreamOp;
      const size = op === killedStreamOp ? KILLED_STREAM_BYTES : op === streamedOp ? STREAMED_BYTES : pick(SIZES);
      const seed = SEED ^ (op * 7919);
      const body = streamed ? undefined : bytes(size, seed);
      const u: Upload = {
        op,
        name: `op-${op}.bin`,
        size,
        sha256: body === undefined ? await sha256Of(generated(size, seed)) : sha256(body),
      };
      uploads.push(u);
      const progress = op === killedStreamOp ? killedStreamProgress : { sent: 0 };
      let res: Awaited<ReturnType<typeof postFile>>;
      try {
        res = await postFile(url, uploader.token, body === undefined ? generated(size, seed) : once(body), u.name, [first.name], progress);
      } catch {
        u.outcome = "doubt";
        settle("doubt", "upload");
        return;
      }
      if (res.status !== 201) {
        unexpected.push(`op ${op} upload: ${res.status} ${res.body.error?.code}`);
        return;
      }
      expect(res.body.sha256).toBe(u.sha256);
      u.outcome = "acked";
      u.id = res.body.id as string;
      files.set(u.id, { id: u.id, name: u.name, size, sha256: u.sha256, erased: false, second: "none", busy: false });
      settle("acked", "upload");
    }

    /** A JSON call whose failure to answer puts the op in doubt; a non-2xx answer is unexpected. */
    async function act(op: number, what: string, f: Tracked, go: () => Promise<{ status: number; code: string | undefined }>) {
      f.busy = true;
      try {
        const res = await go();
        if (res.status >= 300) {
          unexpected.push(`op ${op} ${what}: ${res.status} ${res.code}`);
          return "failed" as const;
        }
        settle("acked", what);
        return "acked" as const;
      } catch {
        settle("doubt", what);
        return "doubt" as const;
      } finally {
        f.busy = false;
      }
    }

    async function runOp(op: number, url: string): Promise<void> {
      if (op < 3 || op === streamedOp || op === killedStreamOp) return runUpload(op, url);
      const live = [...files.values()].filter((f) => !f.busy && f.erased === false);
      const r = rand();
      if (r < 0.18) {
        const candidates = live.filter((f) => f.second === "none" || f.second === "revoked");
        const f = candidates.length > 0 ? pick(candidates) : undefined;
        if (f !== undefined) {
          const out = await act(op, "grant", f, () =>
            call(url, uploader.token, "POST", `/v1/files/${f.id}/grants`, { recipient: second.name }),
          );
          if (out !== "failed") f.second = out === "acked" ? "granted" : "doubt";
          return;
        }
      } else if (r < 0.3) {
        const candidates = live.filter((f) => f.second === "granted");
        const f = candidates.length > 0 ? pick(candidates) : undefined;
        if (f !== undefined) {
          const out = await act(op, "revoke", f, () => call(url, uploader.token, "DELETE", `/v1/files/${f.id}/grants/${second.name}`));
          if (out !== "failed") f.second = out === "acked" ? "revoked" : "doubt";
          return;
        }
      } else if (r < 0.4) {
        // Keep most files: erase only while more than four live ones remain.
        const f = live.length > 4 ? pick(live) : undefined;
        if (f !== undefined) {
          const out = await act(op, "erasure", f, () =>
            call(url, privacy.token, "POST", `/v1/files/${f.id}/erasure`, { reason: "crash suite erasure request" }),
          );
          if (out !== "failed") f.erased = out === "acked" ? true : "doubt";
          return;
        }
      }
      return runUpload(op, url);
    }

    // The run: up to CONCURRENCY operations in flight; at a kill point, SIGKILL after the
    // seeded delay (or once the streamed upload is well under way), wait for every request
    // in flight to settle, restart on the same data dir, go on.
    const inflight = new Set<Promise<void>>();
    let kills = 0;
    for (let op = 0; op < OPS; op++) {
      while (inflight.size >= CONCURRENCY) await Promise.race(inflight);
      const p: Promise<void> = runOp(op, server.url).finally(() => inflight.delete(p));
      inflight.add(p);
      const delay = killAt.get(op);
      if (delay === undefined) continue;
      if (op === killedStreamOp) {
        const threshold = (2 + Math.floor(rand() * 14)) * MiB;
        await waitFor("the streamed upload to get going", 60_000, () => (killedStreamProgress.sent >= threshold ? true : undefined));
      } else await sleep(delay);
      expect(await server.stop("SIGKILL")).toBe(-1);
      kills++;
      await Promise.allSettled([...inflight]);
      server = await serve();
    }
    await Promise.allSettled([...inflight]);
    killedStreamProgress = { sent: 0 };
    console.log(
      `${kills} kills; ${counts.acked} operations acknowledged, ${counts.doubt} in doubt (${JSON.stringify(kinds)}); unexpected: ${unexpected.length}`,
    );
    expect(unexpected).toEqual([]);
    expect(kills).toBe(KILLS);

    // A clean stop, then the catalog and the store opened with nothing else running.
    expect(await server.stop("SIGTERM")).toBe(0);
    await checkAtRest("after the run");

    // Restart once more: what the API shows.
    server = await serve();
    const listed = await call(server.url, uploader.token, "GET", "/v1/files?limit=1000");
    expect(listed.status).toBe(200);
    const views = (listed.body as { files: { id: string; name: string | null; state: string; sha256: string | null }[] }).files;
    const byName = new Map(uploads.map((u) => [u.name, u]));
    const seen = new Set<string>();
    for (const v of views) {
      const known = files.get(v.id);
      if (known !== undefined) continue;
      // Not acknowledged: must be one of our uploads in doubt, complete.
      const u = v.name === null ? undefined : byName.get(v.name);
      expect(u, `listed file ${v.id} was never acknowledged nor in doubt`).toBeDefined();
      expect(u?.outcome).toBe("doubt");
      expect(seen.has(v.name as string)).toBe(false);
      seen.add(v.name as string);
      expect(v.state).toBe("active");
      expect(v.sha256).toBe(u?.sha256);
      const got = await download(server.url, first.token, v.id);
      expect(got).toEqual({ status: 200, sha256: u?.sha256, size: u?.size });
    }
    for (const f of files.values()) {
      expect(views.some((v) => v.id === f.id)).toBe(true);
      const got = await download(server.url, first.token, f.id);
      if (f.erased === true) expect(got).toEqual({ status: 410, code: "GONE" });
      else if (f.erased === "doubt" && got.status === 410) expect(got.code).toBe("GONE");
      else expect(got, `file ${f.name}`).toEqual({ status: 200, sha256: f.sha256, size: f.size });
      if (f.erased !== false) continue;
      const bySecond = await download(server.url, second.token, f.id);
      if (f.second === "granted") expect(bySecond).toEqual({ status: 200, sha256: f.sha256, size: f.size });
      else if (f.second === "doubt" && bySecond.status === 200) expect(bySecond).toEqual({ status: 200, sha256: f.sha256, size: f.size });
      else expect(bySecond).toEqual({ status: 404, code: "NOT_FOUND" });
    }
    console.log(
      `${files.size} acknowledged files (${[...files.values()].filter((f) => f.erased === true).length} erased), ` +
        `${seen.size} of ${uploads.filter((u) => u.outcome === "doubt").length} uploads in doubt committed`,
    );

    // Anchoring catches up: no active file pending, and a sample of receipts verifies on chain.
    const chain = (await call(server.url, undefined, "GET", "/v1/chain")).body as { chainId: number; contract: string; rpc: string };
    expect(chain.rpc).toMatch(/^http:\/\/127\.0\.0\.1:/);
    const active = await waitFor("every active file anchored", 90_000, async () => {
      const res = await call(server.url, privacy.token, "GET", "/v1/files?limit=1000");
      const all = (res.body as { files: { id: string; state: string; sha256: string; anchor: { status: string } }[] }).files;
      const live = all.filter((f) => f.state === "active");
      return live.every((f) => f.anchor.status !== "pending") ? live : undefined;
    });
    for (const f of active.filter((_, i) => i % 4 === 0)) {
      const receipt = await call(server.url, first.token, "GET", `/v1/files/${f.id}/receipt`);
      expect(receipt.status).toBe(200);
      await expect(
        verifyReceipt({ plaintextSha256: Buffer.from(f.sha256, "hex"), receipt: receipt.body, rpcUrl: chain.rpc }),
      ).resolves.toMatchObject({ batchId: expect.any(Number) });
    }

    // The final flush: no more audited calls, so the queue drains. Read through a read-only
    // connection beside the running server.
    const ro = new DatabaseSync(join(data.path, "catalog.sqlite"), { readOnly: true });
    let batches: { id: number; root: Uint8Array; leaf_count: number; chain_batch_id: number | null; status: string }[];
    try {
      batches = await waitFor("every leaf in an anchored batch", 60_000, () => {
        const pending = Number(ro.prepare("SELECT count(*) AS n FROM leaves WHERE batch_id IS NULL").get()?.n);
        const sealed = Number(ro.prepare("SELECT count(*) AS n FROM batches WHERE status = 'sealed'").get()?.n);
        if (pending > 0 || sealed > 0) return undefined;
        return ro.prepare("SELECT id, root, leaf_count, chain_batch_id, status FROM batches ORDER BY id").all() as typeof batches;
      });
      expect(batches.length).toBeGreaterThan(0);
      const chainIds = new Set<number>();
      for (const b of batches) {
        const leaves = ro.prepare("SELECT value, leaf_index FROM leaves WHERE batch_id = ? ORDER BY leaf_index").all(b.id) as {
          value: Uint8Array;
          leaf_index: number;
        }[];
        expect(leaves.length).toBe(b.leaf_count);
        expect(leaves.map((l) => l.leaf_index)).toEqual(leaves.map((_, i) => i));
        expect(Buffer.from(buildTree(leaves.map((l) => l.value)).root)).toEqual(Buffer.from(b.root));
        const on = await checkRootOnChain({ rpcUrl: chain.rpc, chainId: chain.chainId, contract: chain.contract, root: b.root });
        expect(on.batchId).toBe(b.chain_batch_id);
        chainIds.add(on.batchId);
      }
      expect(chainIds.size).toBe(batches.length);
    } finally {
      ro.close();
    }

    expect(await server.stop("SIGTERM")).toBe(0);
    const after = await checkAtRest("after the final flush");
    expect(after.pendingLeaves).toBe(0);
    expect(after.batches).toBe(batches.length);
  });
});

/** With the server stopped: catalog and store agree, headers only where a payload is pinned, the audit chain verifies. */
async function checkAtRest(when: string): Promise<{ pendingLeaves: number; batches: number }> {
  const catalog = openCatalog({ path: join(data.path, "catalog.sqlite") });
  const store = await createBlobStore({ dir: join(data.path, "ipfs") });
  try {
    const referenced = catalog.referencedCids();
    const pins: string[] = [];
    for await (const cid of store.pins()) pins.push(cid.toString());
    expect(pins.sort(), `${when}: pins = referenced payloads`).toEqual([...referenced].sort());
    for (const cid of referenced) expect(await store.has(cid)).toBe(true);

    const ro = new DatabaseSync(join(data.path, "catalog.sqlite"), { readOnly: true });
    try {
      // Every header belongs to an active file whose payload is pinned; every active file has its vault header.
      const headerCids = ro
        .prepare("SELECT DISTINCT f.payload_cid AS cid, f.state AS state FROM headers h JOIN files f ON f.id = h.file_id")
        .all() as { cid: string; state: string }[];
      for (const h of headerCids) {
        expect(h.state, `${when}: header of an erased file`).toBe("active");
        expect(pins).toContain(h.cid);
      }
      const orphanHeaders = ro.prepare("SELECT count(*) AS n FROM headers WHERE file_id NOT IN (SELECT id FROM files)").get()?.n;
      expect(Number(orphanHeaders)).toBe(0);
      const keyless = ro
        .prepare(
          "SELECT count(*) AS n FROM files f WHERE state = 'active' AND NOT EXISTS (SELECT 1 FROM headers h WHERE h.file_id = f.id AND h.holder = 'vault')",
        )
        .get()?.n;
      expect(Number(keyless), `${when}: active files without a vault header`).toBe(0);
      // Every file and every audit event has exactly one leaf (UNIQUE (kind, ref) makes "at most").
      const fileLeaves = ro
        .prepare("SELECT count(*) AS n FROM files f WHERE NOT EXISTS (SELECT 1 FROM leaves l WHERE l.kind = 'file' AND l.ref = f.id)")
        .get()?.n;
      expect(Number(fileLeaves), `${when}: files without a leaf`).toBe(0);
    } finally {
      ro.close();
    }

    const chain = catalog.verifyAuditChain();
    expect(chain, `${when}: audit chain`).toMatchObject({ ok: true });
    const stats = catalog.stats();
    return { pendingLeaves: stats.pendingLeaves, batches: stats.batches.sealed + stats.batches.anchored + stats.batches.final };
  } finally {
    await store.stop();
    catalog.close();
  }
}
