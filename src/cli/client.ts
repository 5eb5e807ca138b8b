/**
 * The client commands of `medvault`, talking HTTP to a running `medvault serve` (DESIGN.md
 * "Names that tools rely on"): `principal add`, `upload`, `download`, `grant`, `revoke`,
 * `shred`, `audit`, `ls`. Results go to standard output as JSON lines (one object per line,
 * for jq); progress and warnings go to standard error.
 *
 * A download is written to `OUT.part` and renamed only once the body arrived whole and its
 * SHA-256 matches the server's `Repr-Digest` (RFC 9530): a file under its final name is always
 * the verified one.
 */

import { createHash } from "node:crypto";
import { createWriteStream } from "node:fs";
import { lstat, rename, rm, stat } from "node:fs/promises";
import type { IncomingMessage } from "node:http";
import { basename, join } from "node:path";
import { pipeline } from "node:stream/promises";
import { VaultError } from "../errors.ts";
import { list, one, parse } from "./args.ts";
import {
  CONNECTION_HELP,
  CONNECTION_OPTIONS,
  type Connection,
  callJson,
  connect,
  openDownload,
  printable,
  uploadMultipart,
} from "./http.ts";
import { createProgress, formatBytes } from "./progress.ts";

const ROLES = ["uploader", "recipient", "privacy", "admin"] as const;

// ---------------------------------------------------------------- principal add

export const PRINCIPAL_USAGE = `Usage: medvault principal add NAME --role ROLE [--age-recipient RECIPIENT]

Creates a principal (admin only) and prints {id, name, role, token} as one JSON line. The token
is shown this once: store it now.

  --role ROLE                uploader, recipient, privacy or admin
  --age-recipient RECIPIENT  the principal's age1… or age1pq1… recipient (recipients need one
                             to download age files)

${CONNECTION_HELP}`;

export async function principal(argv: string[]): Promise<number> {
  const { values, positionals } = parse(
    argv,
    { ...CONNECTION_OPTIONS, role: { type: "string" }, "age-recipient": { type: "string" } },
    PRINCIPAL_USAGE,
  );
  if (values.help === true) return usage(PRINCIPAL_USAGE);
  const [action, name, ...extra] = positionals;
  if (action !== "add") throw new VaultError("BAD_REQUEST", `unknown or missing action (only "add")\n${PRINCIPAL_USAGE}`);
  if (name === undefined || extra.length > 0) throw new VaultError("BAD_REQUEST", `one NAME is required\n${PRINCIPAL_USAGE}`);
  const role = one(values.role);
  if (role === undefined || !(ROLES as readonly string[]).includes(role)) {
    throw new VaultError("BAD_REQUEST", `--role must be one of ${ROLES.join(", ")}\n${PRINCIPAL_USAGE}`);
  }
  const ageRecipient = one(values["age-recipient"]);
  const conn = await connect(values);
  const created = await callJson(conn, "POST", "/v1/principals", {
    body: { name, role, ...(ageRecipient === undefined ? {} : { ageRecipient }) },
  });
  printJson(created);
  if (process.stdout.isTTY === true) process.stderr.write("medvault: the token above is shown only once; store it now\n");
  return 0;
}

// ---------------------------------------------------------------- upload

export const UPLOAD_USAGE = `Usage: medvault upload FILE… [--to NAME…] [--expires WHEN] [-q]

Uploads each FILE (uploader role), streamed from disk, and prints the server's answer for each
as one JSON line: {id, name, size, sha256, cid, mediaType, anchor, …}. The SHA-256 the server
computed is checked against the bytes sent. Stops at the first failure.

  --to NAME       a recipient (principal name or id); repeatable, or comma-separated
  --expires WHEN  when the recipients' grants end: a duration (30d, 12h, 45m, 2w) or an
                  ISO 8601 time
  -q, --quiet     no progress on standard error

${CONNECTION_HELP}`;

