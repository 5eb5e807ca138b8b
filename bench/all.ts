/**
 * `npm run bench`: every benchmark of issue 6 in one run, one table, `bench/results/latest.json`
 * and `bench/results/throughput.svg`. Speed figures are ratios against a reference measured in
 * the same run (alternating which goes first), medians over rounds: the machine is shared.
 *
 *   1. upload: BENCH_MIB (1 GiB) through a child `medvault serve` (multipart, hashing,
 *      encryption, fsync'ed blocks, pin, catalog) vs `@helia/unixfs` `addByteStream` of the
 *      same bytes into a bare FsBlockstore on the same disk, in this process;
 *   2. verified download (`/content`) vs `cat` of that unencrypted import;
 *   3. `medvault encrypt`/`decrypt` vs Debian's `age` (bench/crypto.ts, spawned);
 *   4. anchoring leaves/s vs one transaction per file (bench/anchor.ts, spawned);
 *   5. the server's peak RSS during a 2 GiB upload (bench/server.ts, spawned);
 *   6. 20 concurrent 50 MiB uploads: total MB/s and errors;
 *   7. upload and download MB/s against file size, 1 MiB to BENCH_MIB in ×4 steps (the chart).
 *
 * Env: BENCH_QUICK=1 (a smoke run: small sizes, 2 rounds), BENCH_MIB, BENCH_ROUNDS,
 * BENCH_RSS_MIB, BENCH_CONCURRENT, BENCH_CONCURRENT_MIB, BENCH_CRYPTO_MIB, BENCH_ANCHOR_FILES,
 * BENCH_ONLY / BENCH_SKIP (comma lists of: transfer, crypto, anchor, rss, concurrent, sizes),
 * BENCH_SERVER_ENV (settings for the server under test, "NAME=value,…").
 */

