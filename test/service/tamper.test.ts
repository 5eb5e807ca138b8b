/**
 * Tampering at rest: one flipped byte in a stored block file makes the download fail, either
 * a 500 INTEGRITY_FAILED before the body or an aborted body, never the full, wrong content,
 * and writes a `file.integrity` audit event with outcome `failed`. Other files still download.
 */

import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { NextToLast } from "blockstore-fs/sharding";
import { CID } from "multiformats/cid";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bytes } from "../crypto/helpers.ts";
import {
  addPrincipal,
  blockFiles,
  call,
  type Download,
  fetchDownload,
  flipBitOnDisk,
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

type Stored = { id: string; data: Buffer; root: string; blocks: string[] };

async function store(size: number, seed: number): Promise<Stored> {
  const before = blockFiles(service.dataDir);
  const data = bytes(size, seed);
  const res = await upload(service.url, uploader.token, data, { name: `t${seed}.bin`, recipients: [recipient.name] });
  expect(res.status).toBe(201);
  const { dir, file } = new NextToLast().encode(CID.parse(res.file.cid));
  const root = join(service.dataDir, "ipfs", "blocks", dir, file);
  const blocks = [...blockFiles(service.dataDir)].filter((b) => !before.has(b));
  expect(blocks).toContain(root);
  return { id: res.file.id, data, root, blocks };
}

function download(id: string, what: "content" | "age"): Promise<Download> {
  return fetchDownload(service.url, recipient.token, id, what);
}

/** Refused: a 500 INTEGRITY_FAILED before the body, or a body cut short (an error or fewer bytes than announced). */
function expectRefused(d: Download): void {
  if (d.status === 200) {
    expect(d.errored || (d.length !== null && d.body.length < d.length)).toBe(true);
  } else {
    expect([d.status, d.code]).toEqual([500, "INTEGRITY_FAILED"]);
  }
}

async function integrityEvents(id: string) {
  const res = await call(service.url, officer.token, "GET", `/v1/audit?file=${id}&action=file.integrity`);
  expect(res.status).toBe(200);
  return (res.body as { events: { action: string; outcome: string; actorId: string }[] }).events;
}

beforeAll(async () => {
  service = await startService();
  uploader = await addPrincipal(service, "uploader");
  recipient = await addPrincipal(service, "recipient");
  officer = await addPrincipal(service, "privacy");
});

afterAll(async () => {
  await service?.close();
});

/** The leaf block files of a dag-pb root, in file order: its links are raw CIDv1 sha2-256 (01 55 12 20 ‖ digest). */
function leavesInOrder(target: Stored): string[] {
  const root = readFileSync(target.root);
  const out: string[] = [];
  for (let at = root.indexOf(RAW_CID_PREFIX); at !== -1; at = root.indexOf(RAW_CID_PREFIX, at + 36)) {
    const cid = CID.decode(root.subarray(at, at + 36));
    const { dir, file } = new NextToLast().encode(cid);
    out.push(join(service.dataDir, "ipfs", "blocks", dir, file));
  }
  return out;
}
const RAW_CID_PREFIX = Buffer.from([0x01, 0x55, 0x12, 0x20]);

describe("a flipped byte in a stored block", () => {
  it("in the last leaf: the body is cut short after a true prefix, age too; audited; an untouched file still downloads", async () => {
    const good = await store(2 * MiB + 5, 1);
    const target = await store(3 * MiB + 100, 2);
    const leaves = leavesInOrder(target);
    expect(leaves.length).toBe(4);
    expect(new Set([...leaves, target.root])).toEqual(new Set(target.blocks));
    flipBitOnDisk(leaves[3] as string);

    const content = await download(target.id, "content");
    expect(content.status).toBe(200);
    expectRefused(content);
    expect(content.body.length).toBeLessThan(target.data.length);
    expect(target.data.subarray(0, content.body.length).equals(content.body)).toBe(true); // what came was a true prefix

    const events = await integrityEvents(target.id);
    expect(events.some((e) => e.outcome === "failed" && e.actorId === recipient.id)).toBe(true);

    const age = await download(target.id, "age");
    expectRefused(age);
    expect((await integrityEvents(target.id)).length).toBeGreaterThan(events.length);

    const fine = await download(good.id, "content");
    expect(fine.status).toBe(200);
    expect(fine.errored).toBe(false);
    expect(createHash("sha256").update(fine.body).digest()).toEqual(createHash("sha256").update(good.data).digest());
    expect(await integrityEvents(good.id)).toEqual([]);
  });

  it.each([
    ["the first leaf", (t: Stored) => leavesInOrder(t)[0] as string],
    ["the root block", (t: Stored) => t.root],
  ])("in %s: 500 INTEGRITY_FAILED before any byte of the body; audited", async (_label, pick) => {
    const target = await store(1.5 * MiB, 3);
    flipBitOnDisk(pick(target));
    const res = await fetch(`${service.url}/v1/files/${target.id}/content`, { headers: { authorization: `Bearer ${recipient.token}` } });
    expect(res.status).toBe(500);
    expect(res.headers.get("content-type")).toMatch(/^application\/json/);
    expect(res.headers.get("content-disposition")).toBeNull();
    expect(res.headers.get("repr-digest")).toBeNull();
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("INTEGRITY_FAILED");
    expect((await integrityEvents(target.id)).some((e) => e.outcome === "failed")).toBe(true);
  });

  it("in a one-block file (the root is the only leaf): 500 INTEGRITY_FAILED; audited", async () => {
    const target = await store(4000, 4);
    expect(target.blocks).toEqual([target.root]);
    flipBitOnDisk(target.root);
    const d = await download(target.id, "content");
    expect([d.status, d.code]).toEqual([500, "INTEGRITY_FAILED"]);
    expect((await integrityEvents(target.id)).some((e) => e.outcome === "failed")).toBe(true);
  });
});
