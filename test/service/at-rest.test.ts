/**
 * No plaintext at rest, and crypto-shredding on the real service: after uploads full of a
 * marker string, no file under the data dir (blocks, catalog, -wal, -shm, pins, keys: every
 * file, read as bytes) holds the marker. After an erasure no file holds the file's headers or
 * salt, content and age answer 410 GONE, and the payload's blocks are gone from disk.
 */

import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  addPrincipal,
  blockFiles,
  call,
  filesContaining,
  filesUnder,
  type Principal,
  type Service,
  startService,
  upload,
} from "./harness.ts";

const MiB = 1024 * 1024;

let service: Service;
let uploader: Principal;
let recipient: Principal;
let officer: Principal;
const marker = Buffer.from(`MEDVAULT-MARKER-${randomBytes(12).toString("hex")}`);

/** `size` bytes of the marker repeated, with a per-file tag so that files differ. */
function markerFile(size: number, tag: number): Buffer {
  const unit = Buffer.concat([marker, Buffer.from(`-${tag}|`)]);
  const out = Buffer.alloc(size);
  for (let at = 0; at < size; at += unit.length) unit.copy(out, at);
  return out;
}

type Uploaded = { id: string; blocks: Set<string> };
const uploaded: Uploaded[] = [];

beforeAll(async () => {
  service = await startService();
  uploader = await addPrincipal(service, "uploader");
  recipient = await addPrincipal(service, "recipient");
  officer = await addPrincipal(service, "privacy");
  for (const [i, size] of [5 * MiB, 5 * MiB + 17, 300_000].entries()) {
    const before = blockFiles(service.dataDir);
    const res = await upload(service.url, uploader.token, markerFile(size, i), { name: `marker-${i}.bin`, recipients: [recipient.name] });
    expect(res.status).toBe(201);
    const blocks = new Set([...blockFiles(service.dataDir)].filter((b) => !before.has(b)));
    uploaded.push({ id: res.file.id, blocks });
  }
});

afterAll(async () => {
  await service?.close();
});

/** The header's distinctive lines (stanza arguments and bodies, MAC); the fixed first line is shared by all. */
function headerPieces(header: Uint8Array): Buffer[] {
  return Buffer.from(header)
    .toString("latin1")
    .split("\n")
    .filter((line) => line !== "age-encryption.org/v1")
    .map((line) => line.replace(/^(-> \S+ |--- )/, ""))
    .filter((line) => line.length >= 16)
    .map((line) => Buffer.from(line, "latin1"));
}

const holding = (pieces: Buffer[]) => pieces.filter((p) => filesContaining(service.dataDir, p).length > 0).length;

describe("at rest", () => {
  it("no file under the data dir holds the plaintext marker", () => {
    const all = filesUnder(service.dataDir);
    // The walk really covers the catalog, its WAL and the blocks.
    expect(all.some((p) => p.endsWith("catalog.sqlite"))).toBe(true);
    expect(all.some((p) => p.endsWith("catalog.sqlite-wal"))).toBe(true);
    for (const file of uploaded) expect(file.blocks.size).toBeGreaterThan(0);
    expect(filesContaining(service.dataDir, marker)).toEqual([]);
    // Nor a shorter piece of it (a marker cut at a block edge would still leave half).
    expect(filesContaining(service.dataDir, marker.subarray(0, 24))).toEqual([]);
  });

  it("the downloads still give the marker back (the files are really there)", async () => {
    const first = uploaded[0] as Uploaded;
    const res = await fetch(`${service.url}/v1/files/${first.id}/content`, { headers: { authorization: `Bearer ${recipient.token}` } });
    expect(res.status).toBe(200);
    expect(Buffer.from(await res.arrayBuffer()).equals(markerFile(5 * MiB, 0))).toBe(true);
  });
});

describe("after erasure", () => {
  it("no file holds the file's headers or salt, content and age are 410 GONE, its blocks are gone", async () => {
    const target = uploaded[1] as Uploaded;
    const keep = uploaded[0] as Uploaded;

    // The recipient's header: the age file up to and including the MAC line.
    const age = await fetch(`${service.url}/v1/files/${target.id}/age`, { headers: { authorization: `Bearer ${recipient.token}` } });
    expect(age.status).toBe(200);
    const ageBytes = Buffer.from(await age.arrayBuffer());
    const macAt = ageBytes.indexOf("\n--- ");
    expect(macAt).toBeGreaterThan(0);
    const recipientHeader = ageBytes.subarray(0, ageBytes.indexOf("\n", macAt + 1) + 1);

    // The vault's header and the salt, straight from the catalog (closed again before the erasure checkpoint).
    const db = new DatabaseSync(join(service.dataDir, "catalog.sqlite"), { readOnly: true });
    let vaultHeader: Uint8Array;
    let salt: Uint8Array;
    try {
      vaultHeader = db.prepare("SELECT header FROM headers WHERE file_id = ? AND holder = 'vault'").get(target.id)?.header as Uint8Array;
      salt = db.prepare("SELECT salt FROM files WHERE id = ?").get(target.id)?.salt as Uint8Array;
    } finally {
      db.close();
    }
    expect(vaultHeader.length).toBeGreaterThan(100);
    expect(salt.length).toBe(32);

    const recipientPieces = headerPieces(recipientHeader);
    const vaultPieces = headerPieces(vaultHeader);
    expect(recipientPieces.length).toBeGreaterThanOrEqual(3);
    expect(vaultPieces.length).toBeGreaterThanOrEqual(3);
    // The search finds them before (a header may straddle a page edge, so most rather than all).
    expect(holding(recipientPieces)).toBeGreaterThanOrEqual(recipientPieces.length - 1);
    expect(holding(vaultPieces)).toBeGreaterThanOrEqual(vaultPieces.length - 1);
    expect(filesContaining(service.dataDir, Buffer.from(salt))).not.toEqual([]);
    for (const b of target.blocks) expect(blockFiles(service.dataDir).has(b)).toBe(true);

    const erased = await call(service.url, officer.token, "POST", `/v1/files/${target.id}/erasure`, { reason: "GDPR art. 17" });
    expect(erased.status).toBe(200);
    expect(erased.body).toMatchObject({ fileId: target.id, reason: "GDPR art. 17", unpinned: true, by: { id: officer.id } });

    expect(holding(recipientPieces)).toBe(0);
    expect(holding(vaultPieces)).toBe(0);
    expect(filesContaining(service.dataDir, Buffer.from(salt))).toEqual([]);

    for (const path of ["content", "age"]) {
      const res = await call(service.url, recipient.token, "GET", `/v1/files/${target.id}/${path}`);
      expect([path, res.status, res.code]).toEqual([path, 410, "GONE"]);
    }
    const meta = await call(service.url, officer.token, "GET", `/v1/files/${target.id}`);
    expect(meta.body).toMatchObject({ state: "erased", name: null, sha256: null });

    // Its payload blocks are gone; the other files' blocks stay and still download.
    const blocks = blockFiles(service.dataDir);
    for (const b of target.blocks) expect(blocks.has(b)).toBe(false);
    for (const b of keep.blocks) expect(blocks.has(b)).toBe(true);
    const other = await fetch(`${service.url}/v1/files/${keep.id}/content`, { headers: { authorization: `Bearer ${recipient.token}` } });
    expect(other.status).toBe(200);
    expect(Buffer.from(await other.arrayBuffer()).equals(markerFile(5 * MiB, 0))).toBe(true);
    expect(filesContaining(service.dataDir, marker)).toEqual([]);
  });
});
