/**
 * The CLI's side of the HTTP API (`/v1`, DESIGN.md "Names that tools rely on"): which server
 * and which token (flags, else MEDVAULT_URL / MEDVAULT_TOKEN), JSON calls, error bodies
 * `{"error": {"code", "message"}}` turned into VaultErrors with the server's code, and bodies
 * streamed both ways, never held whole in memory.
 *
 * node:http rather than fetch: a server that refuses an upload (401, 413) answers while the
 * body is still being sent; node:http hands that answer over, where fetch would report a bare
 * socket error. A body cut short is visible too (`complete`, an "aborted" error).
 */

import { createHash, randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import { readFile } from "node:fs/promises";
import http, { type ClientRequest, type IncomingMessage, type OutgoingHttpHeaders } from "node:http";
import https from "node:https";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { type ErrorCode, VaultError } from "../errors.ts";

export const DEFAULT_URL = "http://127.0.0.1:8080";

/** No byte in either direction for this long: the server or the network is gone. */
const IDLE_MS = 5 * 60_000;
/** JSON answers and error bodies are small; a bigger one is not from a medvault server. */
const MAX_JSON_BYTES = 64 * 1024 * 1024;
const READ_CHUNK = 1024 * 1024;
/** How long an upload waits for `100 Continue` before sending anyway (curl waits 1 s too). */
const CONTINUE_WAIT_MS = 1000;

export type Connection = { url: URL; token: string };

/** Options every client command takes, for node:util parseArgs. */
export const CONNECTION_OPTIONS = {
  url: { type: "string" },
  token: { type: "string" },
  "token-file": { type: "string" },
} as const;

export const CONNECTION_HELP = `Connection (every client command):
  --url URL          the server (default: $MEDVAULT_URL, else ${DEFAULT_URL})
  --token TOKEN      bearer token (default: $MEDVAULT_TOKEN); other local users can see
                     command lines, so prefer the variable or --token-file
  --token-file FILE  read the bearer token from FILE`;

type Flag = string | boolean | (string | boolean)[] | undefined;

/** Server and token from flags, then the environment. UNAUTHORIZED when there is no token. */
export async function connect(
  values: { url?: Flag; token?: Flag; "token-file"?: Flag },
  env: NodeJS.ProcessEnv = process.env,
): Promise<Connection> {
  const url = parseUrl(str(values.url) ?? nonEmpty(env.MEDVAULT_URL) ?? DEFAULT_URL);
  let token = str(values.token);
  const tokenFile = str(values["token-file"]);
  if (token === undefined && tokenFile !== undefined) {
    token = await readFile(tokenFile, "utf8").catch((cause: unknown) => {
      throw new VaultError("IO_ERROR", `cannot read ${tokenFile}`, { cause });
    });
  }
  token = nonEmpty((token ?? env.MEDVAULT_TOKEN)?.trim());
  if (token === undefined) throw new VaultError("UNAUTHORIZED", "no token: set MEDVAULT_TOKEN, or pass --token-file FILE or --token TOKEN");
  // Never echo the token, not even in this message.
  if (!/^[\x21-\x7e]+$/.test(token)) throw new VaultError("BAD_REQUEST", "the token contains characters a bearer token cannot have");
  if (url.protocol === "http:" && !isLoopback(url.hostname)) {
    process.stderr.write(`medvault: warning: the token goes to ${url.host} unencrypted (http:); use https:\n`);
  }
  return { url, token };
}

function str(value: Flag): string | undefined {
  return typeof value === "string" ? value : undefined;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === "" ? undefined : value;
}

function parseUrl(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch (cause) {
    throw new VaultError("BAD_REQUEST", "the server URL is not a URL", { cause });
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new VaultError("BAD_REQUEST", "the server URL must be http: or https:");
  // The bearer token is the credential; user:password in a URL would only end up in messages.
  url.username = "";
  url.password = "";
  url.search = "";
  url.hash = "";
  return url;
}

function isLoopback(host: string): boolean {
  return host === "localhost" || host === "[::1]" || /^127\.\d+\.\d+\.\d+$/.test(host);
}

type Query = Record<string, string | undefined>;

/** `path` below the server URL's own path, so a vault behind a prefix (`https://host/vault`) works. */
export function endpoint(conn: Connection, path: string, query: Query = {}): URL {
  const url = new URL(conn.url.href);
  url.pathname = `${url.pathname.replace(/\/+$/, "")}${path}`;
  for (const [key, value] of Object.entries(query)) if (value !== undefined) url.searchParams.set(key, value);
  return url;
}

type Opened = { request: ClientRequest; response: Promise<IncomingMessage> };

function open(
  conn: Connection,
  method: string,
  path: string,
  options: { query?: Query; headers?: OutgoingHttpHeaders; signal?: AbortSignal },
): Opened {
  const url = endpoint(conn, path, options.query);
  const client = url.protocol === "https:" ? https : http;
  const request = client.request(url, {
    method,
    // One connection per request: nothing keeps the process alive after the command.
    agent: false,
    headers: { accept: "application/json", "user-agent": "medvault-cli", ...options.headers, authorization: `Bearer ${conn.token}` },
    ...(options.signal === undefined ? {} : { signal: options.signal }),
  });
  request.setTimeout(IDLE_MS, () => request.destroy(new VaultError("IO_ERROR", `${conn.url.origin} sent nothing for ${IDLE_MS / 1000} s`)));
  const response = new Promise<IncomingMessage>((resolve, reject) => {
    request.once("response", resolve);
    request.on("error", (cause) => reject(networkError(conn, cause)));
  });
  response.catch(() => {}); // observed by the caller; never an unhandled rejection
  return { request, response };
}

function networkError(conn: Connection, cause: unknown): VaultError {
  if (cause instanceof VaultError) return cause;
  if (cause instanceof Error && cause.name === "AbortError" && cause.cause instanceof VaultError) return cause.cause;
  const code = (cause as { code?: string }).code;
  return new VaultError("IO_ERROR", `cannot talk to ${conn.url.origin}: ${code ?? (cause as Error).message}`, { cause });
}

/** Reads a small body whole (JSON answers, error bodies). */
async function readText(conn: Connection, res: IncomingMessage): Promise<string> {
  const pieces: Buffer[] = [];
  let size = 0;
  try {
    for await (const piece of res as AsyncIterable<Buffer>) {
      size += piece.length;
      if (size > MAX_JSON_BYTES) throw new VaultError("IO_ERROR", `the answer from ${conn.url.origin} is too large`);
      pieces.push(piece);
    }
  } catch (cause) {
    throw networkError(conn, cause);
  }
  return Buffer.concat(pieces).toString("utf8");
}

/**
 * The server's codes are ErrorCodes (its one status map speaks them). A newer server may know
 * codes this client does not yet: they are kept verbatim rather than lost, so the CLI prints
 * exactly what the server said.
 */
function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === "string" && /^[A-Z][A-Z0-9_]{1,63}$/.test(code);
}

/** For answers without a medvault error body (a proxy, another server on that port). */
function codeForStatus(status: number): ErrorCode {
  const codes: Record<number, ErrorCode> = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    409: "CONFLICT",
    410: "GONE",
    413: "PAYLOAD_TOO_LARGE",
    415: "UNSUPPORTED",
    429: "RATE_LIMITED",
  };
  return codes[status] ?? (status < 500 ? "BAD_REQUEST" : "INTERNAL");
}

