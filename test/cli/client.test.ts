/**
 * The client commands against a small real HTTP server on 127.0.0.1 that mimics the `/v1` API
 * just enough: streamed multipart uploads arrive intact, downloads are kept only when whole and
 * matching their Repr-Digest, error bodies become codes.
 */
import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import {
  AUDIT_USAGE,
  audit,
  DOWNLOAD_USAGE,
  dispositionFileName,
  download,
  GRANT_USAGE,
  grant,
  LS_USAGE,
  ls,
  PRINCIPAL_USAGE,
  parseExpiry,
  principal,
  REVOKE_USAGE,
  revoke,
  SHRED_USAGE,
  safeFileName,
  shred,
  UPLOAD_USAGE,
  upload,
} from "../../src/cli/client.ts";
import { decrypt } from "../../src/cli/envelope.ts";
import { errorFromAnswer, fileNameParams } from "../../src/cli/http.ts";
import { barLine, createProgress, summaryLine } from "../../src/cli/progress.ts";
import { formatIdentityFile, generateKey } from "../../src/crypto/index.ts";
import { isVaultError } from "../../src/errors.ts";
import { loadConfig, type Running, startServer } from "../../src/server.ts";
import { bytes, tempDir } from "../crypto/helpers.ts";

const TOKEN = "mv_test_token_0123456789";
const dir = tempDir("medvault-client-");
const p = (...names: string[]) => join(dir.path, ...names);

// ------------------------------------------------------------------ the mock server

type Upload = {
  fields: Record<string, string[]>;
  fileName: string | undefined;
  data: Buffer;
  contentLength: number;
  transferEncoding?: string;
};
type Served = { name: string; data: Buffer; digest?: string; cut?: boolean; noDigest?: boolean };

let server: Server;
let base = "";
let uploads: Upload[] = [];
let requests: { method: string; path: string; query: URLSearchParams; body: unknown }[] = [];
/** What the next upload does: store it, refuse it at once (413), or answer a wrong sha256. */
let uploadMode: "store" | "refuse" | "refuse-before-body" | "lie" = "store";
let expectHeaders: (string | undefined)[] = [];

const SCAN = bytes(3 * 1024 * 1024 + 17, 7);
const served = new Map<string, Served>([
  ["f-ok", { name: "scan ä.dcm", data: SCAN }],
  ["f-cut", { name: "cut.bin", data: SCAN, cut: true }],
  ["f-bad", { name: "bad.bin", data: SCAN, digest: createHash("sha256").update("something else").digest("base64") }],
  ["f-nodigest", { name: "nodigest.bin", data: SCAN, noDigest: true }],
  ["f-evil", { name: "../../.bashrc", data: Buffer.from("x") }],
]);

function sendError(res: ServerResponse, status: number, code: string, message: string) {
  res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify({ error: { code, message } }));
}

function sendJson(res: ServerResponse, status: number, value: unknown) {
  res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(value));
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const pieces: Buffer[] = [];
  for await (const piece of req as AsyncIterable<Buffer>) pieces.push(piece);
  return Buffer.concat(pieces);
}

/** A tiny multipart/form-data reader, independent of the client's writer. */
function parseMultipart(body: Buffer, boundary: string): { fields: Record<string, string[]>; fileName: string | undefined; data: Buffer } {
  const fields: Record<string, string[]> = {};
  let fileName: string | undefined;
  let data: Buffer = Buffer.alloc(0);
  const delimiter = Buffer.from(`\r\n--${boundary}`);
  let at = body.indexOf(`--${boundary}`) + boundary.length + 2;
  while (body.subarray(at, at + 2).toString() === "\r\n") {
    const headEnd = body.indexOf("\r\n\r\n", at);
    const head = body.subarray(at + 2, headEnd).toString("utf8");
    const end = body.indexOf(delimiter, headEnd + 4);
    const content = body.subarray(headEnd + 4, end);
    const name = /name="([^"]*)"/.exec(head)?.[1] ?? "";
    if (name === "file") {
      const extended = /filename\*=UTF-8''([^;\r\n]+)/.exec(head)?.[1];
      fileName = extended !== undefined ? decodeURIComponent(extended) : /filename="([^"]*)"/.exec(head)?.[1];
      data = content;
    } else {
      fields[name] = [...(fields[name] ?? []), content.toString("utf8")];
    }
    at = end + delimiter.length;
  }
  expect(body.subarray(at, at + 4).toString()).toBe("--\r\n");
  return { fields, fileName, data };
}