export async function upload(argv: string[]): Promise<number> {
  const { values, positionals } = parse(
    argv,
    { ...CONNECTION_OPTIONS, to: { type: "string", multiple: true }, expires: { type: "string" }, quiet: { type: "boolean", short: "q" } },
    UPLOAD_USAGE,
  );
  if (values.help === true) return usage(UPLOAD_USAGE);
  if (positionals.length === 0) throw new VaultError("BAD_REQUEST", `at least one FILE is required\n${UPLOAD_USAGE}`);
  const recipients = list(values.to)
    .flatMap((v) => v.split(","))
    .map((v) => v.trim())
    .filter((v) => v !== "");
  const expires = one(values.expires);
  const expiresAt = expires === undefined ? undefined : parseExpiry(expires);
  // Every file is checked before the first byte goes out, so a typo does not leave half a batch.
  const files: { path: string; size: number }[] = [];
  for (const path of positionals) files.push({ path, size: await regularFileSize(path) });
  const conn = await connect(values);
  const fields: [string, string][] = recipients.map((r) => ["recipients", r]);
  if (expiresAt !== undefined) fields.push(["expiresAt", expiresAt]);
  for (const file of files) {
    const name = basename(file.path);
    const progress = createProgress(printable(name, 200), file.size, { enabled: values.quiet !== true });
    let result: Awaited<ReturnType<typeof uploadMultipart>>;
    try {
      result = await uploadMultipart(conn, "/v1/files", {
        fields,
        path: file.path,
        name,
        size: file.size,
        onBytes: (n) => progress.add(n),
      });
    } catch (error) {
      progress.stop();
      throw error;
    }
    progress.end();
    const answer = result.answer as { id?: unknown; sha256?: unknown; size?: unknown };
    if (answer.sha256 !== result.sha256 || answer.size !== file.size) {
      printJson(answer);
      throw new VaultError("INTEGRITY_FAILED", `the server recorded other bytes than were sent for ${name} (file ${String(answer.id)})`);
    }
    printJson(answer);
  }
  return 0;
}

// ---------------------------------------------------------------- download

export const DOWNLOAD_USAGE = `Usage: medvault download ID [-o OUT] [--age] [-q]

Downloads the verified plaintext of file ID (or, with --age, your age file of it: decrypt it
with \`age -d -i KEY\` or \`medvault decrypt\`). The file is written to OUT.part and renamed to
OUT only once it arrived whole and its SHA-256 matches the server's Repr-Digest; otherwise the
part file is deleted and the command fails with INTEGRITY_FAILED. Files are created owner-only
(mode 0600).

  -o, --output OUT  output file, or a directory for the server's file name; "-" for standard
                    output (bytes are written as they arrive: check the exit status).
                    Default: the server's file name in the current directory (never
                    overwritten; an explicit OUT is)
  --age             the age file (header and payload) instead of the plaintext
  -q, --quiet       no progress on standard error

${CONNECTION_HELP}`;

export async function download(argv: string[]): Promise<number> {
  const { values, positionals } = parse(
    argv,
    { ...CONNECTION_OPTIONS, output: { type: "string", short: "o" }, age: { type: "boolean" }, quiet: { type: "boolean", short: "q" } },
    DOWNLOAD_USAGE,
  );
  if (values.help === true) return usage(DOWNLOAD_USAGE);
  if (positionals.length !== 1) throw new VaultError("BAD_REQUEST", `one file ID is required\n${DOWNLOAD_USAGE}`);
  const id = positionals[0] as string;
  const age = values.age === true;
  const output = one(values.output);
  const conn = await connect(values);

  // Ctrl-C or a TERM removes the part file instead of leaving it behind.
  const abort = new AbortController();
  const interrupted = () => abort.abort(new VaultError("IO_ERROR", "interrupted"));
  process.once("SIGINT", interrupted);
  process.once("SIGTERM", interrupted);
  try {
    const res = await openDownload(conn, `/v1/files/${encodeURIComponent(id)}/${age ? "age" : "content"}`, abort.signal);
    const target = await chooseTarget(output, res, id, age);
    const total = contentLength(res);
    const expected = reprDigest(res);
    if (!age && expected === undefined) {
      res.destroy();
      throw new VaultError("INTEGRITY_FAILED", "the server sent no Repr-Digest (sha-256) to check the download against");
    }
    const progress = createProgress(target === undefined ? id : basename(target), total, { enabled: values.quiet !== true });
    try {
      await receive(res, target, { total, expected, progress, signal: abort.signal });
    } catch (error) {
      progress.stop();
      throw error;
    }
    progress.end();
  } finally {
    process.off("SIGINT", interrupted);
    process.off("SIGTERM", interrupted);
  }
  return 0;
}