/** An error answer as a VaultError: the server's code when it sent one, else one from the status. */
export function errorFromAnswer(status: number, body: string): VaultError {
  let code: unknown;
  let message: unknown;
  try {
    const parsed = JSON.parse(body) as { error?: { code?: unknown; message?: unknown } };
    code = parsed.error?.code;
    message = parsed.error?.message;
  } catch {
    // not JSON: keep the status
  }
  const text = typeof message === "string" && message !== "" ? printable(message) : `HTTP ${status}`;
  return new VaultError(isErrorCode(code) ? code : codeForStatus(status), text);
}

/** Server text goes to a terminal: no control characters (escape sequences), bounded length. */
export function printable(text: string, max = 500): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: removing them is the point
  const clean = text.replace(/[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/g, " ");
  return clean.length > max ? `${clean.slice(0, max - 1)}…` : clean;
}

async function failIfError(conn: Connection, res: IncomingMessage): Promise<void> {
  const status = res.statusCode ?? 0;
  if (status >= 200 && status < 300) return;
  const body = await readText(conn, res).catch(() => "");
  if (status >= 400) throw errorFromAnswer(status, body);
  throw new VaultError("INTERNAL", `unexpected HTTP ${status} from ${conn.url.origin}`);
}

/** A JSON request; the parsed answer, or undefined for an empty one (204). */
export async function callJson(
  conn: Connection,
  method: string,
  path: string,
  options: { query?: Query; body?: unknown } = {},
): Promise<unknown> {
  const body = options.body === undefined ? undefined : Buffer.from(JSON.stringify(options.body));
  const headers: OutgoingHttpHeaders = body === undefined ? {} : { "content-type": "application/json", "content-length": body.length };
  const { request, response } = open(conn, method, path, { headers, ...(options.query === undefined ? {} : { query: options.query }) });
  request.end(body);
  const res = await response;
  await failIfError(conn, res);
  const text = await readText(conn, res);
  if (text.trim() === "") return undefined;
  try {
    return JSON.parse(text);
  } catch (cause) {
    throw new VaultError("INTERNAL", `the answer from ${conn.url.origin} is not JSON`, { cause });
  }
}

/** A GET whose body the caller streams; error answers are thrown. */
export async function openDownload(conn: Connection, path: string, signal?: AbortSignal): Promise<IncomingMessage> {
  const { request, response } = open(conn, "GET", path, { headers: { accept: "*/*" }, ...(signal === undefined ? {} : { signal }) });
  request.end();
  const res = await response;
  await failIfError(conn, res);
  return res;
}

export type UploadPart = {
  /** Text fields, sent before the file so the server knows the recipients when bytes arrive. */
  fields: [string, string][];
  /** Local path, and the name the server records (metadata only). */
  path: string;
  name: string;
  /** Bytes the file has now; the upload fails if it grows or shrinks meanwhile. */
  size: number;
  onBytes?: (bytes: number) => void;
};

