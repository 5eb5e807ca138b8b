/** Runs the real `medvault` binary (bin/medvault.js) as a user would, on this Node (24). */
import { spawn } from "node:child_process";
import { dirname, join } from "node:path";

export const BIN = join(import.meta.dirname, "../../bin/medvault.js");

export type Result = { code: number | null; stdout: Buffer; stderr: string };

export function env(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { ...process.env, PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ""}`, ...extra };
}

export function run(
  cmd: string,
  args: string[],
  options: { input?: Uint8Array; env?: Record<string, string>; cwd?: string } = {},
): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: env(options.env), cwd: options.cwd, stdio: ["pipe", "pipe", "pipe"] });
    const out: Buffer[] = [];
    let err = "";
    child.stdout.on("data", (d: Buffer) => out.push(d));
    child.stderr.on("data", (d: Buffer) => {
      err += d.toString();
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout: Buffer.concat(out), stderr: err }));
    child.stdin.on("error", () => {}); // the command may exit before reading all input
    child.stdin.end(options.input ?? Buffer.alloc(0));
  });
}

export const medvault = (args: string[], options: Parameters<typeof run>[2] = {}) => run(BIN, args, options);
