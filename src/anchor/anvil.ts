/**
 * The embedded development chain: finds an anvil binary and runs it on 127.0.0.1.
 *
 * Binary lookup: MEDVAULT_ANVIL_BIN, then the optional npm package
 * `@foundry-rs/anvil-<os>-<arch>` (the `@foundry-rs/anvil` wrapper breaks `npm ci`, so the
 * platform package is depended on directly), then `anvil` on PATH.
 *
 * Anvil listens on port 0 unless told otherwise and we read the bound port from its
 * "Listening on" line, so there is no window in which another process can take the port.
 * With a state file it runs with `--state FILE --state-interval 1`: it loads the file if it
 * exists, dumps every second and once more on SIGTERM, which is why `stop()` sends SIGTERM
 * and waits. Its stdout (which lists the dev accounts' private keys) is never kept; the tail of
 * its stderr only goes into the error when start-up fails.
 */

import { type ChildProcess, spawn } from "node:child_process";
import { accessSync, constants, mkdirSync } from "node:fs";
import { request } from "node:http";
import { createRequire } from "node:module";
import { delimiter, dirname, join } from "node:path";
import { VaultError } from "../errors.ts";

export interface FindAnvilOptions {
  env?: NodeJS.ProcessEnv;
}

export interface StartAnvilOptions {
  /** State file for `--state`; its directory is created. Without it the chain lives in memory. */
  stateFile?: string;
  /** Fixed port; default: any free port. */
  port?: number;
  chainId?: number;
  /** Binary to run; default: `findAnvil()`. */
  bin?: string;
  /** Start-up deadline, default 30 s. */
  startTimeoutMs?: number;
  signal?: AbortSignal;
}

export interface AnvilProcess {
  readonly rpcUrl: string;
  readonly port: number;
  readonly pid: number;
  /** Resolves with the exit code (or the signal's name) once the process is gone. */
  readonly exited: Promise<number | string>;
  /** SIGTERM (anvil dumps its state), SIGKILL after `timeoutMs` (default 10 s). Idempotent. */
  stop(options?: { timeoutMs?: number }): Promise<void>;
}

const HOST = "127.0.0.1";
const STDERR_TAIL_BYTES = 4096;

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function npmPackageName(): string | undefined {
  const os = { linux: "linux", darwin: "darwin", win32: "win32" }[process.platform as string];
  const arch = { x64: "amd64", arm64: "arm64" }[process.arch as string];
  return os === undefined || arch === undefined ? undefined : `@foundry-rs/anvil-${os}-${arch}`;
}

/** Path of an anvil binary, or VaultError UNSUPPORTED naming the three places looked at. */
export function findAnvil(options: FindAnvilOptions = {}): string {
  const env = options.env ?? process.env;
  const exe = process.platform === "win32" ? "anvil.exe" : "anvil";

  const fromEnv = env.MEDVAULT_ANVIL_BIN;
  if (fromEnv !== undefined && fromEnv !== "") {
    if (isExecutable(fromEnv)) return fromEnv;
    throw new VaultError("UNSUPPORTED", `MEDVAULT_ANVIL_BIN is set but ${fromEnv} is not an executable file`);
  }

  const pkg = npmPackageName();
  if (pkg !== undefined) {
    try {
      const manifest = createRequire(import.meta.url).resolve(`${pkg}/package.json`);
      const bin = join(dirname(manifest), "bin", exe);
      if (isExecutable(bin)) return bin;
    } catch {
      // optional dependency not installed on this platform: fall through to PATH
    }
  }

  for (const dir of (env.PATH ?? "").split(delimiter)) {
    if (dir === "") continue;
    const bin = join(dir, exe);
    if (isExecutable(bin)) return bin;
  }

  throw new VaultError(
    "UNSUPPORTED",
    `no anvil binary: set MEDVAULT_ANVIL_BIN, install the optional npm package ${pkg ?? "@foundry-rs/anvil-<os>-<arch>"}, ` +
      "or put anvil (Foundry) on PATH; or point MEDVAULT_CHAIN_RPC at an existing chain",
  );
}