/** The final path, or undefined for standard output. Checked before any byte is written. */
async function chooseTarget(output: string | undefined, res: IncomingMessage, id: string, age: boolean): Promise<string | undefined> {
  if (output === "-") return undefined;
  const fallback = age ? `${id}.age` : id;
  const serverName = () => safeFileName(dispositionFileName(res.headers["content-disposition"]), sanitizeFallback(fallback));
  if (output !== undefined) {
    const s = await stat(output).catch(() => undefined);
    if (s?.isDirectory() !== true) return output;
    return refuseExisting(join(output, serverName()), res);
  }
  return refuseExisting(serverName(), res);
}

async function refuseExisting(path: string, res: IncomingMessage): Promise<string> {
  if ((await lstat(path).catch(() => undefined)) !== undefined) {
    res.destroy();
    throw new VaultError("CONFLICT", `${path} already exists; name the output with -o`);
  }
  return path;
}

type Receive = {
  total: number | undefined;
  expected: Buffer | undefined;
  progress: { add(bytes: number): void };
  signal: AbortSignal;
};

async function receive(res: IncomingMessage, target: string | undefined, options: Receive): Promise<void> {
  const hash = createHash("sha256");
  let received = 0;
  let cutShort: unknown;
  async function* body(): AsyncGenerator<Buffer> {
    try {
      for await (const chunk of res as AsyncIterable<Buffer>) {
        hash.update(chunk);
        received += chunk.length;
        options.progress.add(chunk.length);
        yield chunk;
      }
    } catch (cause) {
      cutShort = cause ?? new Error("aborted");
      throw cause;
    }
  }
  const cutMessage = () =>
    `the download was cut short (${received} of ${options.total ?? "?"} bytes): the server refused to serve unverified bytes, or the connection failed`;

  if (target === undefined) {
    // Standard output: nothing to take back, but the exit status still tells.
    try {
      await pipeline(body(), process.stdout, { end: false, signal: options.signal });
    } catch (cause) {
      if (options.signal.aborted) throw options.signal.reason;
      if (cutShort !== undefined) throw new VaultError("INTEGRITY_FAILED", cutMessage(), { cause });
      throw cause;
    }
    checkReceived(res, received, hash.digest(), options, cutMessage);
    return;
  }

  const part = `${target}.part`;
  await rm(part, { force: true });
  try {
    // `flush`: fsync before close, so the renamed file is on disk, not just in the page cache.
    const file = createWriteStream(part, { flags: "wx", mode: 0o600, flush: true, highWaterMark: 1024 * 1024 });
    try {
      await pipeline(body(), file, { signal: options.signal });
    } catch (cause) {
      if (options.signal.aborted) throw options.signal.reason;
      if (cutShort !== undefined) throw new VaultError("INTEGRITY_FAILED", cutMessage(), { cause });
      const code = (cause as { code?: string }).code;
      throw new VaultError("IO_ERROR", `cannot write ${part}${code === undefined ? "" : ` (${code})`}`, { cause });
    }
    checkReceived(res, received, hash.digest(), options, cutMessage);
    await rename(part, target);
  } catch (error) {
    await rm(part, { force: true });
    throw error;
  }
}

function checkReceived(res: IncomingMessage, received: number, digest: Buffer, options: Receive, cutMessage: () => string): void {
  if (!res.complete || (options.total !== undefined && received !== options.total)) throw new VaultError("INTEGRITY_FAILED", cutMessage());
  if (options.expected !== undefined && !digest.equals(options.expected)) {
    throw new VaultError("INTEGRITY_FAILED", "the SHA-256 of the bytes received does not match the server's Repr-Digest");
  }
}

