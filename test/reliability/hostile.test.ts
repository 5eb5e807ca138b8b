/**
 * Hostile input on the real service (issue 7): fast-check generated multipart bodies, JSON
 * bodies, ids, query strings, Range headers and file names sent over raw sockets (fetch would
 * clean them up), stalled clients, mutated age files for `medvault decrypt`, and authorization
 * hygiene (wrong tokens, rate limit, nothing secret in the log of a whole scenario).
 * Invariant: every answer is a 2xx for valid input or a 4xx with `{"error":{"code"}}`, never a
 * 5xx, a hang or a crash, and /healthz answers after every batch.
 *
 * Seeded: MEDVAULT_FUZZ_SEED replays a run (the seed in use is printed).
 */

import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { armor } from "age-encryption";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { main } from "../../src/cli/main.ts";
import { encryptStream, formatIdentityFile, generateKey, parseRecipient } from "../../src/crypto/index.ts";
import { BIN, env, medvault } from "../cli/run.ts";
import { bytes, collect, tempDir } from "../crypto/helpers.ts";
import { addPrincipal, call, newToken, type Principal, type Service, sleep, startService, upload } from "../service/harness.ts";

const SEED = Number(process.env.MEDVAULT_FUZZ_SEED ?? 20_240_707);
console.log(`hostile.test.ts: fast-check seed ${SEED} (replay with MEDVAULT_FUZZ_SEED=${SEED})`);
const fcOptions = (numRuns: number) => ({ seed: SEED, numRuns, endOnFailure: true });

type RawAnswer = { status: number; headers: Record<string, string>; body: string };

/** Decodes a chunked body (enough for Express's answers). */
function dechunk(data: Buffer): Buffer {
  const out: Buffer[] = [];
  let at = 0;
  for (;;) {
    const eol = data.indexOf("\r\n", at);
    if (eol < 0) break;
    const size = Number.parseInt(data.subarray(at, eol).toString(), 16);
    if (!(size > 0)) break;
    out.push(data.subarray(eol + 2, eol + 2 + size));
    at = eol + 2 + size + 2;
  }
  return Buffer.concat(out);
}

/**
 * One request written byte for byte on a fresh socket (`Connection: close`), read until the
 * server closes. A hang (no close within `timeoutMs`) rejects.
 */