/** Starts anvil and resolves once it answers JSON-RPC. */
export async function startAnvil(options: StartAnvilOptions = {}): Promise<AnvilProcess> {
  options.signal?.throwIfAborted();
  const bin = options.bin ?? findAnvil();
  const args = ["--host", HOST, "--port", String(options.port ?? 0)];
  if (options.stateFile !== undefined) {
    mkdirSync(dirname(options.stateFile), { recursive: true });
    args.push("--state", options.stateFile, "--state-interval", "1");
  }
  if (options.chainId !== undefined) args.push("--chain-id", String(options.chainId));

  const child = spawn(bin, args, { stdio: ["ignore", "pipe", "pipe"] });
  let stderrTail = "";
  child.stderr?.setEncoding("utf8");
  child.stderr?.on("data", (chunk: string) => {
    stderrTail = (stderrTail + chunk).slice(-STDERR_TAIL_BYTES);
  });

  const exited = new Promise<number | string>((resolve) => {
    child.once("exit", (code, signal) => resolve(code ?? signal ?? "unknown"));
    child.once("error", () => resolve("spawn-error"));
  });
  let spawnError: Error | undefined;
  child.once("error", (error) => {
    spawnError = error;
  });
  // An anvil outliving a crashed parent would hold its port and state file.
  const killOnExit = () => child.kill("SIGKILL");
  process.once("exit", killOnExit);
  void exited.then(() => process.removeListener("exit", killOnExit));

  const logged = listeningPort(child, exited); // also drains stdout, whatever the port
  const port = options.port ?? (await logged);
  const stop = makeStop(child, exited);
  const rpcUrl = `http://${HOST}:${port ?? 0}`;
  try {
    if (port === undefined) throw new Error("exited before listening");
    await waitForRpc(rpcUrl, exited, options.startTimeoutMs ?? 30_000, options.signal);
  } catch (error) {
    await stop({ timeoutMs: 2000 });
    if (options.signal?.aborted) throw options.signal.reason;
    const detail = spawnError?.message ?? stderrTail.trim();
    throw new VaultError("CHAIN_UNAVAILABLE", `anvil did not start: ${detail || (error as Error).message}`, {
      cause: error,
    });
  }
  if (child.pid === undefined) throw new VaultError("CHAIN_UNAVAILABLE", "anvil has no pid");
  return { rpcUrl, port, pid: child.pid, exited, stop };
}

/** Reads the bound port from anvil's "Listening on 127.0.0.1:PORT" line; drains the rest. */
function listeningPort(child: ChildProcess, exited: Promise<unknown>): Promise<number | undefined> {
  return new Promise((resolve) => {
    const stdout = child.stdout;
    if (stdout === null) return resolve(undefined);
    stdout.setEncoding("utf8");
    let buffered = "";
    let found = false;
    stdout.on("data", (chunk: string) => {
      if (found) return; // keep draining: anvil logs every RPC call to stdout
      buffered = (buffered + chunk).slice(-4096);
      const match = /Listening on [^\s:]+:(\d+)/.exec(buffered);
      if (match !== null) {
        found = true;
        buffered = "";
        resolve(Number(match[1]));
      }
    });
    void exited.then(() => resolve(undefined));
  });
}

async function waitForRpc(rpcUrl: string, exited: Promise<unknown>, timeoutMs: number, signal: AbortSignal | undefined): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let gone = false;
  void exited.then(() => {
    gone = true;
  });
  for (;;) {
    signal?.throwIfAborted();
    if (gone) throw new Error("anvil exited during start-up");
    if (await answersRpc(rpcUrl)) return;
    if (Date.now() > deadline) throw new Error(`no JSON-RPC answer within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** One eth_chainId over node:http (fetch refuses some ports a user may pick, such as 6000). */
function answersRpc(rpcUrl: string): Promise<boolean> {
  return new Promise((resolve) => {
    const body = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "eth_chainId", params: [] });
    const req = request(rpcUrl, { method: "POST", headers: { "content-type": "application/json" }, timeout: 1000 }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        text += chunk;
      });
      res.on("end", () => {
        try {
          resolve(typeof (JSON.parse(text) as { result?: unknown }).result === "string");
        } catch {
          resolve(false);
        }
      });
      res.on("error", () => resolve(false));
    });
    req.on("timeout", () => req.destroy());
    req.on("error", () => resolve(false));
    req.end(body);
  });
}

function makeStop(child: ChildProcess, exited: Promise<unknown>): AnvilProcess["stop"] {
  let stopping: Promise<void> | undefined;
  return (options = {}) => {
    stopping ??= (async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<"timeout">((resolve) => {
        timer = setTimeout(() => resolve("timeout"), options.timeoutMs ?? 10_000);
      });
      const outcome = await Promise.race([exited, timedOut]);
      clearTimeout(timer);
      if (outcome === "timeout") {
        child.kill("SIGKILL");
        await exited;
      }
    })();
    return stopping;
  };
}