async function handle(req: IncomingMessage, res: ServerResponse) {
  const url = new URL(req.url ?? "/", "http://127.0.0.1");
  const path = url.pathname.replace(/^\/prefix/, "");
  const method = req.method ?? "GET";
  if (req.headers.authorization !== `Bearer ${TOKEN}`) return sendError(res, 401, "UNAUTHORIZED", "missing or unknown bearer token");

  if (method === "POST" && path === "/v1/files") {
    if (uploadMode === "refuse") return sendError(res, 413, "PAYLOAD_TOO_LARGE", "the file exceeds the upload limit");
    const contentLength = Number(req.headers["content-length"]);
    const boundary = /boundary=(.+)$/.exec(req.headers["content-type"] ?? "")?.[1] ?? "";
    const body = await readBody(req);
    expect(body.length).toBe(contentLength);
    const parsed = parseMultipart(body, boundary);
    const te = req.headers["transfer-encoding"];
    uploads.push({ ...parsed, contentLength, ...(te === undefined ? {} : { transferEncoding: te }) });
    const sha256 = createHash("sha256")
      .update(uploadMode === "lie" ? Buffer.from("other") : parsed.data)
      .digest("hex");
    return sendJson(res, 201, {
      id: `f-${uploads.length}`,
      name: parsed.fileName,
      size: parsed.data.length,
      sha256,
      cid: "bafkreitest",
      mediaType: "application/octet-stream",
      anchor: { status: "pending" },
    });
  }

  const body = method === "GET" ? undefined : (await readBody(req)).toString("utf8");
  requests.push({ method, path, query: url.searchParams, body: body ? JSON.parse(body) : undefined });

  if (method === "POST" && path === "/v1/principals") {
    const { name, role } = JSON.parse(body ?? "{}") as { name: string; role: string };
    if (name === "taken") return sendError(res, 409, "CONFLICT", "a principal with this name exists");
    return sendJson(res, 201, { id: "p-1", name, role, token: "mv_new_principal_token" });
  }
  if (method === "GET" && path === "/v1/files") {
    return sendJson(res, 200, [
      { id: "f-ok", name: "scan ä.dcm", size: SCAN.length, state: "active", anchor: { status: "anchored", batchId: 3 } },
      { id: "f-gone", name: null, size: 10, state: "erased", anchor: { status: "pending" } },
      { id: "f-esc", name: "evil\x1b[2Jname", size: 0, state: "active", anchor: { status: "final", batchId: 1 } },
    ]);
  }
  if (method === "GET" && path === "/v1/audit") {
    return sendJson(res, 200, {
      events: [
        { seq: 1, action: "file.upload" },
        { seq: 2, action: "file.read" },
      ],
    });
  }
  const m = /^\/v1\/files\/([^/]+)(?:\/(content|age|grants|erasure)(?:\/([^/]+))?)?$/.exec(path);
  const id = m?.[1] === undefined ? undefined : decodeURIComponent(m[1]);
  if (m !== null && id === "f-gone") return sendError(res, 410, "GONE", "the file was erased");
  if (m !== null && id === "f-proxy") return res.writeHead(502, { "content-type": "text/html" }).end("<html>Bad gateway</html>");
  if (m !== null && id === "f-newcode") return sendError(res, 503, "SOME_FUTURE_CODE", "a code this client does not know");
  const file = id === undefined ? undefined : served.get(id);
  if (m === null || file === undefined) return sendError(res, 404, "NOT_FOUND", "no such file");

  const sub = m[2];
  if (method === "GET" && (sub === "content" || sub === "age")) {
    const data = sub === "age" ? Buffer.concat([Buffer.from("age-encryption.org/v1\n"), file.data]) : file.data;
    const digest = file.digest ?? createHash("sha256").update(data).digest("base64");
    const name = sub === "age" ? `${file.name}.age` : file.name;
    res.writeHead(200, {
      "content-type": "application/octet-stream",
      "content-length": data.length,
      "content-disposition": `attachment; filename="${name.replace(/[^\x20-\x7e]/g, "_")}"; filename*=UTF-8''${encodeURIComponent(name)}`,
      ...(file.noDigest === true || sub === "age" ? {} : { "repr-digest": `sha-256=:${digest}:` }),
    });
    if (file.cut === true) {
      // As the server does on a verification failure mid-stream: abort the connection.
      res.write(data.subarray(0, data.length >> 1), () => setTimeout(() => res.destroy(), 20));
      return;
    }
    return res.end(data);
  }
  if (method === "POST" && sub === "grants")
    return sendJson(res, 201, { recipient: (body === undefined ? {} : (JSON.parse(body) as { recipient?: string })).recipient });
  if (method === "DELETE" && sub === "grants") return res.writeHead(204).end();
  if (method === "POST" && sub === "erasure") {
    return sendJson(res, 200, {
      type: "medvault.erasure/v1",
      fileId: id,
      reason: (body === undefined ? {} : (JSON.parse(body) as { reason?: string })).reason,
      unpinned: true,
    });
  }
  return sendError(res, 404, "NOT_FOUND", "no route");
}