function raw(port: number, request: Buffer, timeoutMs = 15_000): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port });
    const got: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer within ${timeoutMs} ms (hang)`));
    }, timeoutMs);
    const finish = () => {
      clearTimeout(timer);
      let data = Buffer.concat(got);
      // An interim `100 Continue` (asked for with Expect) precedes the real answer.
      while (data.subarray(0, 30).toString("latin1").startsWith("HTTP/1.1 100 ")) data = data.subarray(data.indexOf("\r\n\r\n") + 4);
      const end = data.indexOf("\r\n\r\n");
      if (end < 0) return reject(new Error(`no HTTP answer (${data.length} bytes): ${JSON.stringify(data.toString().slice(0, 200))}`));
      const [statusLine = "", ...lines] = data.subarray(0, end).toString("latin1").split("\r\n");
      const headers: Record<string, string> = {};
      for (const line of lines) {
        const colon = line.indexOf(":");
        headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
      let body: Buffer = data.subarray(end + 4);
      if (/chunked/i.test(headers["transfer-encoding"] ?? "")) body = dechunk(body);
      resolve({ status: Number(statusLine.split(" ")[1]), headers, body: body.toString("utf8") });
    };
    socket.on("data", (d: Buffer) => got.push(d));
    socket.on("close", finish);
    socket.on("error", () => {}); // a reset after the answer is fine; `close` follows
    socket.write(request);
  });
}

function head(method: string, path: string, headers: Record<string, string | number>): string {
  const lines = Object.entries(headers).map(([k, v]) => `${k}: ${v}`);
  return `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n${lines.map((l) => `${l}\r\n`).join("")}\r\n`;
}

function request(method: string, path: string, headers: Record<string, string | number>, body: Buffer = Buffer.alloc(0)): Buffer {
  const withLength = body.length > 0 || method === "POST" ? { ...headers, "Content-Length": body.length } : headers;
  return Buffer.concat([Buffer.from(head(method, path, withLength), "latin1"), body]);
}

/** The invariant: a 2xx, or a 4xx whose body is `{"error":{"code":…}}`. */
function expectHandled(a: RawAnswer, label: string): void {
  if (a.status >= 200 && a.status < 300) return;
  expect(a.status, `${label}: ${a.body.slice(0, 200)}`).toBeGreaterThanOrEqual(400);
  expect(a.status, `${label}: ${a.body.slice(0, 200)}`).toBeLessThan(500);
  let code: unknown;
  try {
    code = (JSON.parse(a.body) as { error?: { code?: unknown } }).error?.code;
  } catch {
    code = undefined;
  }
  expect(typeof code, `${label}: ${a.status} without a JSON error code: ${a.body.slice(0, 200)}`).toBe("string");
}

let service: Service;
let port: number;
let uploader: Principal;
let recipient: Principal;
let officer: Principal;
let fileId: string;

async function healthy(): Promise<void> {
  const res = await fetch(`${service.url}/healthz`);
  expect(res.status).toBe(200);
}

beforeAll(async () => {
  // A short idle timeout so the stalled-client cases finish quickly.
  service = await startService({ idleTimeoutMs: 2_000 });
  port = Number(new URL(service.url).port);
  [uploader, recipient, officer] = await Promise.all([
    addPrincipal(service, "uploader"),
    addPrincipal(service, "recipient"),
    addPrincipal(service, "privacy"),
  ]);
  fileId = (await upload(service.url, uploader.token, bytes(3000, 5), { name: "base.bin", recipients: [recipient.name] })).file.id;
});

afterAll(async () => {
  await service?.close();
});

// ---------------------------------------------------------------------------------------------
// Multipart

const pathTricks = [
  "../../etc/passwd",
  "..\\..\\windows\\system32",
  "/absolute/name.pdf",
  "a/b/c.txt",
  "..",
  ".",
  "",
  " ",
  "name\u0000.pdf",
  "tab\there",
  "bell\u0007\u001b[31m",
  "\u202eevil.pdf",
  "CON",
  "x".repeat(5000),
  "ümlaut–名前.pdf",
  'quote"semi;colon.pdf',
];

const fileName = fc.oneof(fc.constantFrom(...pathTricks), fc.string({ maxLength: 40, unit: "binary" }));

type Part =
  | { kind: "recipients"; value: string }
  | { kind: "expiresAt"; value: string }
  | { kind: "file"; name: string; size: number; type: string | null }
  | { kind: "other"; name: string; value: string }
  | { kind: "hugeHeader"; size: number }
  | { kind: "noDisposition"; value: string };

const part: fc.Arbitrary<Part> = fc.oneof(
  fc.record({
    kind: fc.constant("recipients" as const),
    value: fc.oneof(fc.constant("@recipient"), fc.string({ maxLength: 30 }), fc.constant("")),
  }),
  fc.record({
    kind: fc.constant("expiresAt" as const),
    value: fc.oneof(fc.constant("2999-01-01T00:00:00Z"), fc.constant("2000-01-01"), fc.constant("2024-13-45T99:99"), fc.string()),
  }),
  fc.record({
    kind: fc.constant("file" as const),
    name: fileName,
    size: fc.oneof(fc.constant(0), fc.nat(3000)),
    type: fc.option(fc.constantFrom("application/pdf", "text/plain", "image/png", "x/\u0001", "")),
  }),
  fc.record({ kind: fc.constant("other" as const), name: fc.string({ maxLength: 20 }), value: fc.string({ maxLength: 100 }) }),
  fc.record({ kind: fc.constant("hugeHeader" as const), size: fc.integer({ min: 1_000, max: 300_000 }) }),
  fc.record({ kind: fc.constant("noDisposition" as const), value: fc.string({ maxLength: 50 }) }),
);

type Multipart = {
  parts: Part[];
  boundary: "ok" | "wrong" | "missing" | "none" | "quoted" | "long" | "empty";
  closing: boolean;
  cut: number | null;
  garbage: Uint8Array | null;
  chunked: boolean;
  extraFiles: number;
  expectContinue: boolean;
};

/** A valid start (recipients, then the file) with random parts after it, or random parts only. */
const validStart = fc.tuple(fileName, fc.nat(3000)).map(([name, size]): Part[] => [
  { kind: "recipients", value: "@recipient" },
  { kind: "file", name, size, type: "application/octet-stream" },
]);
const sometimes = <T>(arb: fc.Arbitrary<T>, weight: number) =>
  fc.oneof({ arbitrary: fc.constant(null), weight: 10 - weight }, { arbitrary: arb, weight });

const multipart: fc.Arbitrary<Multipart> = fc.record({
  parts: fc.oneof(
    fc.array(part, { maxLength: 8 }),
    fc.tuple(validStart, fc.array(part, { maxLength: 3 })).map(([a, b]) => [...a, ...b]),
  ),
  boundary: fc.constantFrom("ok", "ok", "ok", "ok", "ok", "wrong", "missing", "none", "quoted", "long", "empty"),
  closing: fc.oneof({ arbitrary: fc.constant(true), weight: 4 }, { arbitrary: fc.constant(false), weight: 1 }),
  cut: sometimes(fc.nat(), 2),
  garbage: sometimes(fc.uint8Array({ maxLength: 2000 }), 1),
  chunked: fc.boolean(),
  extraFiles: fc.oneof(fc.constant(0), fc.constant(0), fc.integer({ min: 2, max: 120 })),
  expectContinue: fc.boolean(),
});

function serializePart(p: Part, boundary: string): Buffer {
  const start = `--${boundary}\r\n`;
  switch (p.kind) {
    case "recipients":
      return Buffer.from(
        `${start}Content-Disposition: form-data; name="recipients"\r\n\r\n${p.value === "@recipient" ? recipient.name : p.value}\r\n`,
      );
    case "expiresAt":
      return Buffer.from(`${start}Content-Disposition: form-data; name="expiresAt"\r\n\r\n${p.value}\r\n`);
    case "file":
      return Buffer.concat([
        Buffer.from(
          `${start}Content-Disposition: form-data; name="file"; filename="${p.name}"\r\n${p.type === null ? "" : `Content-Type: ${p.type}\r\n`}\r\n`,
        ),
        bytes(p.size, p.size + 1),
        Buffer.from("\r\n"),
      ]);
    case "other":
      return Buffer.from(`${start}Content-Disposition: form-data; name="${p.name}"\r\n\r\n${p.value}\r\n`);
    case "hugeHeader":
      return Buffer.from(`${start}Content-Disposition: form-data; name="note"\r\nX-Big: ${"a".repeat(p.size)}\r\n\r\nv\r\n`);
    case "noDisposition":
      return Buffer.from(`${start}Content-Type: text/plain\r\n\r\n${p.value}\r\n`);
  }
}

function multipartRequest(m: Multipart, token: string): Buffer {
  const boundary = m.boundary === "long" ? `b${"x".repeat(300)}` : `----hostile${randomBytes(8).toString("hex")}`;
  const contentType = {
    ok: `multipart/form-data; boundary=${boundary}`,
    long: `multipart/form-data; boundary=${boundary}`,
    quoted: `multipart/form-data; boundary="${boundary}"`,
    wrong: "multipart/form-data; boundary=not-the-one-used",
    missing: "multipart/form-data",
    empty: "multipart/form-data; boundary=",
    none: undefined,
  }[m.boundary];
  const extra: Part[] = Array.from({ length: m.extraFiles }, (_, i) => ({ kind: "file", name: `f${i}.bin`, size: 10, type: null }));
  let body = Buffer.concat([...m.parts, ...extra].map((p) => serializePart(p, boundary)));
  if (m.closing) body = Buffer.concat([body, Buffer.from(`--${boundary}--\r\n`)]);
  if (m.cut !== null) body = body.subarray(0, m.cut % (body.length + 1));
  if (m.garbage !== null) body = Buffer.from(m.garbage);
  const headers: Record<string, string | number> = { Authorization: `Bearer ${token}` };
  if (contentType !== undefined) headers["Content-Type"] = contentType;
  if (m.expectContinue) headers.Expect = "100-continue";
  if (!m.chunked) return request("POST", "/v1/files", headers, body);
  const chunks: Buffer[] = [];
  for (let at = 0; at < body.length; at += 4096) {
    const piece = body.subarray(at, at + 4096);
    chunks.push(Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from("\r\n"));
  }
  chunks.push(Buffer.from("0\r\n\r\n"));
  return Buffer.concat([Buffer.from(head("POST", "/v1/files", { ...headers, "Transfer-Encoding": "chunked" }), "latin1"), ...chunks]);
}

describe("multipart uploads", () => {
  it("a raw UTF-8 file name (as browsers send it) is stored as sent", async () => {
    for (const name of ["ümlaut–名前.pdf", "Müller Befund.pdf", "检查报告 2024.dcm"]) {
      const b = "----utf8";
      const body = Buffer.from(
        `--${b}\r\nContent-Disposition: form-data; name="recipients"\r\n\r\n${recipient.name}\r\n` +
          `--${b}\r\nContent-Disposition: form-data; name="file"; filename="${name}"\r\n\r\nx\r\n--${b}--\r\n`,
      );
      const a = await raw(
        port,
        request(
          "POST",
          "/v1/files",
          { Authorization: `Bearer ${uploader.token}`, "Content-Type": `multipart/form-data; boundary=${b}` },
          body,
        ),
      );
      expect(a.status).toBe(201);
      expect((JSON.parse(a.body) as { name: string }).name).toBe(name);
    }
  });

  it("generated multipart bodies answer 201 or a 4xx with a code", async () => {
    let created = 0;
    await fc.assert(
      fc.asyncProperty(multipart, async (m) => {
        const answer = await raw(port, multipartRequest(m, uploader.token));
        expectHandled(answer, `multipart ${JSON.stringify({ ...m, garbage: m.garbage?.length })}`);
        if (answer.status === 201) created++;
      }),
      fcOptions(150),
    );
    await healthy();
    expect(created).toBeGreaterThan(0); // the generator does reach valid uploads
  });

  it("a file part before the fields, no file part, and many files are refused with a code", async () => {
    const b = "----order";
    const fileFirst = Buffer.from(
      `--${b}\r\nContent-Disposition: form-data; name="file"; filename="a.bin"\r\n\r\nhello\r\n` +
        `--${b}\r\nContent-Disposition: form-data; name="recipients"\r\n\r\n${recipient.name}\r\n--${b}--\r\n`,
    );
    const noFile = Buffer.from(`--${b}\r\nContent-Disposition: form-data; name="recipients"\r\n\r\n${recipient.name}\r\n--${b}--\r\n`);
    const many = Buffer.from(
      `--${b}\r\nContent-Disposition: form-data; name="recipients"\r\n\r\n${recipient.name}\r\n` +
        Array.from({ length: 50 }, (_, i) => `--${b}\r\nContent-Disposition: form-data; name="file"; filename="${i}"\r\n\r\nx\r\n`).join(
          "",
        ) +
        `--${b}--\r\n`,
    );
    for (const body of [fileFirst, noFile, many]) {
      const a = await raw(
        port,
        request(
          "POST",
          "/v1/files",
          { Authorization: `Bearer ${uploader.token}`, "Content-Type": `multipart/form-data; boundary=${b}` },
          body,
        ),
      );
      expectHandled(a, "ordered parts");
      expect(a.status).toBe(400);
    }
    await healthy();
  });

  it("file names with path tricks and control characters are stored as a bare, clean name", async () => {
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.constantFrom(...pathTricks), fc.string({ maxLength: 60, unit: "grapheme" })), async (name) => {
        const b = "----names";
        const body = Buffer.concat([
          Buffer.from(`--${b}\r\nContent-Disposition: form-data; name="recipients"\r\n\r\n${recipient.name}\r\n`),
          Buffer.from(`--${b}\r\nContent-Disposition: form-data; name="file"; filename="${name}"\r\n\r\n`),
          Buffer.from("content\r\n"),
          Buffer.from(`--${b}--\r\n`),
        ]);
        const a = await raw(
          port,
          request(
            "POST",
            "/v1/files",
            { Authorization: `Bearer ${uploader.token}`, "Content-Type": `multipart/form-data; boundary=${b}` },
            body,
          ),
        );
        expectHandled(a, `name ${JSON.stringify(name)}`);
        if (a.status !== 201) return;
        const stored = (JSON.parse(a.body) as { id: string; name: string }).name;
        expect(stored).not.toMatch(/[/\\]/);
        expect([...stored].some((ch) => (ch.codePointAt(0) as number) < 0x20 || ch === "\u007f")).toBe(false);
        expect(stored).not.toBe("..");
        expect(stored.length).toBeGreaterThan(0);
        const id = (JSON.parse(a.body) as { id: string }).id;
        const got = await raw(port, request("GET", `/v1/files/${id}/content`, { Authorization: `Bearer ${recipient.token}` }));
        expect(got.status).toBe(200);
        expect(got.body).toBe("content");
        expect(got.headers["content-disposition"]).toMatch(/^attachment; filename="[\x20-\x7e]*"; filename\*=UTF-8''[\x21-\x7e]*$/);
      }),
      fcOptions(60),
    );
    await healthy();
  });
});

// ---------------------------------------------------------------------------------------------
// JSON bodies

const deep = fc
  .integer({ min: 1, max: 30_000 })
  .chain((n) =>
    fc.constantFrom(
      `${"[".repeat(n)}${"]".repeat(n)}`,
      `${'{"a":'.repeat(Math.min(n, 12_000))}1${"}".repeat(Math.min(n, 12_000))}`,
      "[".repeat(n),
    ),
  );
const jsonText = fc.oneof(
  fc.jsonValue({ maxDepth: 6 }).map((v) => JSON.stringify(v)),
  fc
    .record({
      name: fc.oneof(fc.string(), fc.integer(), fc.constant(null), fc.array(fc.string())),
      role: fc.oneof(fc.constantFrom("uploader", "recipient", "privacy", "admin", "root", ""), fc.integer(), fc.object()),
      recipient: fc.oneof(fc.constant("@recipient"), fc.string(), fc.integer(), fc.constant(null)),
      ageRecipient: fc.oneof(fc.string(), fc.constant("age1xyz"), fc.integer()),
      expiresAt: fc.oneof(fc.constant("2999-01-01T00:00:00Z"), fc.string(), fc.integer(), fc.constant("2000-01-01")),
      reason: fc.oneof(fc.string(), fc.integer(), fc.constant(null), fc.constant("")),
    })
    .map((v) => JSON.stringify(v).replaceAll('"@recipient"', JSON.stringify(recipient.name))),
  fc.integer({ min: 100, max: 200_000 }).map((n) => JSON.stringify({ name: "n".repeat(n), role: "uploader", reason: "r".repeat(n) })),
  deep,
  fc.string({ maxLength: 200 }), // mostly invalid JSON
  fc.constantFrom("", "{", '{"a":1', "null", "[]", '"x"', "\u0000", '{"__proto__":{"admin":true}}', '{"constructor":{"prototype":{}}}'),
);
const jsonType = fc.constantFrom(
  "application/json",
  "application/json",
  "application/json; charset=utf-8",
  "application/json; charset=utf-16",
  "application/json; charset=bogus",
  "text/plain",
  "application/x-www-form-urlencoded",
  "multipart/form-data; boundary=x",
  null,
);

describe("JSON bodies", () => {
  const targets: { name: string; path: () => string; token: () => string }[] = [
    { name: "principals", path: () => "/v1/principals", token: () => service.admin.token },
    { name: "grants", path: () => `/v1/files/${fileId}/grants`, token: () => uploader.token },
    // A fresh file per batch: a valid body erases it, later ones then meet 410 GONE.
    { name: "erasure", path: () => `/v1/files/${fileId}/erasure`, token: () => officer.token },
  ];
  for (const target of targets) {
    it(`${target.name}: wrong types, huge strings, deep nesting, invalid JSON, wrong content types`, async () => {
      await fc.assert(
        fc.asyncProperty(jsonText, jsonType, async (text, type) => {
          const headers: Record<string, string | number> = { Authorization: `Bearer ${target.token()}` };
          if (type !== null) headers["Content-Type"] = type;
          const a = await raw(port, request("POST", target.path(), headers, Buffer.from(text)));
          expectHandled(a, `${target.name} ${type} ${JSON.stringify(text.slice(0, 120))} (${text.length} chars)`);
        }),
        fcOptions(100),
      );
      await healthy();
    });
  }
});

// ---------------------------------------------------------------------------------------------
// Ids, query strings, Range

const segment = fc.oneof(
  fc.string({ maxLength: 40, unit: "binary" }).map((s) => encodeURIComponent(s)),
  fc.string({ maxLength: 40 }).map((s) => s.replace(/[\s?#]/g, "")),
  fc.constantFrom(
    "%00",
    "%",
    "%zz",
    "%ff%fe",
    "..",
    "%2e%2e",
    "..%2f..%2fetc",
    "f_doesnotexist000000000000",
    "%c0%af",
    "\u00e9",
    "null",
    "-1",
  ),
  fc.integer({ min: 1_000, max: 12_000 }).map((n) => "a".repeat(n)),
);
const query = fc.oneof(
  fc.constant(""),
  fc.constantFrom(
    "?limit=-1",
    "?limit=0",
    "?limit=1e3",
    "?limit=99999999999",
    "?limit=abc",
    "?limit=",
    "?after=",
    "?after=%00",
    "?limit=1&limit=2",
  ),
  fc.tuple(fc.constantFrom("limit", "after", "file", "actor", "action", "x", "limit[]"), segment).map(([k, v]) => `?${k}=${v}`),
  segment.map((s) => `?${s}`),
);
const idPath = fc.oneof(
  fc
    .tuple(segment, fc.constantFrom("", "/content", "/age", "/receipt", "/grants", "/grants/x", "/erasure"))
    .map(([id, rest]) => `/v1/files/${id}${rest}`),
  fc.tuple(fc.constantFrom("/v1/files", "/v1/audit", "/v1/me", "/v1/audit/1/proof"), query).map(([p, q]) => `${p}${q}`),
  fc.tuple(segment, query).map(([s, q]) => `/v1/${s}${q}`),
  fc.tuple(segment, query).map(([s, q]) => `/v1/audit/${s}/proof${q}`),
);

describe("ids and query strings", () => {
  it("any id or query answers 2xx or a 4xx with a code", async () => {
    const tokens = () => [uploader.token, recipient.token, officer.token, service.admin.token];
    await fc.assert(
      fc.asyncProperty(idPath, fc.nat(3), fc.constantFrom("GET", "DELETE", "POST", "PUT", "PATCH", "HEAD"), async (path, who, method) => {
        const headers: Record<string, string | number> = { Authorization: `Bearer ${tokens()[who]}` };
        if (method === "POST") headers["Content-Type"] = "application/json";
        const body = method === "POST" ? Buffer.from('{"reason":"hostile","recipient":"nobody"}') : Buffer.alloc(0);
        const a = await raw(port, request(method, path, headers, body));
        if (method === "HEAD") {
          expect(a.status, `HEAD ${path}`).toBeLessThan(500);
          return;
        }
        expectHandled(a, `${method} ${path.slice(0, 200)} (${path.length} chars)`);
      }),
      fcOptions(200),
    );
    await healthy();
  });

  it("Range headers on /content: whole file or a 4xx, never a 5xx", async () => {
    const rangeFileId = (await upload(service.url, uploader.token, bytes(200_000, 9), { name: "range.bin", recipients: [recipient.name] }))
      .file.id;
    const range = fc.oneof(
      fc.tuple(fc.integer({ min: -10, max: 300_000 }), fc.integer({ min: -10, max: 300_000 })).map(([a, b]) => `bytes=${a}-${b}`),
      fc.integer({ min: -300_000, max: 300_000 }).map((n) => `bytes=${n}-`),
      fc.constantFrom(
        "bytes=-0",
        "bytes=0-0,5-10,1-1",
        "bytes=",
        "chars=0-10",
        "bytes=99999999999999999999-",
        `bytes=${"0-1,".repeat(2000)}0-1`,
      ),
      fc.string({ maxLength: 60 }).map((s) => s.replace(/[\r\n]/g, "")),
    );
    await fc.assert(
      fc.asyncProperty(range, async (r) => {
        const a = await raw(
          port,
          request("GET", `/v1/files/${rangeFileId}/content`, { Authorization: `Bearer ${recipient.token}`, Range: r }),
        );
        expectHandled(a, `Range ${r.slice(0, 100)}`);
        if (a.status === 200) expect(Buffer.byteLength(a.body, "latin1")).toBeGreaterThan(0);
      }),
      fcOptions(50),
    );
    await healthy();
  });

  it("garbage and oversized request heads get a JSON 4xx", async () => {
    const cases = [
      Buffer.from("GARBAGE\r\n\r\n"),
      Buffer.from(`GET /v1/files HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(100_000)}\r\n\r\n`),
      Buffer.from(`GET /${"a".repeat(100_000)} HTTP/1.1\r\nHost: x\r\n\r\n`),
      Buffer.from("GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n"),
      Buffer.from("POST /v1/files HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
      Buffer.from("GET /v1/me HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \u0000\u0001\r\n\r\n"),
      randomBytes(3000),
    ];
    for (const c of cases) expectHandled(await raw(port, c), `raw ${JSON.stringify(c.subarray(0, 60).toString("latin1"))}`);
    await healthy();
  });
});

// ---------------------------------------------------------------------------------------------
// Stalled clients

describe("stalled clients", () => {
  /** Opens a socket, sends `prefix`, then nothing; resolves when the server closes it. */
  function stall(prefix: Buffer): { closed: Promise<string> } {
    const socket = connect({ host: "127.0.0.1", port });
    const got: Buffer[] = [];
    socket.on("data", (d: Buffer) => got.push(d));
    socket.on("error", () => {});
    socket.write(prefix);
    const closed = new Promise<string>((resolve) => socket.on("close", () => resolve(Buffer.concat(got).toString())));
    return { closed };
  }

  it("a client stalling in the headers or mid-upload is cut off, and others are served meanwhile", async () => {
    const b = "----stall";
    const name = `stalled-${randomBytes(4).toString("hex")}.bin`;
    const bodyStart = Buffer.from(
      `--${b}\r\nContent-Disposition: form-data; name="recipients"\r\n\r\n${recipient.name}\r\n` +
        `--${b}\r\nContent-Disposition: form-data; name="file"; filename="${name}"\r\n\r\n${"x".repeat(70_000)}`,
    );
    const midUpload = stall(
      Buffer.concat([
        Buffer.from(
          head("POST", "/v1/files", {
            Authorization: `Bearer ${uploader.token}`,
            "Content-Type": `multipart/form-data; boundary=${b}`,
            "Content-Length": 1_000_000,
          }),
        ),
        bodyStart,
      ]),
    );
    const midChunked = stall(
      Buffer.concat([
        Buffer.from(
          head("POST", "/v1/files", {
            Authorization: `Bearer ${uploader.token}`,
            "Content-Type": `multipart/form-data; boundary=${b}`,
            "Transfer-Encoding": "chunked",
          }),
        ),
        Buffer.from(`${bodyStart.length.toString(16)}\r\n`),
        bodyStart,
      ]),
    );
    const inHeaders = stall(Buffer.from(`POST /v1/files HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${uploader.token}\r\n`));
    const json = stall(
      Buffer.from(
        head("POST", "/v1/principals", {
          Authorization: `Bearer ${service.admin.token}`,
          "Content-Type": "application/json",
          "Content-Length": 100,
        }) + '{"na',
      ),
    );
    // The server keeps serving while those hang.
    await sleep(200);
    await healthy();
    const other = await upload(service.url, uploader.token, bytes(5000, 11), { name: "while-stalled.bin", recipients: [recipient.name] });
    expect(other.status).toBe(201);
    // Then each stalled connection is closed by the server (idle timeout), not held forever.
    await Promise.all([midUpload.closed, midChunked.closed, inHeaders.closed, json.closed]);
    await sleep(100);
    // The abandoned upload left no file behind.
    const list = await call(service.url, uploader.token, "GET", "/v1/files?limit=1000");
    expect((list.body as { files: { name: string }[] }).files.map((f) => f.name)).not.toContain(name);
    await healthy();
  });
});

// ---------------------------------------------------------------------------------------------
// medvault decrypt on mutated age files

describe("medvault decrypt on mutated age files", () => {
  const dir = tempDir("medvault-hostile-decrypt-");
  let identityPath: string;
  let plaintext: Buffer;
  let binary: Buffer;
  let armored: Buffer;

  beforeAll(async () => {
    const key = await generateKey();
    identityPath = join(dir.path, "id.txt");
    writeFileSync(identityPath, formatIdentityFile(key), { mode: 0o600 });
    plaintext = bytes(150_000, 3); // three chunks
    const source = (async function* () {
      yield plaintext;
    })();
    const { header, payload } = await encryptStream(source, [parseRecipient(key.recipient)]);
    binary = Buffer.concat([header, await collect(payload)]);
    armored = Buffer.from(armor.encode(binary));
  });
  afterAll(() => dir.remove());

  type Mutation =
    | { kind: "flip"; at: number; bit: number }
    | { kind: "truncate"; at: number }
    | { kind: "insert"; at: number; data: Uint8Array }
    | { kind: "random"; data: Uint8Array };
  const mutation: fc.Arbitrary<Mutation> = fc.oneof(
    fc.record({ kind: fc.constant("flip" as const), at: fc.nat(), bit: fc.nat(7) }),
    fc.record({ kind: fc.constant("truncate" as const), at: fc.nat() }),
    fc.record({ kind: fc.constant("insert" as const), at: fc.nat(), data: fc.uint8Array({ minLength: 1, maxLength: 40 }) }),
    fc.record({ kind: fc.constant("random" as const), data: fc.uint8Array({ maxLength: 3000 }) }),
  );
  /** Header positions are the interesting ones: bias a third of the offsets into the first 300 bytes. */
  const offset = (at: number, length: number) => (at % 3 === 0 ? at % Math.min(300, length) : at % length);
  function mutate(source: Buffer, ms: Mutation[]): Buffer {
    let out = Buffer.from(source);
    for (const m of ms) {
      if (m.kind === "random") out = Buffer.from(m.data);
      else if (out.length === 0) continue;
      else if (m.kind === "flip") {
        const i = offset(m.at, out.length);
        out[i] = (out[i] as number) ^ (1 << m.bit);
      } else if (m.kind === "truncate") out = out.subarray(0, offset(m.at, out.length));
      else {
        const i = offset(m.at, out.length + 1);
        out = Buffer.concat([out.subarray(0, i), Buffer.from(m.data), out.subarray(i)]);
      }
    }
    return out;
  }

  /** `medvault decrypt` in-process through the CLI's main: its exit code and stderr. */
  async function decryptInProcess(input: Buffer): Promise<{ code: number; stderr: string; output: Buffer }> {
    const inPath = join(dir.path, "in.age");
    const outPath = join(dir.path, "out.bin");
    writeFileSync(inPath, input);
    rmSync(outPath, { force: true });
    let stderr = "";
    const spy = vi.spyOn(process.stderr, "write").mockImplementation((chunk: string | Uint8Array) => {
      stderr += chunk.toString();
      return true;
    });
    try {
      const code = await main(["decrypt", "-i", identityPath, "-o", outPath, inPath]);
      let output = Buffer.alloc(0);
      try {
        output = readFileSync(outPath);
      } catch {}
      return { code, stderr, output };
    } finally {
      spy.mockRestore();
    }
  }

  function expectCleanFailure(r: { code: number | null; stderr: string; output: Buffer }, label: string): void {
    if (r.code === 0) {
      // A mutation that leaves the file valid (armor whitespace, say) must still give the plaintext.
      expect(r.output.equals(plaintext), `${label}: exit 0 with a wrong plaintext`).toBe(true);
      return;
    }
    expect([1, 2], `${label}: exit ${r.code}, stderr ${r.stderr}`).toContain(r.code);
    const lines = r.stderr.split("\n").filter((l) => l !== "");
    expect(lines, `${label}: ${r.stderr}`).toHaveLength(1);
    expect(lines[0], label).toMatch(/^medvault decrypt: [A-Z_]+: /);
    expect(lines[0], label).not.toMatch(/INTERNAL|\bat .*:\d+:\d+/);
  }

  it("bit flips, truncations, inserted and random bytes fail with one line naming a code", async () => {
    await fc.assert(
      fc.asyncProperty(fc.boolean(), fc.array(mutation, { minLength: 1, maxLength: 3 }), async (useArmor, ms) => {
        const r = await decryptInProcess(mutate(useArmor ? armored : binary, ms));
        expectCleanFailure(
          r,
          `${useArmor ? "armored" : "binary"} ${JSON.stringify(ms, (_k, v) => (v instanceof Uint8Array ? v.length : v))}`,
        );
      }),
      fcOptions(300),
    );
  });

  it("the real binary: a few mutated files through stdin", async () => {
    const inputs = [
      Buffer.alloc(0),
      binary.subarray(0, 20),
      binary.subarray(0, binary.length - 1),
      mutate(binary, [{ kind: "flip", at: 3, bit: 1 }]),
      mutate(binary, [{ kind: "flip", at: binary.length - 5, bit: 0 }]),
      mutate(armored, [{ kind: "insert", at: 60, data: Buffer.from("!!") }]),
      randomBytes(500),
    ];
    for (const input of inputs) {
      const r = await medvault(["decrypt", "-i", identityPath], { input });
      expectCleanFailure({ code: r.code, stderr: r.stderr, output: r.stdout }, `spawned, ${input.length} bytes`);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Authorization hygiene: a child `medvault serve` whose whole log output is scanned

describe("authorization hygiene and logs", () => {
  const dir = tempDir("medvault-hostile-log-");
  const adminToken = newToken();
  let child: ChildProcess;
  let url: string;
  let out = "";
  let exited: Promise<unknown>;

  beforeAll(async () => {
    child = spawn(BIN, ["serve"], {
      env: env({
        MEDVAULT_DATA: dir.path,
        MEDVAULT_PORT: "0",
        MEDVAULT_HOST: "127.0.0.1",
        MEDVAULT_ADMIN_TOKEN: adminToken,
        MEDVAULT_LOG_LEVEL: "debug",
      }),
      stdio: ["ignore", "pipe", "pipe"],
    });
    exited = new Promise((resolve) => child.once("exit", resolve));
    const collectOut = (d: Buffer) => {
      out += d.toString();
    };
    child.stdout?.on("data", collectOut);
    child.stderr?.on("data", collectOut);
    const started = Date.now();
    while (!out.includes('"msg":"medvault listening"')) {
      if (child.exitCode !== null || Date.now() - started > 45_000) throw new Error(`medvault serve did not start: ${out.slice(-2000)}`);
      await sleep(50);
    }
    const line = out.split("\n").find((l) => l.includes('"msg":"medvault listening"')) as string;
    url = (JSON.parse(line) as { url: string }).url;
  });
  afterAll(async () => {
    if (child?.pid !== undefined && child.exitCode === null) process.kill(child.pid, "SIGKILL");
    await exited;
    dir.remove();
  });

  it("a whole scenario logs no token, key or file name; wrong tokens are 401, then 429", async () => {
    const svc = { url, admin: { id: "", name: "admin", role: "admin" as const, token: adminToken } };
    const up = await addPrincipal(svc, "uploader");
    const rec = await addPrincipal(svc, "recipient");
    const priv = await addPrincipal(svc, "privacy");
    const name = `patient-jane-doe-${randomBytes(6).toString("hex")}.pdf`;
    const u = await upload(url, up.token, bytes(70_000, 21), { name, recipients: [rec.name] });
    expect(u.status).toBe(201);
    const id = u.file.id;
    expect((await fetch(`${url}/v1/files/${id}/content`, { headers: { authorization: `Bearer ${rec.token}` } })).status).toBe(200);
    expect((await fetch(`${url}/v1/files/${id}/age`, { headers: { authorization: `Bearer ${rec.token}` } })).status).toBe(200);
    expect((await call(url, up.token, "GET", `/v1/files/${id}`)).status).toBe(200);
    expect((await call(url, up.token, "GET", "/v1/files")).status).toBe(200);
    expect((await call(url, up.token, "DELETE", `/v1/files/${id}/grants/${rec.id}`)).status).toBe(200);
    expect((await call(url, up.token, "POST", `/v1/files/${id}/grants`, { recipient: rec.name })).status).toBe(201);
    expect((await call(url, priv.token, "GET", "/v1/audit")).status).toBe(200);
    expect((await call(url, rec.token, "GET", `/v1/files/${id}/receipt`)).status).toBeLessThan(500);
    expect((await call(url, priv.token, "POST", `/v1/files/${id}/erasure`, { reason: "request of the patient" })).status).toBe(200);
    // A failing upload whose name must not be logged either.
    const failedName = `failed-${name}`;
    expect((await upload(url, up.token, bytes(10, 1), { name: failedName, recipients: ["nobody-by-that-name"] })).status).toBe(400);

    // Wrong tokens of the right shape: 401 (the lookup by SHA-256 finds nothing), then after 20
    // failures within the window, 429 even for a valid token.
    // Half of the guesses go through the `Expect: 100-continue` check of uploads, which must
    // count failures like every other endpoint (else it is an unlimited guessing oracle).
    const childPort = Number(new URL(url).port);
    const guess = (t: string) =>
      raw(
        childPort,
        Buffer.from(
          head("POST", "/v1/files", {
            Authorization: `Bearer ${t}`,
            Expect: "100-continue",
            "Content-Type": "multipart/form-data; boundary=x",
            "Content-Length": 100,
          }),
        ),
      );
    const wrong = Array.from({ length: 22 }, () => newToken());
    const answers: { status: number; code: string | undefined }[] = [];
    for (const [i, t] of wrong.entries()) {
      if (i % 2 === 0 && i < 20) answers.push(await call(url, t, "GET", "/v1/me"));
      else {
        const a = await guess(t);
        answers.push({ status: a.status, code: (JSON.parse(a.body) as { error: { code: string } }).error.code });
      }
    }
    expect(answers.slice(0, 20).map((a) => a.status)).toEqual(Array(20).fill(401));
    expect(answers.slice(0, 20).every((a) => a.code === "UNAUTHORIZED")).toBe(true);
    expect(answers.slice(20).map((a) => `${a.status} ${a.code}`)).toEqual(["429 RATE_LIMITED", "429 RATE_LIMITED"]);
    expect((await call(url, up.token, "GET", "/v1/me")).status).toBe(429);
    expect((await guess(up.token)).status).toBe(429);
    expect((await call(url, up.token, "GET", `/v1/files/${id}`, undefined)).code).toBe("RATE_LIMITED");

    // Stop the child cleanly so its last lines are in the log too.
    if (child.pid !== undefined) process.kill(child.pid, "SIGTERM");
    await exited;

    const vaultSecret = readFileSync(join(dir.path, "vault-identity.txt"), "utf8").match(/AGE-SECRET-KEY-[A-Z0-9-]+/)?.[0];
    const anchorerKey = readFileSync(join(dir.path, "anchorer.key"), "utf8").trim();
    expect(vaultSecret).toBeDefined();
    const secrets: [string, string][] = [
      ["admin token", adminToken],
      ["uploader token", up.token],
      ["recipient token", rec.token],
      ["privacy token", priv.token],
      ["recipient age identity", rec.identity as string],
      ["vault age identity", vaultSecret as string],
      ["anchorer key", anchorerKey],
      ["anchorer key (no 0x)", anchorerKey.replace(/^0x/, "")],
      ["file name", name],
      ["file name stem", name.replace(/\.pdf$/, "")],
      ["failed file name", failedName],
      ...wrong.map((t, i): [string, string] => [`wrong token ${i}`, t]),
    ];
    expect(out).toContain("medvault listening");
    expect(out).toContain("medvault stopped");
    const lower = out.toLowerCase();
    for (const [label, secret] of secrets) expect(lower.includes(secret.toLowerCase()), `${label} appears in the log`).toBe(false);
    // No stack traces either.
    expect(out).not.toMatch(/\n\s+at .+:\d+:\d+/);
  });
});
