/**
 * Load test (issue 7; not a timed test): a child `medvault serve` on a temp data dir on
 * 127.0.0.1, a few principals, then LOAD_CLIENTS concurrent clients (default 50) for
 * LOAD_SECONDS (default 60) doing mixed operations: uploads of 64 KiB to 4 MiB, lists,
 * metadata reads, verified downloads (the client checks the SHA-256 too), grants, revokes and
 * an occasional erasure. Prints throughput (ops/s, MB/s), p50/p99 latency per operation kind,
 * and errors: any answer other than the expected 2xx, a failed request or a wrong digest. Exits
 * 1 if there was any error.
 *
 *   node bench/load.ts
 *   LOAD_CLIENTS=10 LOAD_SECONDS=20 node bench/load.ts
 *
 * Bounded: no new operation starts after LOAD_SECONDS, every request has a 120 s timeout,
 * uploads stop at LOAD_MAX_UPLOAD_MIB (default 8192; the clients then read instead), and the
 * run stops after LOAD_MAX_OPS operations (default 1,000,000). The server is stopped by PID and
 * its data dir removed, whatever happens.
 */

import { createHash, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../test/crypto/helpers.ts";
import { addPrincipal, newToken, type Principal, type Served, spawnServe } from "../test/service/harness.ts";
import { MiB, printTable } from "./measure.ts";

const KiB = 1024;
const CLIENTS = Number(process.env.LOAD_CLIENTS ?? 50);
const SECONDS = Number(process.env.LOAD_SECONDS ?? 60);
const MAX_UPLOAD_BYTES = Number(process.env.LOAD_MAX_UPLOAD_MIB ?? 8192) * MiB;
const MAX_OPS = Number(process.env.LOAD_MAX_OPS ?? 1_000_000);
const REQUEST_TIMEOUT_MS = 120_000;
const UPLOADERS = 5;
const RECIPIENTS = 8;

type Kind = "upload" | "list" | "metadata" | "download" | "grant" | "revoke" | "erasure";
// Weights of the mix; an operation without a fitting target falls back to an upload.
const MIX: [Kind, number][] = [
  ["upload", 25],
  ["list", 12],
  ["metadata", 15],
  ["download", 30],
  ["grant", 9],
  ["revoke", 7],
  ["erasure", 2],
];

type Stored = {
  id: string;
  owner: Principal;
  size: number;
  sha256: string;
  /** Recipients whose grant is acknowledged and not revoked. */
  granted: Set<Principal>;
  /** Reads in flight; grants, revokes and erasures wait for none, so none gets a changed answer. */
  readers: number;
  busy: boolean;
};

const latencies = new Map<Kind, number[]>();
const errors: string[] = [];
let ops = 0;
let uploadedBytes = 0;
let downloadedBytes = 0;
let uploadStarted = 0;

function record(kind: Kind, ms: number): void {
  const list = latencies.get(kind) ?? [];
  latencies.set(kind, list);
  list.push(ms);
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] as number;
}

/** Random bytes for uploads: slices at random offsets of one 4 MiB + 4 KiB pool. */
const pool = randomBytes(4 * MiB + 4 * KiB);

function uploadSize(): number {
  // Log-uniform from 64 KiB to 4 MiB: many small files, some large, as a clinic sends them.
  return Math.round(64 * KiB * 2 ** (Math.random() * 6));
}

const pickOne = <T>(xs: readonly T[]): T | undefined => (xs.length === 0 ? undefined : xs[Math.floor(Math.random() * xs.length)]);

function chooseKind(): Kind {
  let r = Math.random() * MIX.reduce((n, [, w]) => n + w, 0);
  for (const [kind, w] of MIX) {
    r -= w;
    if (r < 0) return kind;
  }
  return "upload";
}