export type Uploaded = { answer: unknown; sha256: string };

/**
 * POSTs one file as multipart/form-data (RFC 7578), streamed from disk with an exact
 * Content-Length. Returns the JSON answer and the SHA-256 of the bytes sent, for the caller
 * to compare with what the server computed.
 */
export async function uploadMultipart(conn: Connection, path: string, part: UploadPart): Promise<Uploaded> {
  const boundary = `medvault-${randomBytes(16).toString("hex")}`;
  let head = "";
  for (const [name, value] of part.fields) {
    head += `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${headerSafe(value, name)}\r\n`;
  }
  head += `--${boundary}\r\nContent-Disposition: form-data; name="file"; ${fileNameParams(part.name)}\r\nContent-Type: application/octet-stream\r\n\r\n`;
  const preamble = Buffer.from(head, "utf8");
  const epilogue = Buffer.from(`\r\n--${boundary}--\r\n`);
  const { request, response } = open(conn, "POST", path, {
    headers: {
      "content-type": `multipart/form-data; boundary=${boundary}`,
      "content-length": preamble.length + part.size + epilogue.length,
      expect: "100-continue",
    },
  });

  const hash = createHash("sha256");
  async function* body(): AsyncGenerator<Uint8Array> {
    yield preamble;
    let sent = 0;
    for await (const chunk of createReadStream(part.path, { highWaterMark: READ_CHUNK }) as AsyncIterable<Buffer>) {
      sent += chunk.length;
      if (sent > part.size) throw new VaultError("IO_ERROR", `${part.name} grew while it was being uploaded`);
      hash.update(chunk);
      part.onBytes?.(chunk.length);
      yield chunk;
    }
    if (sent !== part.size) throw new VaultError("IO_ERROR", `${part.name} shrank while it was being uploaded`);
    yield epilogue;
  }

  // Expect: 100-continue (RFC 9110 §10.1.1): a server that checks the token, the role and the
  // Content-Length before taking the body refuses cleanly, before a byte is sent. A refusal in
  // the middle of the body is racy: Node servers then close the connection, and the reset that
  // follows can destroy the answer before it is read.
  request.flushHeaders();
  let wait: NodeJS.Timeout | undefined;
  const goAhead = new Promise<undefined>((resolve) => {
    request.once("continue", () => resolve(undefined));
    wait = setTimeout(() => resolve(undefined), CONTINUE_WAIT_MS); // servers and proxies that ignore Expect
  });
  let early: IncomingMessage | undefined;
  try {
    early = await Promise.race([goAhead, response]);
  } finally {
    clearTimeout(wait);
  }
  if (early !== undefined) {
    try {
      await failIfError(conn, early);
    } finally {
      request.destroy();
    }
    throw new VaultError("INTERNAL", `${conn.url.origin} answered before the file was sent`);
  }

  const sending = pipeline(Readable.from(body(), { objectMode: false }), request);
  sending.catch(() => {}); // its failure destroys the request, which rejects `response`
  let res: IncomingMessage;
  try {
    res = await response;
  } catch (error) {
    const code = ((error as VaultError).cause as { code?: string } | undefined)?.code;
    if (code !== "EPIPE" && code !== "ECONNRESET") throw error;
    throw new VaultError(
      "IO_ERROR",
      `${conn.url.origin} closed the connection during the upload, with no answer that could be read (a refusal mid-upload looks like this: check the role and the size limit)`,
      { cause: error },
    );
  }
  const status = res.statusCode ?? 0;
  if (status < 200 || status >= 300) {
    // A refusal while the file is still streaming: read the answer first, then stop sending.
    try {
      await failIfError(conn, res);
    } finally {
      request.destroy();
    }
  }
  try {
    await sending;
  } catch (cause) {
    throw networkError(conn, cause);
  }
  const text = await readText(conn, res);
  try {
    return { answer: JSON.parse(text), sha256: hash.digest("hex") };
  } catch (cause) {
    throw new VaultError("INTERNAL", `the answer from ${conn.url.origin} is not JSON`, { cause });
  }
}

/** Field values (recipient names, times) go into the multipart head verbatim. */
function headerSafe(value: string, title: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: rejecting them is the point
  if (/[\x00-\x1f\x7f]/.test(value)) throw new VaultError("BAD_REQUEST", `${title}: control characters are not allowed`);
  return value;
}

/**
 * `filename="…"` in ASCII, plus RFC 5987 `filename*=UTF-8''…` when the name is not ASCII
 * (busboy, under multer, prefers the latter and would read raw UTF-8 as Latin-1).
 */
export function fileNameParams(name: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: a name must not break the header
  const clean = name.replace(/[\x00-\x1f\x7f]/g, "_");
  const ascii = clean.replace(/[^\x20-\x7e]/g, "_").replace(/["\\]/g, "\\$&");
  if (/^[\x20-\x7e]*$/.test(clean)) return `filename="${ascii}"`;
  const extended = encodeURIComponent(clean).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return `filename="${ascii}"; filename*=UTF-8''${extended}`;
}