function contentLength(res: IncomingMessage): number | undefined {
  const value = res.headers["content-length"];
  if (value === undefined || !/^\d+$/.test(value)) return undefined;
  return Number(value);
}

/** The sha-256 member of a Repr-Digest dictionary (RFC 9530): `sha-256=:<base64>:`. */
export function reprDigest(res: Pick<IncomingMessage, "headers">): Buffer | undefined {
  const header = res.headers["repr-digest"];
  if (typeof header !== "string") return undefined;
  for (const member of header.split(",")) {
    const match = /^\s*sha-256\s*=\s*:([A-Za-z0-9+/]+={0,2}):\s*$/.exec(member);
    if (match === null) continue;
    const digest = Buffer.from(match[1] as string, "base64");
    if (digest.length === 32) return digest;
  }
  return undefined;
}

/** The file name of a Content-Disposition header: `filename*` (RFC 6266/8187) first, then `filename`. */
export function dispositionFileName(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const extended = /(?:^|;)\s*filename\*\s*=\s*UTF-8'[^']*'([^;\s]+)/i.exec(header);
  if (extended !== null) {
    try {
      return decodeURIComponent(extended[1] as string);
    } catch {
      // malformed percent-encoding: fall back to the plain parameter
    }
  }
  const quoted = /(?:^|;)\s*filename\s*=\s*"((?:[^"\\]|\\.)*)"/i.exec(header);
  if (quoted !== null) return (quoted[1] as string).replace(/\\(.)/g, "$1");
  const token = /(?:^|;)\s*filename\s*=\s*([^;\s"]+)/i.exec(header);
  return token === null ? undefined : token[1];
}

/**
 * A server-chosen name made safe for the current directory: its last path segment, no control
 * or bidi characters, no leading dots (no hidden files, no `..`), at most 200 bytes.
 */
export function safeFileName(name: string | undefined, fallback: string): string {
  if (name === undefined) return fallback;
  const segment = name.split(/[/\\]/).pop() ?? "";
  // biome-ignore lint/suspicious/noControlCharactersInRegex: removing them is the point
  let clean = segment.replace(/[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/g, "").trim();
  clean = clean.replace(/^\.+/, "").replace(/[. ]+$/, "");
  while (Buffer.byteLength(clean) > 200) clean = clean.slice(0, -1);
  return clean === "" ? fallback : clean;
}

function sanitizeFallback(name: string): string {
  return safeFileName(name, "download");
}

// ---------------------------------------------------------------- grant, revoke

export const GRANT_USAGE = `Usage: medvault grant ID RECIPIENT [--expires WHEN]

Grants RECIPIENT (a principal name or id) access to file ID and prints the grant as one JSON line.

  --expires WHEN  when the grant ends: a duration (30d, 12h, 45m, 2w) or an ISO 8601 time

${CONNECTION_HELP}`;

export async function grant(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { ...CONNECTION_OPTIONS, expires: { type: "string" } }, GRANT_USAGE);
  if (values.help === true) return usage(GRANT_USAGE);
  const [id, recipient] = exactly(positionals, 2, "ID and RECIPIENT are required", GRANT_USAGE);
  const expires = one(values.expires);
  const expiresAt = expires === undefined ? undefined : parseExpiry(expires);
  const conn = await connect(values);
  const answer = await callJson(conn, "POST", `/v1/files/${encodeURIComponent(id)}/grants`, {
    body: { recipient, ...(expiresAt === undefined ? {} : { expiresAt }) },
  });
  if (answer !== undefined) printJson(answer);
  return 0;
}

export const REVOKE_USAGE = `Usage: medvault revoke ID RECIPIENT

Revokes RECIPIENT's grant on file ID: the vault releases the file key to them no more. It cannot
take back a copy they already downloaded or decrypted.

${CONNECTION_HELP}`;

export async function revoke(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { ...CONNECTION_OPTIONS }, REVOKE_USAGE);
  if (values.help === true) return usage(REVOKE_USAGE);
  const [id, recipient] = exactly(positionals, 2, "ID and RECIPIENT are required", REVOKE_USAGE);
  const conn = await connect(values);
  const answer = await callJson(conn, "DELETE", `/v1/files/${encodeURIComponent(id)}/grants/${encodeURIComponent(recipient)}`);
  if (answer !== undefined) printJson(answer);
  return 0;
}