async function request(url: string, token: string, method: string, path: string, json?: unknown): Promise<Response> {
  return fetch(`${url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(json === undefined ? {} : { "content-type": "application/json" }) },
    ...(json === undefined ? {} : { body: JSON.stringify(json) }),
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  });
}

async function expectStatus(res: Response, status: number, what: string): Promise<unknown> {
  const text = await res.text();
  if (res.status !== status) throw new Error(`${what}: ${res.status} ${text.slice(0, 200)}`);
  return text === "" ? undefined : JSON.parse(text);
}

const data = tempDir("medvault-load-");
let server: Served | undefined;
/** On an error or ^C: SIGKILL the server, then its anvil (by the pid file, checked), which a killed vault leaves behind. */
const stopServer = () => {
  const child = server?.child;
  if (child?.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  process.kill(child.pid, "SIGKILL");
  try {
    const pid = Number(readFileSync(join(data.path, "chain", "anvil.pid"), "utf8").trim());
    if (Number.isInteger(pid) && pid > 1 && readFileSync(`/proc/${pid}/cmdline`, "utf8").includes(data.path)) process.kill(pid, "SIGKILL");
  } catch {
    // no anvil left
  }
};
process.once("SIGINT", () => {
  stopServer();
  data.remove();
  process.exit(130);
});

try {
  const adminToken = newToken();
  server = await spawnServe(data.path, adminToken);
  const url = server.url;
  if (!url.startsWith("http://127.0.0.1:")) throw new Error(`not on 127.0.0.1: ${url}`);
  const admin: Principal = { id: "", name: "admin", role: "admin", token: adminToken };
  const uploaders = await Promise.all(Array.from({ length: UPLOADERS }, () => addPrincipal({ url, admin }, "uploader")));
  const recipients = await Promise.all(Array.from({ length: RECIPIENTS }, () => addPrincipal({ url, admin }, "recipient")));
  const privacy = await addPrincipal({ url, admin }, "privacy");
  const files: Stored[] = [];
  const readable = () => files.filter((f) => !f.busy && f.granted.size > 0);
  const idle = () => files.filter((f) => !f.busy && f.readers === 0);

  async function upload(owner: Principal): Promise<void> {
    const size = uploadSize();
    uploadStarted += size;
    const offset = Math.floor(Math.random() * (pool.length - size));
    const body = pool.subarray(offset, offset + size);
    const sha256 = createHash("sha256").update(body).digest("hex");
    const to = new Set([pickOne(recipients) as Principal, pickOne(recipients) as Principal]);
    const form = new FormData();
    for (const r of to) form.append("recipients", r.name);
    form.append("file", new Blob([body]), `load-${offset}.bin`);
    const res = await fetch(`${url}/v1/files`, {
      method: "POST",
      headers: { authorization: `Bearer ${owner.token}` },
      body: form,
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    const view = (await expectStatus(res, 201, "upload")) as { id: string; sha256: string };
    if (view.sha256 !== sha256) throw new Error("upload: the vault's SHA-256 differs from the client's");
    uploadedBytes += size;
    files.push({ id: view.id, owner, size, sha256, granted: to, readers: 0, busy: false });
  }

  /** Reads `f` while counted as a reader, so no grant change or erasure races it. */
  async function reading<T>(f: Stored, run: () => Promise<T>): Promise<T> {
    f.readers++;
    try {
      return await run();
    } finally {
      f.readers--;
    }
  }

  async function exclusive(f: Stored, run: () => Promise<void>): Promise<void> {
    f.busy = true;
    try {
      await run();
    } finally {
      f.busy = false;
    }
  }

  /** Runs one operation of `kind`, or returns the kind it ran instead (an upload when nothing fits). */
  async function operate(kind: Kind, me: Principal): Promise<Kind> {
    switch (kind) {
      case "list": {
        const who = Math.random() < 0.5 ? me : (pickOne(recipients) as Principal);
        const body = (await expectStatus(await request(url, who.token, "GET", "/v1/files?limit=100"), 200, "list")) as { files: unknown[] };
        if (!Array.isArray(body.files)) throw new Error("list: no files array");
        return kind;
      }
      case "metadata": {
        const f = pickOne(files.filter((x) => !x.busy));
        if (f === undefined) break;
        await reading(f, async () => {
          const view = (await expectStatus(await request(url, f.owner.token, "GET", `/v1/files/${f.id}`), 200, "metadata")) as {
            sha256: string;
          };
          if (view.sha256 !== f.sha256) throw new Error("metadata: wrong sha256");
        });
        return kind;
      }
      case "download": {
        const f = pickOne(readable());
        if (f === undefined) break;
        const who = pickOne([...f.granted]) as Principal;
        await reading(f, async () => {
          const res = await request(url, who.token, "GET", `/v1/files/${f.id}/content`);
          if (res.status !== 200) await expectStatus(res, 200, "download");
          const hash = createHash("sha256");
          let n = 0;
          for await (const piece of res.body as unknown as AsyncIterable<Uint8Array>) {
            hash.update(piece);
            n += piece.length;
          }
          if (n !== f.size || hash.digest("hex") !== f.sha256) throw new Error("download: the plaintext differs from what was uploaded");
          downloadedBytes += n;
        });
        return kind;
      }
      case "grant": {
        const f = pickOne(idle().filter((x) => x.granted.size < RECIPIENTS));
        if (f === undefined) break;
        const to = pickOne(recipients.filter((r) => !f.granted.has(r))) as Principal;
        await exclusive(f, async () => {
          await expectStatus(await request(url, f.owner.token, "POST", `/v1/files/${f.id}/grants`, { recipient: to.name }), 201, "grant");
          f.granted.add(to);
        });
        return kind;
      }
      case "revoke": {
        const f = pickOne(idle().filter((x) => x.granted.size > 1));
        if (f === undefined) break;
        const from = pickOne([...f.granted]) as Principal;
        await exclusive(f, async () => {
          f.granted.delete(from); // before the call: no new download by `from` starts
          await expectStatus(await request(url, f.owner.token, "DELETE", `/v1/files/${f.id}/grants/${from.name}`), 200, "revoke");
        });
        return kind;
      }
      case "erasure": {
        // Keep a working set: erase only when there are plenty of files.
        const f = files.length > 40 ? pickOne(idle()) : undefined;
        if (f === undefined) break;
        files.splice(files.indexOf(f), 1);
        await exclusive(f, async () => {
          const cert = (await expectStatus(
            await request(url, privacy.token, "POST", `/v1/files/${f.id}/erasure`, { reason: "load test erasure request" }),
            200,
            "erasure",
          )) as { type: string };
          if (cert.type !== "medvault.erasure/v1") throw new Error("erasure: no certificate");
          const gone = await request(url, pickOne([...f.granted])?.token ?? "", "GET", `/v1/files/${f.id}/content`);
          await expectStatus(gone, 410, "content after erasure");
        });
        return kind;
      }
      case "upload":
        break;
    }
    if (uploadStarted >= MAX_UPLOAD_BYTES) return operate("list", me);
    await upload(me);
    return "upload";
  }

  // A few files first, so reads have targets from the start.
  await Promise.all(uploaders.map((u) => upload(u)));

  console.log(`medvault serve at ${url}; ${CLIENTS} clients for ${SECONDS} s`);
  const started = performance.now();
  const deadline = started + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: CLIENTS }, async (_, i) => {
      const me = uploaders[i % UPLOADERS] as Principal;
      while (performance.now() < deadline && ops < MAX_OPS) {
        ops++;
        const t0 = performance.now();
        const wanted = chooseKind();
        try {
          const kind = await operate(wanted, me);
          record(kind, performance.now() - t0);
        } catch (error) {
          errors.push(`${wanted}: ${(error as Error).message}`);
        }
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;

  const rows = [...latencies.entries()]
    .sort((a, b) => b[1].length - a[1].length)
    .map(([kind, ms]) => {
      const sorted = [...ms].sort((a, b) => a - b);
      return {
        kind,
        count: sorted.length,
        "ops/s": (sorted.length / seconds).toFixed(1),
        "p50 ms": percentile(sorted, 50).toFixed(1),
        "p99 ms": percentile(sorted, 99).toFixed(1),
      };
    });
  printTable(rows);
  const done = rows.reduce((n, r) => n + r.count, 0);
  console.log(
    `\n${done} operations in ${seconds.toFixed(1)} s: ${(done / seconds).toFixed(1)} ops/s; ` +
      `uploaded ${(uploadedBytes / 1e6).toFixed(0)} MB (${(uploadedBytes / 1e6 / seconds).toFixed(1)} MB/s), ` +
      `downloaded and verified ${(downloadedBytes / 1e6).toFixed(0)} MB (${(downloadedBytes / 1e6 / seconds).toFixed(1)} MB/s), ` +
      `${((uploadedBytes + downloadedBytes) / 1e6 / seconds).toFixed(1)} MB/s in all; ${files.length} files kept`,
  );
  console.log(`errors: ${errors.length}`);
  for (const e of errors.slice(0, 10)) console.log(`  ${e}`);
  process.exitCode = errors.length === 0 ? 0 : 1;
  const code = await server.stop("SIGTERM");
  if (code !== 0) {
    console.log(`medvault serve exited with ${code}`);
    process.exitCode = 1;
  }
} finally {
  stopServer();
  data.remove();
}
