/** Shared bench helpers: run a command while sampling its peak RSS, medians, table printing. */

import { spawn } from "node:child_process";
import { readFile } from "node:fs/promises";
import { dirname } from "node:path";

export type Run = { seconds: number; peakRssBytes: number };

/** Runs a command to completion; peak RSS is the kernel's high-water mark (VmHWM) sampled until exit. */
export async function runCommand(cmd: string, args: string[], options: { env?: NodeJS.ProcessEnv; stdin?: string } = {}): Promise<Run> {
  const started = performance.now();
  const child = spawn(cmd, args, { stdio: ["ignore", "ignore", "pipe"], env: options.env ?? withNodeOnPath() });
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  let peak = 0;
  const sample = async () => {
    try {
      const status = await readFile(`/proc/${child.pid}/status`, "utf8");
      const m = /VmHWM:\s+(\d+) kB/.exec(status);
      if (m?.[1] !== undefined) peak = Math.max(peak, Number(m[1]) * 1024);
    } catch {
      // exited between samples
    }
  };
  const timer = setInterval(sample, Number(process.env.BENCH_SAMPLE_MS ?? 5));
  const code = await new Promise<number | null>((resolve) => child.on("exit", resolve));
  clearInterval(timer);
  const seconds = (performance.now() - started) / 1000;
  if (code !== 0) throw new Error(`${cmd} ${args.join(" ")} exited ${code}: ${stderr.trim()}`);
  return { seconds, peakRssBytes: peak };
}

/** The environment with this Node (24) first on PATH, so `#!/usr/bin/env node` scripts run on it. */
export function withNodeOnPath(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return { ...env, PATH: `${dirname(process.execPath)}:${env.PATH ?? ""}` };
}

export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

export const MiB = 1024 * 1024;

export function printTable(rows: Record<string, string | number>[]): void {
  const first = rows[0];
  if (first === undefined) return;
  const keys = Object.keys(first);
  const widths = keys.map((k) => Math.max(k.length, ...rows.map((r) => String(r[k]).length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i] as number)).join("  ");
  console.log(line(keys));
  console.log(line(widths.map((w) => "-".repeat(w))));
  for (const r of rows) console.log(line(keys.map((k) => String(r[k]))));
}
