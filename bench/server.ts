/**
 * The server's memory while a large file streams through it: a child `medvault serve` on
 * 127.0.0.1, a 2 GiB upload (MEDVAULT_BENCH_MIB) generated on the fly through HTTP multipart,
 * then its verified download. Reports MB/s and the server's peak RSS (VmHWM, reset between
 * the two phases through /proc/PID/clear_refs) for each. Target: peak RSS ≤ 300 MiB.
 *
 *   node bench/server.ts                  the server as `npm start` runs it (its node flags, read from package.json)
 *   node bench/server.ts --flags="--max-semi-space-size=1"     other node flags
 *   node bench/server.ts --shebang        the server as bin/medvault.js's shebang runs it
 *
 * Measured here (2 cores, 2 GiB): without node flags the peak is about 350 MiB: V8's default
 * young generation keeps heapTotal near 180 MiB for about 47 MiB in use. With
 * --max-semi-space-size=1 it is about 290 MiB: heap 55 MiB, the rest code, and Buffers (the
 * write-behind queue's 32 blocks of 1 MiB, chunks, ciphertext) waiting for the next GC.
 */

import { createHash } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { tempDir } from "../test/crypto/helpers.ts";
import { addPrincipal, generated, multipartStream, newToken, type Principal, spawnServe } from "../test/service/harness.ts";
import { MiB, printTable } from "./measure.ts";

/** The node flags of `npm start` ("node [flags] bin/medvault.js serve"). */
async function startFlags(): Promise<string[]> {
  const pkg = JSON.parse(await readFile(join(import.meta.dirname, "../package.json"), "utf8")) as { scripts?: { start?: string } };
  const m = /^node\s+(.*?)\s*bin\/medvault\.js\s+serve$/.exec(pkg.scripts?.start ?? "");
  if (m === null) throw new Error("package.json's start script is not `node [flags] bin/medvault.js serve`: pass --flags");
  return (m[1] ?? "").split(/\s+/).filter((f) => f !== "");
}

const totalBytes = Number(process.env.MEDVAULT_BENCH_MIB ?? 2048) * MiB;
const flagArg = process.argv.find((a) => a.startsWith("--flags="));
const nodeFlags = process.argv.includes("--shebang")
  ? undefined
  : flagArg === undefined
    ? await startFlags()
    : flagArg
        .slice("--flags=".length)
        .split(" ")
        .filter((f) => f !== "");
const TARGET_BYTES = 300 * MiB;

/** Samples a process's VmHWM and VmRSS every few ms until stopped. */
function sampler(pid: number) {
  let peak = 0;
  let rss = 0;
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      try {
        const status = await readFile(`/proc/${pid}/status`, "utf8");
        peak = Math.max(peak, Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024);
        rss = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
      } catch {
        return;
      }
      await new Promise((r) => setTimeout(r, 10));
    }
  })();
  return {
    async stop() {
      stopped = true;
      await loop;
      return { peak, rss };
    },
  };
}

/** Resets the kernel's peak RSS mark of the process (clear_refs "5"), so each phase has its own. */
async function resetPeak(pid: number): Promise<void> {
  await writeFile(`/proc/${pid}/clear_refs`, "5");
}

const data = tempDir("medvault-bench-server-");
const adminToken = newToken();
const server = await spawnServe(data.path, adminToken, { MEDVAULT_LOG_LEVEL: "info" }, nodeFlags === undefined ? {} : { nodeFlags });
const pid = server.child.pid as number;
const rows: Record<string, string | number>[] = [];
try {
  const admin: Principal = { id: "", name: "admin", role: "admin", token: adminToken };
  const uploader = await addPrincipal({ url: server.url, admin }, "uploader");
  const recipient = await addPrincipal({ url: server.url, admin }, "recipient");
  const idle = (await readFile(`/proc/${pid}/status`, "utf8")).match(/VmRSS:\s+(\d+) kB/)?.[1];

  // Upload: the input is hashed as it leaves, never held.
  const sent = createHash("sha256");
  async function* source() {
    for await (const piece of generated(totalBytes, 11)) {
      sent.update(piece);
      yield piece;
    }
  }
  const { body, contentType } = multipartStream(source(), { name: "recording.mp4", recipients: [recipient.name] });
  await resetPeak(pid);
  let s = sampler(pid);
  let started = performance.now();
  const res = await fetch(`${server.url}/v1/files`, {
    method: "POST",
    headers: { authorization: `Bearer ${uploader.token}`, "content-type": contentType },
    body,
    duplex: "half",
  } as RequestInit);
  const answer = (await res.json()) as { id: string; sha256: string; size: number };
  let seconds = (performance.now() - started) / 1000;
  let mem = await s.stop();
  if (res.status !== 201) throw new Error(`upload answered ${res.status}`);
  const expected = sent.digest("hex");
  if (answer.sha256 !== expected || answer.size !== totalBytes) throw new Error("the upload's sha256 or size is wrong");
  rows.push({
    phase: "upload",
    MiB: totalBytes / MiB,
    seconds: seconds.toFixed(1),
    "MB/s": (totalBytes / 1e6 / seconds).toFixed(0),
    "peak RSS MiB": (mem.peak / MiB).toFixed(0),
    "RSS after MiB": (mem.rss / MiB).toFixed(0),
  });

  // Download, verified here too (sha256 against the upload's).
  await resetPeak(pid);
  s = sampler(pid);
  started = performance.now();
  const down = await fetch(`${server.url}/v1/files/${answer.id}/content`, { headers: { authorization: `Bearer ${recipient.token}` } });
  if (down.status !== 200) throw new Error(`download answered ${down.status}: ${await down.text()}`);
  const got = createHash("sha256");
  let received = 0;
  for await (const piece of down.body as unknown as AsyncIterable<Uint8Array>) {
    got.update(piece);
    received += piece.length;
  }
  seconds = (performance.now() - started) / 1000;
  mem = await s.stop();
  if (received !== totalBytes || got.digest("hex") !== expected) throw new Error("the download differs from the upload");
  rows.push({
    phase: "download",
    MiB: totalBytes / MiB,
    seconds: seconds.toFixed(1),
    "MB/s": (totalBytes / 1e6 / seconds).toFixed(0),
    "peak RSS MiB": (mem.peak / MiB).toFixed(0),
    "RSS after MiB": (mem.rss / MiB).toFixed(0),
  });

  console.log(
    `server: ${nodeFlags === undefined ? "bin/medvault.js (shebang flags)" : ["node", ...nodeFlags, "bin/medvault.js"].join(" ")} serve; idle RSS ${Math.round(Number(idle) / 1024)} MiB`,
  );
  printTable(rows);
  const worst = Math.max(...rows.map((r) => Number(r["peak RSS MiB"])));
  console.log(`peak RSS ${worst} MiB: ${worst * MiB <= TARGET_BYTES ? "within" : "OVER"} the ${TARGET_BYTES / MiB} MiB target`);
} finally {
  await server.stop("SIGTERM");
  data.remove();
}