// ---------------------------------------------------------------- shred

export const SHRED_USAGE = `Usage: medvault shred ID --reason TEXT

Erases file ID (privacy role) by crypto-shredding: every copy of its key and its salt are
destroyed and its blocks unpinned. Irreversible. Prints the erasure certificate as one JSON line.

  --reason TEXT  why (the erasure request's reference, for instance); kept in the audit trail

${CONNECTION_HELP}`;

export async function shred(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { ...CONNECTION_OPTIONS, reason: { type: "string" } }, SHRED_USAGE);
  if (values.help === true) return usage(SHRED_USAGE);
  const [id] = exactly(positionals, 1, "one file ID is required", SHRED_USAGE);
  const reason = one(values.reason)?.trim();
  if (reason === undefined || reason === "") throw new VaultError("BAD_REQUEST", `--reason is required\n${SHRED_USAGE}`);
  const conn = await connect(values);
  printJson(await callJson(conn, "POST", `/v1/files/${encodeURIComponent(id)}/erasure`, { body: { reason } }));
  return 0;
}

// ---------------------------------------------------------------- audit

export const AUDIT_USAGE = `Usage: medvault audit [ID] [--actor PRINCIPAL] [--action ACTION] [--after SEQ] [--limit N]

Prints audit events (privacy and admin roles), oldest first, one JSON line each: all of them,
page by page, unless --limit is given.

  ID                  only events about this file
  --actor PRINCIPAL   only events by this principal
  --action ACTION     only this action (file.upload, file.read, file.erase, …)
  --after SEQ         only events after this sequence number (the last "seq" you saw)
  --limit N           at most N events (1 to 10000)

${CONNECTION_HELP}`;

const AUDIT_PAGE = 10_000;

export async function audit(argv: string[]): Promise<number> {
  const { values, positionals } = parse(
    argv,
    { ...CONNECTION_OPTIONS, actor: { type: "string" }, action: { type: "string" }, after: { type: "string" }, limit: { type: "string" } },
    AUDIT_USAGE,
  );
  if (values.help === true) return usage(AUDIT_USAGE);
  if (positionals.length > 1) throw new VaultError("BAD_REQUEST", `at most one file ID\n${AUDIT_USAGE}`);
  const limit = wholeNumber(one(values.limit), "--limit", 1, AUDIT_PAGE);
  let after = wholeNumber(one(values.after), "--after", 0, 1e9);
  const conn = await connect(values);
  const filters = { file: positionals[0], actor: one(values.actor), action: one(values.action) };
  for (;;) {
    const pageSize = limit ?? AUDIT_PAGE;
    const answer = await callJson(conn, "GET", "/v1/audit", {
      query: { ...filters, limit: String(pageSize), ...(after === undefined ? {} : { after: String(after) }) },
    });
    const events = items(answer, "events") as { seq?: unknown }[];
    for (const event of events) printJson(event);
    const last = events.at(-1)?.seq;
    if (limit !== undefined || events.length < pageSize || typeof last !== "number") return 0;
    after = last;
  }
}

function wholeNumber(text: string | undefined, title: string, min: number, max: number): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\d{1,10}$/.test(text) || Number(text) < min || Number(text) > max) {
    throw new VaultError("BAD_REQUEST", `${title} must be a whole number from ${min} to ${max}`);
  }
  return Number(text);
}

// ---------------------------------------------------------------- ls

export const LS_USAGE = `Usage: medvault ls [--json]

Lists the files you may see: id, name, size, state and anchor status, as a table.

  --json  one JSON line per file, with every field

${CONNECTION_HELP}`;

type Listed = { id?: unknown; name?: unknown; size?: unknown; state?: unknown; anchor?: { status?: unknown; batchId?: unknown } };