import { spawn } from "node:child_process";
import { randomFillSync } from "node:crypto";
import { once } from "node:events";
import { mkdirSync, writeFileSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { type IncomingMessage, request } from "node:http";
import { cpus, totalmem } from "node:os";
import { join } from "node:path";
import { unixfs } from "@helia/unixfs";
import { FsBlockstore } from "blockstore-fs";
import type { CID } from "multiformats/cid";
import { tempDir } from "../test/crypto/helpers.ts";
import { addPrincipal, multipartFraming, newToken, type Principal, spawnServe } from "../test/service/harness.ts";
import { MiB, median, printTable, withNodeOnPath } from "./measure.ts";

const env = process.env;
const quick = env.BENCH_QUICK === "1";
const num = (name: string, full: number, small: number) => Number(env[name] ?? (quick ? small : full));
const config = {
  quick,
  transferMiB: num("BENCH_MIB", 1024, 64),
  rounds: num("BENCH_ROUNDS", 5, 2),
  rssMiB: num("BENCH_RSS_MIB", 2048, 128),
  concurrent: num("BENCH_CONCURRENT", 20, 20),
  concurrentMiB: num("BENCH_CONCURRENT_MIB", 50, 4),
  cryptoMiB: num("BENCH_CRYPTO_MIB", 512, 32),
  cryptoRounds: num("BENCH_CRYPTO_ROUNDS", 5, 2),
  anchorFiles: num("BENCH_ANCHOR_FILES", 100_000, 5_000),
  anchorPerFile: num("BENCH_ANCHOR_PER_FILE", 1000, 100),
};
const SECTIONS = ["transfer", "crypto", "anchor", "rss", "concurrent", "sizes"] as const;
type Section = (typeof SECTIONS)[number];
const only = (env.BENCH_ONLY ?? "").split(",").filter((s) => s !== "");
const skip = (env.BENCH_SKIP ?? "").split(",").filter((s) => s !== "");
const enabled = (s: Section) => (only.length === 0 || only.includes(s)) && !skip.includes(s);
const RESULTS = join(import.meta.dirname, "results");

// --- input ------------------------------------------------------------------------------------

const PIECE = MiB;
const pool = randomFillSync(Buffer.allocUnsafe(8 * MiB));
let streamSeed = 0;

/** Piece `n` of stream `seed`: bytes from the pool with a counter in them, so no two blocks are equal. */
function fillPiece(piece: Buffer, n: number, seed: number): Buffer {
  const from = ((n * 4099 + seed * 7919) % (pool.byteLength - PIECE)) & ~7;
  pool.copy(piece, 0, from, from + piece.byteLength);
  if (piece.byteLength >= 8) {
    piece.writeUInt32LE(n, 0);
    piece.writeUInt32LE(seed, 4);
  }
  return piece;
}

/** Pseudo-random bytes in fresh 1 MiB pieces (plain Helia's chunker keeps references to them). */
async function* source(total: number): AsyncGenerator<Uint8Array> {
  const seed = ++streamSeed;
  let n = 0;
  for (let offset = 0; offset < total; offset += PIECE) yield fillPiece(Buffer.allocUnsafe(Math.min(PIECE, total - offset)), n++, seed);
}

async function drain(stream: AsyncIterable<Uint8Array>): Promise<number> {
  let n = 0;
  for await (const chunk of stream) n += chunk.byteLength;
  return n;
}

const mbps = (bytes: number, seconds: number) => bytes / 1e6 / seconds;

async function timed<T>(fn: () => Promise<T>): Promise<{ seconds: number; value: T }> {
  const started = performance.now();
  const value = await fn();
  return { seconds: (performance.now() - started) / 1000, value };
}

// --- medvault through HTTP and plain Helia ------------------------------------------------------

type Vault = { url: string; uploader: Principal; recipient: Principal; privacy: Principal; stop(): Promise<unknown> };

async function startVault(dataDir: string): Promise<Vault> {
  const pkg = JSON.parse(await readFile(join(import.meta.dirname, "../package.json"), "utf8")) as { scripts?: { start?: string } };
  const flags = (/^node\s+(.*?)\s*bin\/medvault\.js\s+serve$/.exec(pkg.scripts?.start ?? "")?.[1] ?? "").split(/\s+/).filter(Boolean);
  const adminToken = newToken();
  const served = await spawnServe(dataDir, adminToken, { MEDVAULT_LOG_LEVEL: "info", ...serverEnv() }, { nodeFlags: flags });
  const admin: Principal = { id: "", name: "admin", role: "admin", token: adminToken };
  const svc = { url: served.url, admin };
  return {
    url: served.url,
    uploader: await addPrincipal(svc, "uploader"),
    recipient: await addPrincipal(svc, "recipient"),
    privacy: await addPrincipal(svc, "privacy"),
    stop: () => served.stop("SIGTERM"),
  };
}

/** BENCH_SERVER_ENV="NAME=value,NAME=value": settings for the benchmarked server, to compare them. */
function serverEnv(): Record<string, string> {
  const pairs = (env.BENCH_SERVER_ENV ?? "").split(",").filter((s) => s.includes("="));
  return Object.fromEntries(pairs.map((p) => [p.slice(0, p.indexOf("=")), p.slice(p.indexOf("=") + 1)]));
}

/**
 * One streamed multipart upload through node:http, honouring backpressure, as a platform's
 * uploader would send it. The client shares the two cores with the server, so it is kept
 * light: the same bytes as `source`, but written from a ring of eight 1 MiB buffers, each
 * reused once node:http has handed its previous bytes to the kernel. With a fresh 1 MiB buffer
 * per piece, the client's concurrent major GCs took about a sixth of all CPU samples (perf -a).
 */
async function uploadFile(v: Vault, bytes: number): Promise<{ id: string; size: number }> {
  const { head, tail, contentType } = multipartFraming({ name: "recording.mp4", recipients: [v.recipient.name] });
  const req = request(`${v.url}/v1/files`, {
    method: "POST",
    headers: { authorization: `Bearer ${v.uploader.token}`, "content-type": contentType },
  });
  const answered = new Promise<IncomingMessage>((resolve, reject) => {
    req.once("response", resolve);
    req.once("error", reject);
  });
  /** Writes a piece, waits out backpressure, and gives the promise of its hand-over to the kernel. */
  const send = async (piece: Uint8Array): Promise<{ flushed: Promise<void> }> => {
    const flushed = new Promise<void>((resolve) => req.write(piece, () => resolve()));
    if (req.writableNeedDrain) await Promise.race([once(req, "drain"), answered]);
    return { flushed };
  };
  const ring = Array.from({ length: 8 }, () => ({ buf: Buffer.allocUnsafe(PIECE), flushed: Promise.resolve() }));
  const seed = ++streamSeed;
  await send(head);
  for (let offset = 0, n = 0; offset < bytes; offset += PIECE, n++) {
    const slot = ring[n % ring.length] as (typeof ring)[number];
    await slot.flushed;
    ({ flushed: slot.flushed } = await send(fillPiece(slot.buf.subarray(0, Math.min(PIECE, bytes - offset)), n, seed)));
  }
  await send(tail);
  req.end();
  const res = await answered;
  const chunks: Buffer[] = [];
  for await (const chunk of res) chunks.push(chunk as Buffer);
  const answer = JSON.parse(Buffer.concat(chunks).toString()) as { id: string; size: number };
  if (res.statusCode !== 201 || answer.size !== bytes) throw new Error(`upload answered ${res.statusCode}`);
  return answer;
}

async function downloadFile(v: Vault, id: string, bytes: number): Promise<void> {
  const res = await fetch(`${v.url}/v1/files/${id}/content`, { headers: { authorization: `Bearer ${v.recipient.token}` } });
  if (res.status !== 200) throw new Error(`download answered ${res.status}`);
  const n = await drain(res.body as unknown as AsyncIterable<Uint8Array>);
  if (n !== bytes) throw new Error(`downloaded ${n} of ${bytes} bytes`);
}

async function eraseFile(v: Vault, id: string): Promise<void> {
  const res = await fetch(`${v.url}/v1/files/${id}/erasure`, {
    method: "POST",
    headers: { authorization: `Bearer ${v.privacy.token}`, "content-type": "application/json" },
    body: JSON.stringify({ reason: "benchmark clean-up" }),
  });
  await res.arrayBuffer();
}

type Plain = { add(bytes: number): Promise<CID>; cat(cid: CID, bytes: number): Promise<void>; clear(): Promise<void> };

async function openPlain(dir: string): Promise<Plain> {
  let blockstore = new FsBlockstore(join(dir, "plain-blocks"));
  await blockstore.open();
  return {
    add: (bytes) => unixfs({ blockstore }).addByteStream(source(bytes)),
    async cat(cid, bytes) {
      const n = await drain(unixfs({ blockstore }).cat(cid));
      if (n !== bytes) throw new Error(`plain cat read ${n} of ${bytes} bytes`);
    },
    async clear() {
      await blockstore.close();
      await rm(join(dir, "plain-blocks"), { recursive: true, force: true });
      blockstore = new FsBlockstore(join(dir, "plain-blocks"));
      await blockstore.open();
    },
  };
}

type Transfer = { bytes: number; upload: number[]; plainAdd: number[]; download: number[]; plainCat: number[] };

/**
 * Alternating rounds of upload/plain add then download/plain cat of `bytes`; MB/s per run. Each
 * side removes its own data right after its run, so every timed write follows the freeing of
 * the same amount of page cache. Cleaning both at the end of a round had given whichever side
 * went first 2 GiB of just-freed memory and the other side none: on this VM, where freed memory
 * soon goes back to the host, that alone moved either side's upload by a third.
 */
async function transfer(v: Vault, plain: Plain, bytes: number, rounds: number): Promise<Transfer> {
  const t: Transfer = { bytes, upload: [], plainAdd: [], download: [], plainCat: [] };
  for (let round = 0; round < rounds; round++) {
    const ours = async () => {
      const up = await timed(() => uploadFile(v, bytes));
      t.upload.push(mbps(bytes, up.seconds));
      const down = await timed(() => downloadFile(v, up.value.id, bytes));
      t.download.push(mbps(bytes, down.seconds));
      await eraseFile(v, up.value.id);
    };
    const theirs = async () => {
      const add = await timed(() => plain.add(bytes));
      t.plainAdd.push(mbps(bytes, add.seconds));
      const cat = await timed(() => plain.cat(add.value, bytes));
      t.plainCat.push(mbps(bytes, cat.seconds));
      await plain.clear();
    };
    for (const run of round % 2 === 0 ? [ours, theirs] : [theirs, ours]) await run();
  }
  return t;
}

async function concurrentUploads(v: Vault, count: number, bytes: number): Promise<{ mbps: number; errors: number; seconds: number }> {
  let errors = 0;
  const ids: string[] = [];
  const run = await timed(() =>
    Promise.all(
      Array.from({ length: count }, () =>
        uploadFile(v, bytes).then(
          (a) => {
            ids.push(a.id);
          },
          (error: unknown) => {
            errors++;
            process.stderr.write(`concurrent upload failed: ${(error as Error).message}\n`);
          },
        ),
      ),
    ),
  );
  for (const id of ids) await eraseFile(v, id);
  return { mbps: mbps(count * bytes, run.seconds), errors, seconds: run.seconds };
}

// --- spawned benches --------------------------------------------------------------------------

async function runScript(script: string, extraEnv: Record<string, string>): Promise<{ code: number | null; stdout: string }> {
  const child = spawn(process.execPath, [join(import.meta.dirname, script)], {
    env: withNodeOnPath({ ...env, ...extraEnv }),
    stdio: ["ignore", "pipe", "inherit"],
  });
  let stdout = "";
  child.stdout.on("data", (d: Buffer) => {
    stdout += d.toString();
  });
  const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
  return { code, stdout };
}

/** Rows of a printTable() output whose first cell is one of `firsts`, as objects keyed by its header. */
function parseTable(stdout: string, firsts: string[]): Record<string, string>[] {
  const lines = stdout.split("\n");
  const out: Record<string, string>[] = [];
  for (let i = 1; i < lines.length; i++) {
    if (!/^-+( +-+)+$/.test(lines[i] ?? "")) continue;
    const header = (lines[i - 1] ?? "").split(/ {2,}/).map((s) => s.trim());
    for (let j = i + 1; j < lines.length && (lines[j] ?? "").trim() !== ""; j++) {
      const cells = (lines[j] ?? "").split(/ {2,}/).map((s) => s.trim());
      if (!firsts.includes(cells[0] ?? "")) continue;
      out.push(Object.fromEntries(header.map((h, k) => [h, cells[k] ?? ""])));
    }
  }
  return out;
}

// --- chart ------------------------------------------------------------------------------------

type Series = { name: string; color: string; dash?: string; points: [number, number][] };

/** A log-x line chart of MB/s against file size, hand-written SVG. */
function chart(series: Series[]): string {
  const W = 720;
  const H = 420;
  const m = { l: 64, r: 180, t: 36, b: 52 };
  const xs = series.flatMap((s) => s.points.map((p) => Math.log2(p[0])));
  const ys = series.flatMap((s) => s.points.map((p) => p[1]));
  const [x0, x1] = [Math.min(...xs), Math.max(...xs, Math.min(...xs) + 1)];
  const yMax = Math.max(10, ...ys) * 1.1;
  const px = (size: number) => m.l + ((Math.log2(size) - x0) / (x1 - x0)) * (W - m.l - m.r);
  const py = (v: number) => H - m.b - (v / yMax) * (H - m.t - m.b);
  const step = 10 ** Math.floor(Math.log10(yMax / 5));
  const yStep = [1, 2, 5, 10].map((k) => k * step).find((s) => yMax / s <= 8) ?? step * 10;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12" role="img">`,
    "<title>medvault upload and download throughput against file size, with plain Helia add and cat for reference</title>",
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${m.l}" y="20" font-size="14">medvault throughput against file size (MB/s, median)</text>`,
  ];
  for (let v = 0; v <= yMax; v += yStep) {
    out.push(`<line x1="${m.l}" x2="${W - m.r}" y1="${py(v).toFixed(1)}" y2="${py(v).toFixed(1)}" stroke="#ddd"/>`);
    out.push(`<text x="${m.l - 6}" y="${(py(v) + 4).toFixed(1)}" text-anchor="end">${v}</text>`);
  }
  const sizes = [...new Set(series.flatMap((s) => s.points.map((p) => p[0])))].sort((a, b) => a - b);
  for (const size of sizes) {
    const label = size >= 1024 * MiB ? `${size / (1024 * MiB)} GiB` : `${size / MiB} MiB`;
    out.push(`<line x1="${px(size).toFixed(1)}" x2="${px(size).toFixed(1)}" y1="${m.t}" y2="${H - m.b}" stroke="#eee"/>`);
    out.push(`<text x="${px(size).toFixed(1)}" y="${H - m.b + 18}" text-anchor="middle">${label}</text>`);
  }
  out.push(`<text x="${(m.l + W - m.r) / 2}" y="${H - 12}" text-anchor="middle">file size (log scale)</text>`);
  out.push(`<line x1="${m.l}" x2="${m.l}" y1="${m.t}" y2="${H - m.b}" stroke="#333"/>`);
  out.push(`<line x1="${m.l}" x2="${W - m.r}" y1="${H - m.b}" y2="${H - m.b}" stroke="#333"/>`);
  series.forEach((s, i) => {
    const d = s.points.map((p, k) => `${k === 0 ? "M" : "L"}${px(p[0]).toFixed(1)},${py(p[1]).toFixed(1)}`).join(" ");
    const dash = s.dash === undefined ? "" : ` stroke-dasharray="${s.dash}"`;
    out.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2"${dash}/>`);
    for (const p of s.points) out.push(`<circle cx="${px(p[0]).toFixed(1)}" cy="${py(p[1]).toFixed(1)}" r="3" fill="${s.color}"/>`);
    const ly = m.t + 10 + i * 20;
    out.push(`<line x1="${W - m.r + 14}" x2="${W - m.r + 40}" y1="${ly}" y2="${ly}" stroke="${s.color}" stroke-width="2"${dash}/>`);
    out.push(`<text x="${W - m.r + 46}" y="${ly + 4}">${s.name}</text>`);
  });
  out.push("</svg>");
  return `${out.join("\n")}\n`;
}