beforeAll(async () => {
  const serve = (req: IncomingMessage, res: ServerResponse) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) sendError(res, 500, "INTERNAL", String(error));
    });
  };
  server = createServer(serve);
  // Expect: 100-continue, as a server that checks before taking the body would do it.
  server.on("checkContinue", (req: IncomingMessage, res: ServerResponse) => {
    expectHeaders.push(req.headers.expect);
    if (uploadMode === "refuse-before-body") return sendError(res, 413, "PAYLOAD_TOO_LARGE", "Content-Length is over the limit");
    res.writeContinue();
    serve(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  vi.stubEnv("MEDVAULT_URL", base);
  vi.stubEnv("MEDVAULT_TOKEN", TOKEN);
});

afterAll(async () => {
  vi.unstubAllEnvs();
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  dir.remove();
});

afterEach(() => {
  uploadMode = "store";
  vi.restoreAllMocks();
});

// ------------------------------------------------------------------ running a command in-process

type Command = (argv: string[]) => Promise<number>;
type Result = { code: number; stdout: Buffer; stderr: string; error?: unknown };

/** Runs a command as main.ts does: a VaultError becomes exit 1 (2 for BAD_REQUEST). */
async function run(command: Command, argv: string[]): Promise<Result> {
  const out: Buffer[] = [];
  let err = "";
  const capture =
    (sink: (chunk: Buffer) => void) =>
    (chunk: string | Uint8Array, ...rest: unknown[]): boolean => {
      sink(Buffer.from(chunk));
      const callback = rest.find((r) => typeof r === "function") as (() => void) | undefined;
      callback?.();
      return true;
    };
  const stdout = vi.spyOn(process.stdout, "write").mockImplementation(capture((c) => out.push(c)) as typeof process.stdout.write);
  const stderr = vi.spyOn(process.stderr, "write").mockImplementation(
    capture((c) => {
      err += c.toString();
    }) as typeof process.stderr.write,
  );
  try {
    const code = await command(argv);
    return { code, stdout: Buffer.concat(out), stderr: err };
  } catch (error) {
    if (!isVaultError(error)) throw error;
    return { code: error.code === "BAD_REQUEST" ? 2 : 1, stdout: Buffer.concat(out), stderr: err, error };
  } finally {
    stdout.mockRestore();
    stderr.mockRestore();
  }
}

function codeOf(r: Result): string | undefined {
  return isVaultError(r.error) ? r.error.code : undefined;
}

const lines = (r: Result) =>
  r.stdout
    .toString()
    .split("\n")
    .filter((l) => l !== "")
    .map((l) => JSON.parse(l) as Record<string, unknown>);

// ------------------------------------------------------------------ upload

describe("medvault upload", () => {
  it("streams a 20 MiB file intact, with recipients before the file, and prints one JSON line", async () => {
    const data = randomBytes(20 * 1024 * 1024);
    writeFileSync(p("big.bin"), data);
    uploads = [];
    const r = await run(upload, [p("big.bin"), "--to", "alice", "--to", "bob,carol"]);
    expect(r.error).toBeUndefined();
    expect(r.code).toBe(0);
    expect(uploads).toHaveLength(1);
    const got = uploads[0] as Upload;
    expect(got.data.equals(data)).toBe(true);
    expect(got.fields.recipients).toEqual(["alice", "bob", "carol"]);
    expect(got.fields.expiresAt).toBeUndefined();
    expect(got.fileName).toBe("big.bin");
    expect(got.transferEncoding).toBeUndefined(); // an exact Content-Length, not chunked
    const [line] = lines(r);
    expect(line).toMatchObject({ id: "f-1", size: data.length, sha256: createHash("sha256").update(data).digest("hex") });
    // stderr is not a terminal here: one plain summary line
    expect(r.stderr).toMatch(/^big\.bin: 21\.0 MB in \d+\.\d s, \d+\.\d MB\/s\n$/);
  });

  it("uploads several files in order, empty and non-ASCII names included", async () => {
    writeFileSync(p("empty"), "");
    writeFileSync(p('Röntgen "links".dcm'), bytes(65537, 3));
    uploads = [];
    const r = await run(upload, [p("empty"), p('Röntgen "links".dcm'), "-q"]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe("");
    expect(uploads.map((u) => [u.fileName, u.data.length])).toEqual([
      ["empty", 0],
      ['Röntgen "links".dcm', 65537],
    ]);
    expect(lines(r).map((l) => l.id)).toEqual(["f-1", "f-2"]);
  });

  it("sends --expires 30d as the ISO time 30 days from now", async () => {
    writeFileSync(p("small"), "hello");
    uploads = [];
    const before = Date.now();
    const r = await run(upload, [p("small"), "--to", "alice", "--expires", "30d"]);
    expect(r.code).toBe(0);
    const sent = uploads[0]?.fields.expiresAt?.[0] ?? "";
    expect(sent).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    const expected = before + 30 * 86_400_000;
    expect(Math.abs(Date.parse(sent) - expected)).toBeLessThan(10_000);
  });

  it("reports an early refusal (413) while the file is still streaming as PAYLOAD_TOO_LARGE", async () => {
    writeFileSync(p("huge.bin"), Buffer.alloc(32 * 1024 * 1024, 1));
    uploadMode = "refuse";
    const r = await run(upload, [p("huge.bin")]);
    expect(codeOf(r)).toBe("PAYLOAD_TOO_LARGE");
    expect(r.code).toBe(1);
    expect(r.stdout.length).toBe(0);
  });

  it("asks for 100-continue, so a server can refuse before the first byte of the body", async () => {
    expectHeaders = [];
    uploads = [];
    uploadMode = "refuse-before-body";
    const r = await run(upload, [p("huge.bin")]);
    expect(codeOf(r)).toBe("PAYLOAD_TOO_LARGE");
    expect(expectHeaders).toEqual(["100-continue"]);
    expect(uploads).toHaveLength(0);
  });

  it("fails with INTEGRITY_FAILED when the server recorded another sha256", async () => {
    uploadMode = "lie";
    const r = await run(upload, [p("small")]);
    expect(codeOf(r)).toBe("INTEGRITY_FAILED");
  });

  it("checks every local file before sending anything", async () => {
    uploads = [];
    const r = await run(upload, [p("small"), p("no-such-file")]);
    expect(codeOf(r)).toBe("IO_ERROR");
    expect(uploads).toHaveLength(0);
    expect(codeOf(await run(upload, [dir.path]))).toBe("BAD_REQUEST");
  });

  it("rejects a bad --expires before any request", async () => {
    for (const bad of ["soon", "-3d", "2001-01-01T00:00:00Z", "2030-13-45"]) {
      const r = await run(upload, [p("small"), "--expires", bad]);
      expect(codeOf(r)).toBe("BAD_REQUEST");
      expect(r.code).toBe(2);
    }
  });
});

// ------------------------------------------------------------------ download

describe("medvault download", () => {
  it("writes the verified file, owner-only, and leaves no part file", async () => {
    mkdirSync(p("dl1"));
    const r = await run(download, ["f-ok", "-o", p("dl1", "out.dcm")]);
    expect(r.error).toBeUndefined();
    expect(r.code).toBe(0);
    expect(readFileSync(p("dl1", "out.dcm")).equals(SCAN)).toBe(true);
    expect(statSync(p("dl1", "out.dcm")).mode & 0o777).toBe(0o600);
    expect(readdirSync(p("dl1"))).toEqual(["out.dcm"]);
    expect(r.stdout.length).toBe(0);
    expect(r.stderr).toMatch(/^out\.dcm: 3\.1 MB in/);
  });

  it("takes the server's file name into a directory, sanitized, and never overwrites it", async () => {
    mkdirSync(p("dl2"));
    expect((await run(download, ["f-ok", "-o", p("dl2")])).code).toBe(0);
    expect(readFileSync(p("dl2", "scan ä.dcm")).equals(SCAN)).toBe(true);
    const again = await run(download, ["f-ok", "-o", p("dl2")]);
    expect(codeOf(again)).toBe("CONFLICT");
    // "../../.bashrc" lands as "bashrc" inside the directory
    expect((await run(download, ["f-evil", "-o", p("dl2")])).code).toBe(0);
    expect(readdirSync(p("dl2")).sort()).toEqual(["bashrc", "scan ä.dcm"]);
  });

  it("uses the server's name in the current directory by default", async () => {
    mkdirSync(p("dl-cwd"));
    const cwd = process.cwd();
    process.chdir(p("dl-cwd"));
    try {
      expect((await run(download, ["f-ok", "-q"])).code).toBe(0);
    } finally {
      process.chdir(cwd);
    }
    expect(readFileSync(p("dl-cwd", "scan ä.dcm")).equals(SCAN)).toBe(true);
  });

  it.each([
    ["a body cut short", "f-cut"],
    ["a wrong Repr-Digest", "f-bad"],
    ["no Repr-Digest", "f-nodigest"],
  ])("%s: INTEGRITY_FAILED, exit 1, no output and no part file", async (_, id) => {
    const out = p(`dl-${id}`);
    mkdirSync(out);
    const r = await run(download, [id, "-o", join(out, "x.bin")]);
    expect(codeOf(r)).toBe("INTEGRITY_FAILED");
    expect(r.code).toBe(1);
    expect(readdirSync(out)).toEqual([]);
  });

  it("keeps an existing file when a download over it fails", async () => {
    writeFileSync(p("keep.bin"), "previous");
    expect(codeOf(await run(download, ["f-cut", "-o", p("keep.bin")]))).toBe("INTEGRITY_FAILED");
    expect(readFileSync(p("keep.bin"), "utf8")).toBe("previous");
    expect(existsSync(p("keep.bin.part"))).toBe(false);
  });

  it("streams to standard output with -o -, and still fails on a short body", async () => {
    const r = await run(download, ["f-ok", "-o", "-", "-q"]);
    expect(r.code).toBe(0);
    expect(r.stdout.equals(SCAN)).toBe(true);
    expect(codeOf(await run(download, ["f-cut", "-o", "-", "-q"]))).toBe("INTEGRITY_FAILED");
  });

  it("fetches the age file with --age", async () => {
    mkdirSync(p("dl-age"));
    expect((await run(download, ["f-ok", "--age", "-o", p("dl-age")])).code).toBe(0);
    const got = readFileSync(p("dl-age", "scan ä.dcm.age"));
    expect(got.subarray(0, 22).toString()).toBe("age-encryption.org/v1\n");
    expect(requests.length).toBeGreaterThanOrEqual(0);
  });

  it("maps error answers to codes", async () => {
    expect(codeOf(await run(download, ["f-gone", "-o", p("x")]))).toBe("GONE");
    expect(codeOf(await run(download, ["f-missing", "-o", p("x")]))).toBe("NOT_FOUND");
    // not a medvault error body: the code comes from the status
    expect(codeOf(await run(download, ["f-proxy", "-o", p("x")]))).toBe("INTERNAL");
    // a code this client does not know is kept verbatim
    expect(codeOf(await run(download, ["f-newcode", "-o", p("x")]))).toBe("SOME_FUTURE_CODE");
    expect(existsSync(p("x"))).toBe(false);
  });
});

// ------------------------------------------------------------------ connection and auth

describe("connection", () => {
  it("a wrong token is the server's UNAUTHORIZED; no token at all fails before any request", async () => {
    expect(codeOf(await run(ls, ["--token", "wrong"]))).toBe("UNAUTHORIZED");
    vi.stubEnv("MEDVAULT_TOKEN", "");
    try {
      requests = [];
      const r = await run(ls, []);
      expect(codeOf(r)).toBe("UNAUTHORIZED");
      expect(r.code).toBe(1);
      expect(requests).toHaveLength(0);
      // --token-file works where the variable is missing
      writeFileSync(p("token.txt"), `${TOKEN}\n`, { mode: 0o600 });
      expect((await run(ls, ["--token-file", p("token.txt")])).code).toBe(0);
    } finally {
      vi.stubEnv("MEDVAULT_TOKEN", TOKEN);
    }
  });

  it("--url overrides MEDVAULT_URL, and a path prefix is kept", async () => {
    requests = [];
    const r = await run(ls, ["--url", `${base}/prefix/`, "--json"]);
    expect(r.code).toBe(0);
    expect(requests.at(-1)?.path).toBe("/v1/files");
  });

  it("an unreachable server is IO_ERROR; a bad URL is BAD_REQUEST", async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    expect(codeOf(await run(ls, ["--url", `http://127.0.0.1:${port}`]))).toBe("IO_ERROR");
    expect(codeOf(await run(ls, ["--url", "ftp://example.org"]))).toBe("BAD_REQUEST");
  });
});

// ------------------------------------------------------------------ the other commands

describe("principal, grant, revoke, shred, audit, ls", () => {
  it("principal add prints the new principal and its token once", async () => {
    requests = [];
    const r = await run(principal, ["add", "dr-lee", "--role", "recipient", "--age-recipient", "age1xyz"]);
    expect(r.code).toBe(0);
    expect(requests.at(-1)).toMatchObject({
      method: "POST",
      path: "/v1/principals",
      body: { name: "dr-lee", role: "recipient", ageRecipient: "age1xyz" },
    });
    expect(lines(r)).toEqual([{ id: "p-1", name: "dr-lee", role: "recipient", token: "mv_new_principal_token" }]);
    expect(codeOf(await run(principal, ["add", "taken", "--role", "admin"]))).toBe("CONFLICT");
    expect(codeOf(await run(principal, ["add", "x", "--role", "root"]))).toBe("BAD_REQUEST");
    expect(codeOf(await run(principal, ["remove", "x"]))).toBe("BAD_REQUEST");
  });

  it("grant sends the recipient and expiry; revoke sends DELETE", async () => {
    requests = [];
    expect((await run(grant, ["f-ok", "dr-lee", "--expires", "12h"])).code).toBe(0);
    const sent = requests.at(-1);
    expect(sent).toMatchObject({ method: "POST", path: "/v1/files/f-ok/grants", body: { recipient: "dr-lee" } });
    const expiresAt = (sent?.body as { expiresAt?: string } | undefined)?.expiresAt ?? "";
    expect(Math.abs(Date.parse(expiresAt) - (Date.now() + 12 * 3_600_000))).toBeLessThan(10_000);
    const r = await run(revoke, ["f-ok", "dr-lee"]);
    expect(r.code).toBe(0);
    expect(r.stdout.length).toBe(0);
    expect(requests.at(-1)).toMatchObject({ method: "DELETE", path: "/v1/files/f-ok/grants/dr-lee" });
    expect(codeOf(await run(grant, ["f-ok"]))).toBe("BAD_REQUEST");
  });

  it("shred requires a reason and prints the certificate", async () => {
    expect(codeOf(await run(shred, ["f-ok"]))).toBe("BAD_REQUEST");
    const r = await run(shred, ["f-ok", "--reason", "GDPR art. 17 request #42"]);
    expect(r.code).toBe(0);
    expect(lines(r)).toEqual([{ type: "medvault.erasure/v1", fileId: "f-ok", reason: "GDPR art. 17 request #42", unpinned: true }]);
  });

  it("audit passes its filters and prints one JSON line per event", async () => {
    requests = [];
    const r = await run(audit, ["f-ok", "--actor", "dr-lee", "--action", "file.read", "--limit", "5"]);
    expect(r.code).toBe(0);
    const q = requests.at(-1)?.query;
    expect([q?.get("file"), q?.get("actor"), q?.get("action"), q?.get("limit")]).toEqual(["f-ok", "dr-lee", "file.read", "5"]);
    expect(lines(r)).toEqual([
      { seq: 1, action: "file.upload" },
      { seq: 2, action: "file.read" },
    ]);
    expect(codeOf(await run(audit, ["--limit", "0"]))).toBe("BAD_REQUEST");
  });

  it("ls prints a table without control characters, or JSON lines", async () => {
    const r = await run(ls, []);
    expect(r.code).toBe(0);
    const text = r.stdout.toString();
    expect(text.split("\n")[0]).toMatch(/^ID\s+NAME\s+SIZE\s+STATE\s+ANCHOR$/);
    expect(text).toMatch(/f-ok\s+scan ä\.dcm\s+3\.1 MB\s+active\s+anchored #3/);
    expect(text).toMatch(/f-gone\s+-\s+10 B\s+erased\s+pending/);
    expect(text).not.toContain("\x1b");
    const json = await run(ls, ["--json"]);
    expect(lines(json).map((l) => l.id)).toEqual(["f-ok", "f-gone", "f-esc"]);
  });

  it("every command has help", async () => {
    const table: [Command, string, string][] = [
      [principal, PRINCIPAL_USAGE, "principal add"],
      [upload, UPLOAD_USAGE, "upload"],
      [download, DOWNLOAD_USAGE, "download"],
      [grant, GRANT_USAGE, "grant"],
      [revoke, REVOKE_USAGE, "revoke"],
      [shred, SHRED_USAGE, "shred"],
      [audit, AUDIT_USAGE, "audit"],
      [ls, LS_USAGE, "ls"],
    ];
    for (const [command, text, name] of table) {
      const r = await run(command, ["--help"]);
      expect(r.code).toBe(0);
      expect(r.stdout.toString()).toBe(`${text}\n`);
      expect(text.startsWith(`Usage: medvault ${name}`)).toBe(true);
      expect(codeOf(await run(command, ["--bogus"]))).toBe("BAD_REQUEST");
    }
  });
});

// ------------------------------------------------------------------ small parts

describe("parts", () => {
  it("parseExpiry: durations and ISO times, never the past", () => {
    const now = new Date("2026-01-01T00:00:00.000Z");
    expect(parseExpiry("30d", now)).toBe("2026-01-31T00:00:00.000Z");
    expect(parseExpiry("12h", now)).toBe("2026-01-01T12:00:00.000Z");
    expect(parseExpiry("2w", now)).toBe("2026-01-15T00:00:00.000Z");
    expect(parseExpiry("2026-06-01T08:00:00+02:00", now)).toBe("2026-06-01T06:00:00.000Z");
    expect(() => parseExpiry("2025-12-31T00:00:00Z", now)).toThrow();
    expect(() => parseExpiry("0d", now)).toThrow();
  });

  it("Content-Disposition names: filename* first, then filename; made safe", () => {
    expect(dispositionFileName(`attachment; filename="a_b.pdf"; filename*=UTF-8''a%C3%A4b.pdf`)).toBe("aäb.pdf");
    expect(dispositionFileName(`attachment; filename="say \\"hi\\".txt"`)).toBe('say "hi".txt');
    expect(dispositionFileName("attachment; filename=plain.txt")).toBe("plain.txt");
    expect(dispositionFileName("attachment")).toBeUndefined();
    expect(safeFileName("../../etc/passwd", "f")).toBe("passwd");
    expect(safeFileName("..", "f")).toBe("f");
    expect(safeFileName("C:\\x\\report.pdf", "f")).toBe("report.pdf");
    expect(safeFileName("a\x1b[31m\u202egnp.exe", "f")).toBe("a[31mgnp.exe");
    expect(safeFileName(".hidden", "f")).toBe("hidden");
    expect(safeFileName(undefined, "f")).toBe("f");
  });

  it("multipart file names: ASCII as is, others with an RFC 5987 filename*", () => {
    expect(fileNameParams("scan.dcm")).toBe('filename="scan.dcm"');
    expect(fileNameParams('a"b\\c')).toBe('filename="a\\"b\\\\c"');
    expect(fileNameParams("ä\r\n.pdf")).toBe(`filename="___.pdf"; filename*=UTF-8''%C3%A4__.pdf`);
  });

  it("error bodies: the server's code, else one from the status; no control characters", () => {
    expect(errorFromAnswer(403, JSON.stringify({ error: { code: "FORBIDDEN", message: "no" } })).code).toBe("FORBIDDEN");
    expect(errorFromAnswer(404, "not json").code).toBe("NOT_FOUND");
    expect(errorFromAnswer(429, "{}").code).toBe("RATE_LIMITED");
    expect(errorFromAnswer(418, "").code).toBe("BAD_REQUEST");
    expect(errorFromAnswer(500, JSON.stringify({ error: { code: "lower case", message: "x" } })).code).toBe("INTERNAL");
    expect(errorFromAnswer(400, JSON.stringify({ error: { code: "BAD_REQUEST", message: "a\x1b[2Jb" } })).message).toBe("a [2Jb");
  });

  it("progress: a bar on a terminal, one summary line otherwise, nothing when quiet", () => {
    expect(barLine("scan.dcm", 5_000_000, 10_000_000, 1000, 100)).toMatch(
      /^scan\.dcm {2}\[#+-+\] +50% +5\.0 MB \/ 10\.0 MB +5\.0 MB\/s +0:01$/,
    );
    expect(barLine("scan.dcm", 5_000_000, 10_000_000, 1000, 100)).toHaveLength(100 - 1);
    expect(barLine("x", 0, 0, 0, 80)).toContain("100%");
    expect(summaryLine("scan.dcm", 2_500_000, 500)).toBe("scan.dcm: 2.5 MB in 0.5 s, 5.0 MB/s");

    let t = 0;
    const drawn: string[] = [];
    const tty = createProgress("f", 1000, { stream: { isTTY: true, columns: 60, write: (s) => drawn.push(s) }, now: () => t });
    tty.add(100);
    t = 50;
    tty.add(100); // within 100 ms: not redrawn
    t = 200;
    tty.add(800);
    tty.end();
    expect(drawn).toHaveLength(3);
    expect(drawn.every((s) => s.startsWith("\r"))).toBe(true);
    expect(drawn.at(-1)).toMatch(/100%.*\n$/);

    const plain: string[] = [];
    const log = createProgress("f", 10, { stream: { write: (s) => plain.push(s) }, now: () => 0 });
    log.add(10);
    log.end();
    expect(plain).toEqual(["f: 10 B in 0.0 s, 0.0 MB/s\n"]);

    const quiet: string[] = [];
    const q = createProgress("f", 10, { stream: { isTTY: true, write: (s) => quiet.push(s) }, enabled: false });
    q.add(10);
    q.end();
    expect(quiet).toEqual([]);
  });
});

// ------------------------------------------------------------------ end to end

describe("against the real medvault server (startServer on 127.0.0.1)", () => {
  const data = tempDir("medvault-client-e2e-");
  const ADMIN = `mvt_${randomBytes(24).toString("base64url")}`;
  let running: Running;
  let url = "";
  const as = (token: string) => ["--url", url, "--token", token];
  const tokens: Record<string, string> = {};

  beforeAll(async () => {
    running = await startServer({
      ...loadConfig({ MEDVAULT_DATA: data.path }),
      host: "127.0.0.1",
      port: 0,
      adminToken: ADMIN,
      webDir: undefined,
      logLevel: "silent",
    });
    url = running.url;
  });

  afterAll(async () => {
    await running?.close();
    data.remove();
  });

  it("platform uploads, specialist lists and downloads (plaintext and age), privacy officer erases and audits", async () => {
    const key = await generateKey();
    writeFileSync(p("drsmith.key"), formatIdentityFile(key), { mode: 0o600 });
    for (const [name, role, extra] of [
      ["clinic", "uploader", []],
      ["drsmith", "recipient", ["--age-recipient", key.recipient]],
      ["drjones", "recipient", ["--age-recipient", (await generateKey()).recipient]],
      ["dpo", "privacy", []],
    ] as const) {
      const r = await run(principal, ["add", name, "--role", role, ...extra, ...as(ADMIN)]);
      expect(r.error).toBeUndefined();
      const [created] = lines(r);
      expect(created).toMatchObject({ name, role });
      tokens[name] = String(created?.token);
    }
    const clinic = as(tokens.clinic ?? "");
    const drsmith = as(tokens.drsmith ?? "");
    const dpo = as(tokens.dpo ?? "");

    const content = bytes(5 * 65536 + 3, 99);
    writeFileSync(p("Sitzung ä.mp4"), content);
    const up = await run(upload, [p("Sitzung ä.mp4"), "--to", "drsmith", "--expires", "30d", ...clinic]);
    expect(up.error).toBeUndefined();
    const [file] = lines(up);
    const id = String(file?.id);
    expect(file).toMatchObject({ name: "Sitzung ä.mp4", size: content.length, sha256: createHash("sha256").update(content).digest("hex") });

    const listed = await run(ls, drsmith);
    expect(listed.stdout.toString()).toContain(id);
    expect(listed.stdout.toString()).toContain("Sitzung ä.mp4");

    mkdirSync(p("e2e"));
    expect((await run(download, [id, "-o", p("e2e"), ...drsmith])).code).toBe(0);
    expect(readFileSync(p("e2e", "Sitzung ä.mp4")).equals(content)).toBe(true);
    expect((await run(download, [id, "--age", "-o", p("e2e"), ...drsmith])).code).toBe(0);
    expect((await run(decrypt, ["-i", p("drsmith.key"), "-o", p("e2e", "decrypted"), p("e2e", "Sitzung ä.mp4.age")])).code).toBe(0);
    expect(readFileSync(p("e2e", "decrypted")).equals(content)).toBe(true);

    expect((await run(grant, [id, "drjones", "--expires", "1d", ...clinic])).code).toBe(0);
    expect((await run(revoke, [id, "drjones", ...clinic])).code).toBe(0);
    expect(codeOf(await run(download, [id, "-o", p("e2e", "x"), ...as(tokens.drjones ?? "")]))).toBe("NOT_FOUND");
    expect(codeOf(await run(shred, [id, "--reason", "test erasure", ...drsmith]))).toBe("FORBIDDEN");

    const cert = await run(shred, [id, "--reason", "GDPR Art. 17 request #4711", ...dpo]);
    expect(cert.error).toBeUndefined();
    expect(lines(cert)[0]).toMatchObject({ fileId: id, reason: "GDPR Art. 17 request #4711", unpinned: true });
    expect(codeOf(await run(download, [id, "-o", p("e2e", "after"), ...drsmith]))).toBe("GONE");
    expect(existsSync(p("e2e", "after"))).toBe(false);

    const trail = await run(audit, [id, ...dpo]);
    expect(trail.code).toBe(0);
    const actions = lines(trail).map((e) => e.action);
    expect(actions).toEqual(expect.arrayContaining(["file.upload", "file.read", "file.age", "file.erase"]));
    expect(codeOf(await run(audit, [id, ...drsmith]))).toBe("FORBIDDEN");
  });
});
