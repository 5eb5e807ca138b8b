/**
 * `npm run bench:crypto`: a 512 MiB file encrypted and decrypted file-to-file by `medvault`
 * and by Debian's `age` (Go), alternating, 5 rounds. Prints medians, the speed ratios
 * medvault/age (>1 means medvault is faster) and medvault's peak RSS.
 * Options (env): BENCH_MIB (default 512), BENCH_ROUNDS (default 5).
 */

import { execFileSync } from "node:child_process";
import { randomFillSync } from "node:crypto";
import { mkdtemp, open, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MiB, median, printTable, type Run, runCommand } from "./measure.ts";

const sizeMiB = Number(process.env.BENCH_MIB ?? 512);
const rounds = Number(process.env.BENCH_ROUNDS ?? 5);
const medvault = join(import.meta.dirname, "../bin/medvault.js");

function which(cmd: string): string {
  try {
    return execFileSync("sh", ["-c", `command -v ${cmd}`])
      .toString()
      .trim();
  } catch {
    throw new Error(`${cmd} not found: install Debian's age (apt-get install -y age)`);
  }
}

async function writeRandomFile(path: string, bytes: number): Promise<void> {
  const fh = await open(path, "w");
  const buf = Buffer.alloc(4 * MiB);
  for (let left = bytes; left > 0; left -= buf.length) await fh.write(randomFillSync(buf), 0, Math.min(left, buf.length));
  await fh.close();
}

async function main(): Promise<void> {
  const age = which("age");
  const ageKeygen = which("age-keygen");
  const dir = await mkdtemp(join(tmpdir(), "medvault-bench-"));
  try {
    const plain = join(dir, "plain.bin");
    const key = join(dir, "key.txt");
    await writeRandomFile(plain, sizeMiB * MiB);
    execFileSync(ageKeygen, ["-o", key], { stdio: "ignore" });
    const recipient = /public key: (age1\S+)/.exec(await readFile(key, "utf8"))?.[1] as string;

    const jobs: Record<string, (out: string) => [string, string[]]> = {
      "medvault encrypt": (out) => [medvault, ["encrypt", "-r", recipient, "-o", out, plain]],
      "age encrypt": (out) => [age, ["-r", recipient, "-o", out, plain]],
      "medvault decrypt": (out) => [medvault, ["decrypt", "-i", key, "-o", out, join(dir, "ref.age")]],
      "age decrypt": (out) => [age, ["-d", "-i", key, "-o", out, join(dir, "ref.age")]],
    };
    execFileSync(age, ["-r", recipient, "-o", join(dir, "ref.age"), plain]);
    const runs: Record<string, Run[]> = {};
    for (let round = 0; round < rounds; round++) {
      // Alternate which tool goes first, so neither always meets a warmer page cache.
      const order = Object.keys(jobs);
      if (round % 2 === 1) order.reverse();
      for (const name of order) {
        const out = join(dir, "out.bin");
        await rm(out, { force: true });
        // Start every run with no dirty pages left by the previous one's output, so neither tool
        // pays for the other's writeback. The timed run itself is not synced (neither tool fsyncs).
        execFileSync("sync");
        const [cmd, args] = (jobs[name] as (out: string) => [string, string[]])(out);
        const run = await runCommand(cmd, args);
        runs[name] = [...(runs[name] ?? []), run];
      }
      process.stderr.write(
        `round ${round + 1}/${rounds}: ${order.map((n) => `${n} ${(runs[n]?.at(-1)?.seconds ?? 0).toFixed(2)}s`).join(", ")}\n`,
      );
    }
    const sec = (name: string) => median((runs[name] ?? []).map((r) => r.seconds));
    const rss = (name: string) => Math.max(...(runs[name] ?? []).map((r) => r.peakRssBytes));
    const rows = ["encrypt", "decrypt"].map((op) => ({
      op,
      "medvault s": sec(`medvault ${op}`).toFixed(3),
      "age s": sec(`age ${op}`).toFixed(3),
      "medvault MB/s": ((sizeMiB * MiB) / 1e6 / sec(`medvault ${op}`)).toFixed(0),
      "age MB/s": ((sizeMiB * MiB) / 1e6 / sec(`age ${op}`)).toFixed(0),
      "speed medvault/age": (sec(`age ${op}`) / sec(`medvault ${op}`)).toFixed(2),
      "medvault peak RSS MiB": (rss(`medvault ${op}`) / MiB).toFixed(0),
    }));
    console.log(`\n${sizeMiB} MiB file-to-file, median of ${rounds} alternating rounds`);
    printTable(rows);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