export async function ls(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv, { ...CONNECTION_OPTIONS, json: { type: "boolean" } }, LS_USAGE);
  if (values.help === true) return usage(LS_USAGE);
  if (positionals.length > 0) throw new VaultError("BAD_REQUEST", `unexpected argument\n${LS_USAGE}`);
  const conn = await connect(values);
  const files = await listFiles(conn);
  if (values.json === true) {
    for (const f of files) printJson(f);
    return 0;
  }
  const rows = files.map((f) => [
    cell(f.id),
    f.name === null || f.name === undefined ? "-" : cell(f.name, 40),
    typeof f.size === "number" ? formatBytes(f.size) : "-",
    cell(f.state),
    f.anchor === undefined ? "-" : `${cell(f.anchor.status)}${typeof f.anchor.batchId === "number" ? ` #${f.anchor.batchId}` : ""}`,
  ]);
  process.stdout.write(table(["ID", "NAME", "SIZE", "STATE", "ANCHOR"], rows, [false, false, true, false, false]));
  return 0;
}

const FILES_PAGE = 1000;

/** Every file the caller may see, page by page (the server answers at most 1000 at a time). */
async function listFiles(conn: Connection): Promise<Listed[]> {
  const files: Listed[] = [];
  let after: string | undefined;
  for (;;) {
    const answer = await callJson(conn, "GET", "/v1/files", { query: { limit: String(FILES_PAGE), after } });
    const page = items(answer, "files") as Listed[];
    files.push(...page);
    const last = page.at(-1)?.id;
    if (page.length < FILES_PAGE || typeof last !== "string") return files;
    after = last;
  }
}

function cell(value: unknown, max = 80): string {
  if (value === undefined || value === null) return "-";
  return printable(String(value), max);
}

function table(head: string[], rows: string[][], rightAligned: boolean[]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (rightAligned[i] === true ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0)))
      .join("  ")
      .trimEnd();
  return `${[head, ...rows].map(line).join("\n")}\n`;
}

// ---------------------------------------------------------------- shared

/** `30d`, `12h`, `45m`, `90s`, `2w` from now, or an ISO 8601 time; returned as ISO 8601 UTC. */
export function parseExpiry(text: string, now: Date = new Date()): string {
  const units: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };
  const duration = /^(\d+)\s*([smhdw])$/.exec(text.trim());
  let at: Date;
  if (duration !== null) {
    at = new Date(now.getTime() + Number(duration[1]) * (units[duration[2] as string] as number));
  } else if (/^\d{4}-\d{2}-\d{2}/.test(text)) {
    at = new Date(text);
  } else {
    throw new VaultError(
      "BAD_REQUEST",
      `--expires: "${printable(text, 40)}" is neither a duration (30d, 12h, 45m, 2w) nor an ISO 8601 time`,
    );
  }
  if (Number.isNaN(at.getTime())) throw new VaultError("BAD_REQUEST", "--expires: not a valid time");
  if (at.getTime() <= now.getTime()) throw new VaultError("BAD_REQUEST", "--expires: the time is in the past");
  return at.toISOString();
}

async function regularFileSize(path: string): Promise<number> {
  const s = await stat(path).catch((cause: unknown) => {
    throw new VaultError("IO_ERROR", `cannot read ${path}`, { cause });
  });
  if (!s.isFile()) throw new VaultError("BAD_REQUEST", `${path} is not a regular file`);
  return s.size;
}

/** A list answer: a JSON array, or an object holding one under `key`. */
function items(answer: unknown, key: string): unknown[] {
  if (Array.isArray(answer)) return answer;
  const inner = (answer as Record<string, unknown> | undefined)?.[key];
  if (Array.isArray(inner)) return inner;
  throw new VaultError("INTERNAL", `the server's answer has no ${key} list`);
}

function exactly<N extends 1 | 2>(positionals: string[], n: N, message: string, text: string): N extends 1 ? [string] : [string, string] {
  if (positionals.length !== n || positionals.some((p) => p === "")) throw new VaultError("BAD_REQUEST", `${message}\n${text}`);
  return positionals as N extends 1 ? [string] : [string, string];
}

function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

function usage(text: string): number {
  process.stdout.write(`${text}\n`);
  return 0;
}
