/**
 * The real service for the service tests: `startServer` in-process on 127.0.0.1 with a free
 * port and a temp data dir, or a child `medvault serve` where a test has to kill it. Plus the
 * HTTP calls the tests repeat (principals, uploads, streamed multipart bodies) and the data
 * dir walks (every file, the block files).
 */

import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { closeSync, openSync, readdirSync, readFileSync, readSync, statSync, writeSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { DatabaseSync } from "node:sqlite";
import { generateKey } from "../../src/crypto/index.ts";
import { type Config, startServer } from "../../src/server.ts";
import { BIN, env } from "../cli/run.ts";
import { tempDir } from "../crypto/helpers.ts";

export type Role = "uploader" | "recipient" | "privacy" | "admin";

export type Principal = { id: string; name: string; role: Role; token: string; identity?: string; recipient?: string };

export type Service = {
  url: string;
  dataDir: string;
  admin: Principal;
  close(): Promise<void>;
};

export function newToken(): string {
  return `mvt_${randomBytes(32).toString("base64url")}`;
}

/** The bootstrap admin's id, read from the catalog (no endpoint tells a principal its own id). */
function adminId(dataDir: string): string {
  const db = new DatabaseSync(join(dataDir, "catalog.sqlite"), { readOnly: true });
  try {
    return String(db.prepare("SELECT id FROM principals WHERE role = 'admin' ORDER BY created_at LIMIT 1").get()?.id);
  } finally {
    db.close();
  }
}

/** An in-process server; `close` stops it and removes its data dir. */
export async function startService(extra: Partial<Config> = {}): Promise<Service> {
  const dir = tempDir("medvault-service-");
  const adminToken = newToken();
  const running = await startServer({
    dataDir: dir.path,
    host: "127.0.0.1",
    port: 0,
    maxUploadBytes: 1024 ** 3,
    adminToken,
    webDir: undefined,
    logLevel: "silent",
    ...extra,
  });
  return {
    url: running.url,
    dataDir: dir.path,
    admin: { id: adminId(dir.path), name: "admin", role: "admin", token: adminToken },
    async close() {
      await running.close();
      dir.remove();
    },
  };
}

export type Served = { child: ChildProcess; url: string; stop(signal?: NodeJS.Signals): Promise<number | null> };

/**
 * A child `medvault serve` on a free port; resolves once it logs its URL. With `nodeFlags` it
 * runs as `npm start` does (`node [flags] bin/medvault.js serve`, without the shebang's flags).
 */
export function spawnServe(
  dataDir: string,
  adminToken: string,
  extraEnv: Record<string, string> = {},
  options: { nodeFlags?: string[] } = {},
): Promise<Served> {
  const [cmd, args] = options.nodeFlags === undefined ? [BIN, ["serve"]] : [process.execPath, [...options.nodeFlags, BIN, "serve"]];
  const child = spawn(cmd, args, {
    env: env({ MEDVAULT_DATA: dataDir, MEDVAULT_PORT: "0", MEDVAULT_HOST: "127.0.0.1", MEDVAULT_ADMIN_TOKEN: adminToken, ...extraEnv }),
    stdio: ["ignore", "pipe", "pipe"],
  });
  const exited = new Promise<number | null>((resolve) =>
    child.once("exit", (code, signal) => resolve(code ?? (signal === null ? null : -1))),
  );
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  const stop = async (signal: NodeJS.Signals = "SIGTERM") => {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) process.kill(child.pid, signal);
    return exited;
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      void stop("SIGKILL");
      reject(new Error(`medvault serve did not start: ${stderr}`));
    }, 30_000);
    const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
    lines.on("line", (line) => {
      if (!line.includes('"msg":"medvault listening"')) return;
      const url = (JSON.parse(line) as { url: string }).url;
      clearTimeout(timer);
      resolve({ child, url, stop });
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`medvault serve exited (${code}) before listening: ${stderr}`));
    });
  });
}

export type Answer = { status: number; body: unknown; code: string | undefined; headers: Headers };

/** A JSON call; `code` is the error code when the answer is an error. */
export async function call(url: string, token: string | undefined, method: string, path: string, json?: unknown): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (token !== undefined) headers.authorization = `Bearer ${token}`;
  if (json !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(`${url}${path}`, { method, headers, ...(json === undefined ? {} : { body: JSON.stringify(json) }) });
  const text = await res.text();
  let body: unknown = text;
  if ((res.headers.get("content-type") ?? "").includes("json") && text !== "") body = JSON.parse(text);
  const code = (body as { error?: { code?: string } } | undefined)?.error?.code;
  return { status: res.status, body, code, headers: res.headers };
}

export type Download = { status: number; code?: string; length: number | null; body: Buffer; errored: boolean };

/**
 * A file download that records how it ended instead of throwing: the status and error code, or
 * the bytes received, whether the body broke off, and the length the server announced.
 */
export async function fetchDownload(url: string, token: string, id: string, what: "content" | "age"): Promise<Download> {
  const res = await fetch(`${url}/v1/files/${id}/${what}`, { headers: { authorization: `Bearer ${token}` } });
  const length = res.headers.get("content-length") === null ? null : Number(res.headers.get("content-length"));
  if (res.status !== 200) {
    const body = (await res.json()) as { error?: { code?: string } };
    return {
      status: res.status,
      ...(body.error?.code === undefined ? {} : { code: body.error.code }),
      length,
      body: Buffer.alloc(0),
      errored: false,
    };
  }
  const parts: Uint8Array[] = [];
  let errored = false;
  try {
    for await (const piece of res.body as unknown as AsyncIterable<Uint8Array>) parts.push(piece);
  } catch {
    errored = true;
  }
  return { status: 200, length, body: Buffer.concat(parts), errored };
}

