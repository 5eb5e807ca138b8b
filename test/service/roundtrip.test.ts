/**
 * Round trips through the real service: upload → verified plaintext and the age file, at the
 * STREAM chunk edges and 20 MiB; the age file decrypts with Debian's `age`. Media types come
 * from content, file names are bare metadata.
 */

import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bytes, tempDir } from "../crypto/helpers.ts";
import { addPrincipal, call, multipartStream, type Principal, type Service, startService, upload } from "./harness.ts";

const MiB = 1024 * 1024;

let service: Service;
let uploader: Principal;
let recipient: Principal;
const keys = tempDir("medvault-keys-");
let keyFile: string;

beforeAll(async () => {
  service = await startService();
  uploader = await addPrincipal(service, "uploader");
  recipient = await addPrincipal(service, "recipient");
  keyFile = join(keys.path, "key.txt");
  writeFileSync(keyFile, `${recipient.identity}\n`, { mode: 0o600 });
});

afterAll(async () => {
  await service?.close();
  keys.remove();
});

const sha256 = (data: Uint8Array) => createHash("sha256").update(data).digest();

async function download(path: string): Promise<{ status: number; headers: Headers; body: Buffer }> {
  const res = await fetch(`${service.url}${path}`, { headers: { authorization: `Bearer ${recipient.token}` } });
  return { status: res.status, headers: res.headers, body: Buffer.from(await res.arrayBuffer()) };
}

/** `age -d -i key.txt` on the bytes; resolves to its stdout. */
function ageDecrypt(input: Uint8Array): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const child = spawn("age", ["-d", "-i", keyFile], { stdio: ["pipe", "pipe", "pipe"] });
    const out: Buffer[] = [];
    let err = "";
    child.stdout.on("data", (d: Buffer) => out.push(d));
    child.stderr.on("data", (d: Buffer) => {
      err += d.toString();
    });
    child.on("error", reject);
    child.on("close", (code) => (code === 0 ? resolve(Buffer.concat(out)) : reject(new Error(`age exited ${code}: ${err}`))));
    child.stdin.on("error", () => {});
    child.stdin.end(input);
  });
}

async function checkRoundTrip(id: string, data: Buffer, answer: { sha256: string; size: number }): Promise<void> {
  expect(answer.size).toBe(data.length);
  expect(answer.sha256).toBe(sha256(data).toString("hex"));

  const content = await download(`/v1/files/${id}/content`);
  expect(content.status).toBe(200);
  expect(content.headers.get("content-length")).toBe(String(data.length));
  expect(content.headers.get("repr-digest")).toBe(`sha-256=:${sha256(data).toString("base64")}:`);
  expect(content.body.length).toBe(data.length);
  expect(content.body.equals(data)).toBe(true);

  const age = await download(`/v1/files/${id}/age`);
  expect(age.status).toBe(200);
  expect(age.headers.get("content-length")).toBe(String(age.body.length));
  expect(age.body.subarray(0, 21).toString()).toBe("age-encryption.org/v1");
  const decrypted = await ageDecrypt(age.body);
  expect(decrypted.length).toBe(data.length);
  expect(decrypted.equals(data)).toBe(true);
}

describe("round trips", () => {
  it.each([0, 1, 65535, 65536, 65537])("%i bytes: content and age file are byte-equal", async (size) => {
    const data = bytes(size, size + 11);
    const res = await upload(service.url, uploader.token, data, { name: `s${size}.bin`, recipients: [recipient.name] });
    expect(res.status).toBe(201);
    expect(res.file).toMatchObject({ size, cid: expect.stringMatching(/^b/), anchor: { status: "pending" } });
    await checkRoundTrip(res.file.id, data, res.file);
  });

  it("20 MiB streamed: content and age file are byte-equal", async () => {
    const data = bytes(20 * MiB + 3, 99);
    async function* pieces() {
      for (let at = 0; at < data.length; at += 256 * 1024) yield data.subarray(at, at + 256 * 1024);
    }
    const { body, contentType } = multipartStream(pieces(), { name: "big.bin", recipients: [recipient.id] });
    const res = await fetch(`${service.url}/v1/files`, {
      method: "POST",
      headers: { authorization: `Bearer ${uploader.token}`, "content-type": contentType },
      body,
      duplex: "half",
    } as RequestInit);
    expect(res.status).toBe(201);
    const file = (await res.json()) as { id: string; sha256: string; size: number };
    await checkRoundTrip(file.id, data, file);
  });
});

describe("media types and names", () => {
  const dicom = Buffer.concat([Buffer.alloc(128), Buffer.from("DICM"), bytes(2000, 5)]);
  const pdf = Buffer.concat([Buffer.from("%PDF-1.7\n"), bytes(3000, 6)]);
  const mp4 = Buffer.concat([Buffer.from([0, 0, 0, 0x20]), Buffer.from("ftypisom"), bytes(5000, 7)]);

  it.each([
    ["DICOM", dicom, "scan.txt", "application/dicom"],
    ["PDF", pdf, "labs.dcm", "application/pdf"],
    ["MP4", mp4, "session.pdf", "video/mp4"],
    ["unknown", bytes(700, 8), "notes.pdf", "application/octet-stream"],
  ])("%s is sniffed from content, not from the name", async (_label, data, name, mediaType) => {
    const res = await upload(service.url, uploader.token, data, { name, recipients: [recipient.name] });
    expect(res.status).toBe(201);
    expect(res.file.mediaType).toBe(mediaType);
    const content = await download(`/v1/files/${res.file.id}/content`);
    expect(content.headers.get("content-type")).toBe(mediaType);
    expect(content.body.equals(data)).toBe(true);
  });

  it.each([
    ["../../etc/passwd", "passwd"],
    ["..\\..\\windows\\win.ini", "win.ini"],
    ["/abs/path/scan.dcm", "scan.dcm"],
  ])("the name %j is stored as the bare name %j", async (name, stored) => {
    const res = await upload(service.url, uploader.token, bytes(10, 3), { name, recipients: [recipient.name] });
    expect(res.status).toBe(201);
    expect(res.file.name).toBe(stored);
    const meta = await call(service.url, recipient.token, "GET", `/v1/files/${res.file.id}`);
    expect((meta.body as { name: string }).name).toBe(stored);
    const content = await download(`/v1/files/${res.file.id}/content`);
    expect(content.headers.get("content-disposition")).toContain(`filename="${stored}"`);
  });

  it.each(["..", "a/..", "."])("the name %j leaves no name at all: the part is not a file (busboy, multer), 400", async (name) => {
    const res = await upload(service.url, uploader.token, bytes(10, 3), { name, recipients: [recipient.name] });
    expect(res.status).toBe(400);
    expect(res.code).toBe("BAD_REQUEST");
  });
});