// --- main -------------------------------------------------------------------------------------

const rows: Record<string, string | number>[] = [];
const row = (bench: string, medvault: string, reference: string, ratio: string, target: string) =>
  rows.push({ bench, medvault, reference, ratio, target });
const results: Record<string, unknown> = {
  date: new Date().toISOString(),
  machine: { cpus: cpus().length, model: cpus()[0]?.model ?? "", memoryMiB: Math.round(totalmem() / MiB), node: process.version },
  config,
};
const data = tempDir("medvault-bench-all-");
let vault: Vault | undefined;
const needsVault = enabled("transfer") || enabled("concurrent") || enabled("sizes");
try {
  const dir = await mkdtemp(join(data.path, "plain-"));
  const plain = await openPlain(dir);
  if (needsVault) vault = await startVault(join(data.path, "vault"));

  let main: Transfer | undefined;
  if (enabled("transfer") && vault !== undefined) {
    process.stderr.write(`[1-2] upload/download ${config.transferMiB} MiB, ${config.rounds} rounds\n`);
    main = await transfer(vault, plain, config.transferMiB * MiB, config.rounds);
    const up = median(main.upload);
    const add = median(main.plainAdd);
    const down = median(main.download);
    const cat = median(main.plainCat);
    row(`upload ${config.transferMiB} MiB (MB/s)`, up.toFixed(0), `${add.toFixed(0)} helia add`, (up / add).toFixed(2), "≥ 0.75");
    row(
      `verified download ${config.transferMiB} MiB (MB/s)`,
      down.toFixed(0),
      `${cat.toFixed(0)} helia cat`,
      (down / cat).toFixed(2),
      "≥ 0.75",
    );
    results.transfer = {
      ...main,
      median: { upload: up, plainAdd: add, download: down, plainCat: cat },
      ratio: { upload: up / add, download: down / cat },
    };
  }

  if (enabled("concurrent") && vault !== undefined) {
    process.stderr.write(`[6] ${config.concurrent} concurrent ${config.concurrentMiB} MiB uploads\n`);
    const c = await concurrentUploads(vault, config.concurrent, config.concurrentMiB * MiB);
    row(
      `${config.concurrent} × ${config.concurrentMiB} MiB concurrent uploads`,
      `${c.mbps.toFixed(0)} MB/s`,
      `${c.errors} errors`,
      "",
      "0 errors",
    );
    results.concurrent = c;
  }

  if (enabled("sizes") && vault !== undefined) {
    const sizes: number[] = [];
    for (let s = MiB; s < config.transferMiB * MiB; s *= 4) sizes.push(s);
    const points: Transfer[] = [];
    for (const size of sizes) {
      // Small files are cheap: more rounds where timing noise is largest.
      const rounds = size <= 16 * MiB ? Math.max(config.rounds, 5) : config.rounds;
      process.stderr.write(`[7] ${size / MiB} MiB, ${rounds} rounds\n`);
      points.push(await transfer(vault, plain, size, rounds));
    }
    if (main !== undefined) points.push(main);
    const med = (k: keyof Omit<Transfer, "bytes">) => points.map((p): [number, number] => [p.bytes, median(p[k])]);
    const series: Series[] = [
      { name: "medvault upload", color: "#c0392b", points: med("upload") },
      { name: "helia add (plain)", color: "#c0392b", dash: "5 4", points: med("plainAdd") },
      { name: "medvault download", color: "#2471a3", points: med("download") },
      { name: "helia cat (plain)", color: "#2471a3", dash: "5 4", points: med("plainCat") },
    ];
    mkdirSync(RESULTS, { recursive: true });
    writeFileSync(join(RESULTS, "throughput.svg"), chart(series));
    for (const p of points) {
      const label = p.bytes >= 1024 * MiB ? `${p.bytes / (1024 * MiB)} GiB` : `${p.bytes / MiB} MiB`;
      const [u, a, d, c] = [median(p.upload), median(p.plainAdd), median(p.download), median(p.plainCat)];
      row(
        `  ${label}: upload / download (MB/s)`,
        `${u.toFixed(0)} / ${d.toFixed(0)}`,
        `${a.toFixed(0)} / ${c.toFixed(0)}`,
        `${(u / a).toFixed(2)} / ${(d / c).toFixed(2)}`,
        "",
      );
    }
    results.sizes = points.map((p) => ({
      ...p,
      median: { upload: median(p.upload), plainAdd: median(p.plainAdd), download: median(p.download), plainCat: median(p.plainCat) },
    }));
  }
  await vault?.stop();
  vault = undefined;

  if (enabled("rss")) {
    process.stderr.write(`[5] server peak RSS, ${config.rssMiB} MiB upload\n`);
    const r = await runScript("server.ts", { MEDVAULT_BENCH_MIB: String(config.rssMiB) });
    const [up] = parseTable(r.stdout, ["upload"]);
    const peak = Number(up?.["peak RSS MiB"] ?? Number.NaN);
    row(`server peak RSS, ${config.rssMiB} MiB upload (MiB)`, String(peak), "", "", "≤ 300");
    results.rss = { exitCode: r.code, uploadMiB: config.rssMiB, peakRssMiB: peak, uploadMBps: Number(up?.["MB/s"]) };
  }

  if (enabled("crypto")) {
    process.stderr.write(`[3] medvault vs age, ${config.cryptoMiB} MiB\n`);
    const r = await runScript("crypto.ts", { BENCH_MIB: String(config.cryptoMiB), BENCH_ROUNDS: String(config.cryptoRounds) });
    const parsed = parseTable(r.stdout, ["encrypt", "decrypt"]);
    for (const p of parsed) {
      row(
        `${p.op} ${config.cryptoMiB} MiB file (MB/s)`,
        p["medvault MB/s"] ?? "",
        `${p["age MB/s"]} age`,
        p["speed medvault/age"] ?? "",
        "",
      );
    }
    results.crypto = { exitCode: r.code, rows: parsed };
  }

  if (enabled("anchor")) {
    process.stderr.write(`[4] anchoring, ${config.anchorFiles} files\n`);
    const r = await runScript("anchor.ts", {
      MEDVAULT_BENCH_FILES: String(config.anchorFiles),
      MEDVAULT_BENCH_PER_FILE: String(config.anchorPerFile),
    });
    const parsed = parseTable(r.stdout, ["batched", "one tx per file"]);
    const rate = (mode: string) => Number((parsed.find((p) => p.mode === mode)?.["per second"] ?? "NaN").replaceAll(",", ""));
    const [batched, perFile] = [rate("batched"), rate("one tx per file")];
    row("anchoring (leaves/s)", batched.toFixed(0), `${perFile.toFixed(0)} tx/file`, (batched / perFile).toFixed(0), "≥ 100");
    results.anchor = { exitCode: r.code, batchedLeavesPerSecond: batched, perFileTxPerSecond: perFile, ratio: batched / perFile };
  }

  console.log(`\nmedvault bench, ${new Date().toISOString()}, ${cpus().length} × ${cpus()[0]?.model ?? "cpu"}, Node ${process.version}`);
  console.log(`medians over alternating rounds; ratio = medvault / reference in the same run${quick ? " (BENCH_QUICK)" : ""}\n`);
  printTable(rows);
  mkdirSync(RESULTS, { recursive: true });
  results.table = rows;
  writeFileSync(join(RESULTS, "latest.json"), `${JSON.stringify(results, null, 2)}\n`);
  console.log(`\nwrote bench/results/latest.json${enabled("sizes") ? " and bench/results/throughput.svg" : ""}`);
} finally {
  await vault?.stop();
  data.remove();
}