let counter = 0;

/** A new principal; recipients get a fresh X25519 age key (identity kept for decrypting). */
export async function addPrincipal(service: Pick<Service, "url" | "admin">, role: Role, name?: string): Promise<Principal> {
  const key = role === "recipient" ? await generateKey() : undefined;
  const res = await call(service.url, service.admin.token, "POST", "/v1/principals", {
    name: name ?? `${role}-${process.pid}-${++counter}`,
    role,
    ...(key === undefined ? {} : { ageRecipient: key.recipient }),
  });
  if (res.status !== 201) throw new Error(`principal: ${res.status} ${res.code}`);
  const p = res.body as { id: string; name: string; role: Role; token: string };
  return { ...p, ...(key === undefined ? {} : { identity: key.identity, recipient: key.recipient }) };
}

export type FileAnswer = { id: string; name: string; size: number; sha256: string; cid: string; mediaType: string; state?: string };

/** A small upload through FormData: fields first, then the file part. */
export async function upload(
  url: string,
  token: string,
  data: Uint8Array,
  options: { name?: string; recipients: string[]; expiresAt?: string },
): Promise<Answer & { file: FileAnswer }> {
  const form = new FormData();
  for (const r of options.recipients) form.append("recipients", r);
  if (options.expiresAt !== undefined) form.append("expiresAt", options.expiresAt);
  form.append("file", new Blob([data as Uint8Array<ArrayBuffer>]), options.name ?? "file.bin");
  const res = await fetch(`${url}/v1/files`, { method: "POST", headers: { authorization: `Bearer ${token}` }, body: form });
  const body = (await res.json()) as FileAnswer & { error?: { code: string } };
  return { status: res.status, body, code: body.error?.code, headers: res.headers, file: body };
}

/** The multipart/form-data framing of an upload: recipients fields, then the file part's head; the tail closes it. */
export function multipartFraming(options: { name: string; recipients: string[] }): {
  head: Uint8Array;
  tail: Uint8Array;
  contentType: string;
} {
  const boundary = `----medvault${randomBytes(12).toString("hex")}`;
  const enc = new TextEncoder();
  const head =
    options.recipients.map((r) => `--${boundary}\r\nContent-Disposition: form-data; name="recipients"\r\n\r\n${r}\r\n`).join("") +
    `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${options.name}"\r\nContent-Type: application/octet-stream\r\n\r\n`;
  return { head: enc.encode(head), tail: enc.encode(`\r\n--${boundary}--\r\n`), contentType: `multipart/form-data; boundary=${boundary}` };
}

/**
 * A multipart body streamed from `source` (fields first), for uploads too large to hold in
 * memory. The caller's `onChunk` sees every file byte count as it leaves.
 */
export function multipartStream(
  source: AsyncIterable<Uint8Array>,
  options: { name: string; recipients: string[]; onChunk?: (n: number) => void },
): { body: ReadableStream<Uint8Array>; contentType: string } {
  const { head, tail, contentType } = multipartFraming(options);
  async function* parts(): AsyncGenerator<Uint8Array> {
    yield head;
    for await (const piece of source) {
      options.onChunk?.(piece.length);
      yield piece;
    }
    yield tail;
  }
  const it = parts();
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      const next = await it.next();
      if (next.done === true) controller.close();
      else controller.enqueue(next.value);
    },
    async cancel() {
      await it.return(undefined);
    },
  });
  return { body, contentType };
}

/** Deterministic bytes generated on the fly in 1 MiB pieces (a fresh buffer each, as fetch may hold them). */
export async function* generated(total: number, seed = 7): AsyncGenerator<Uint8Array> {
  const block = 1024 * 1024;
  const pattern = Buffer.allocUnsafe(block + 256);
  let x = seed | 0 || 1;
  for (let i = 0; i < pattern.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    pattern[i] = x & 0xff;
  }
  let sent = 0;
  let n = 0;
  while (sent < total) {
    const size = Math.min(block, total - sent);
    // Shifted by the piece number so that no two 1 MiB pieces (and so no two blocks) repeat.
    const offset = n++ % 256;
    yield Buffer.from(pattern.subarray(offset, offset + size));
    sent += size;
  }
}

/** Every regular file under `dir`, recursively. */
export function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...filesUnder(path));
    else if (entry.isFile()) out.push(path);
  }
  return out;
}

/** The data-dir files that contain `needle` (each read whole, as bytes). */
export function filesContaining(dir: string, needle: Buffer): string[] {
  return filesUnder(dir).filter((path) => statSync(path).size >= needle.length && readFileSync(path).includes(needle));
}

/** The block files of the Helia blockstore (finished blocks only, not temp files). */
export function blockFiles(dataDir: string): Set<string> {
  return new Set(filesUnder(join(dataDir, "ipfs", "blocks")).filter((p) => p.endsWith(".data")));
}

/** Flips one bit (the mask's) of a file on disk, in the middle by default: tampering in place. */
export function flipBitOnDisk(path: string, at = Math.floor(statSync(path).size / 2), mask = 0x01): void {
  const fd = openSync(path, "r+");
  try {
    const one = Buffer.alloc(1);
    readSync(fd, one, 0, 1, at);
    one[0] = (one[0] as number) ^ mask;
    writeSync(fd, one, 0, 1, at);
  } finally {
    closeSync(fd);
  }
}

export async function sleep(ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms));
}
