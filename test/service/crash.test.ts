/**
 * Crash safety (DESIGN.md "Upload, step by step"): a child `medvault serve` is killed with
 * SIGKILL while a large upload streams in, then restarted on the same data dir. The partial
 * file is not listed, its blocks are collected (exactly the acknowledged files' blocks are left),
 * and every acknowledged file downloads intact.
 */

import { createHash, randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bytes, tempDir } from "../crypto/helpers.ts";
import {
  addPrincipal,
  blockFiles,
  call,
  filesUnder,
  generated,
  multipartStream,
  newToken,
  type Principal,
  type Served,
  sleep,
  spawnServe,
  upload,
} from "./harness.ts";

const MiB = 1024 * 1024;

const data = tempDir("medvault-crash-");
const adminToken = newToken();
const running: Served[] = [];
let uploader: Principal;
let recipient: Principal;

async function serve(): Promise<Served> {
  const s = await spawnServe(data.path, adminToken);
  running.push(s);
  return s;
}

beforeAll(async () => {
  const s = await serve();
  const admin: Principal = { id: "", name: "admin", role: "admin", token: adminToken };
  uploader = await addPrincipal({ url: s.url, admin }, "uploader");
  recipient = await addPrincipal({ url: s.url, admin }, "recipient");
});

afterAll(async () => {
  for (const s of running) await s.stop("SIGKILL");
  data.remove();
});

describe("SIGKILL during a large upload", () => {
  it("restart: the partial file is not listed, its blocks are collected, acknowledged files download intact", async () => {
    let server = running[0] as Served;
    const acknowledged: { id: string; data: Buffer }[] = [];
    for (const [i, size] of [0, 1, 70_000, 2 * MiB + 3, 5 * MiB].entries()) {
      const body = bytes(size, 100 + i);
      const res = await upload(server.url, uploader.token, body, { name: `ack-${i}.bin`, recipients: [recipient.name] });
      expect(res.status).toBe(201);
      acknowledged.push({ id: res.file.id, data: body });
    }
    const ackBlocks = blockFiles(data.path);

    // 300 MiB generated on the fly; killed once a good part of it is on disk.
    const { body, contentType } = multipartStream(generated(300 * MiB, 3), {
      name: `partial-${randomBytes(4).toString("hex")}.bin`,
      recipients: [recipient.name],
    });
    const pending = fetch(`${server.url}/v1/files`, {
      method: "POST",
      headers: { authorization: `Bearer ${uploader.token}`, "content-type": contentType },
      body,
      duplex: "half",
    } as RequestInit).then(
      (res) => `answered ${res.status}`,
      () => "failed",
    );
    const deadline = Date.now() + 60_000;
    while (blockFiles(data.path).size < ackBlocks.size + 40) {
      if (Date.now() > deadline) throw new Error("the upload did not get going");
      await sleep(20);
    }
    expect(await server.stop("SIGKILL")).toBe(-1);
    expect(await pending).toBe("failed");
    const orphans = [...blockFiles(data.path)].filter((b) => !ackBlocks.has(b));
    expect(orphans.length).toBeGreaterThanOrEqual(40);

    server = await serve();
    const listed = await call(server.url, uploader.token, "GET", "/v1/files");
    expect(listed.status).toBe(200);
    expect((listed.body as { files: { id: string }[] }).files.map((f) => f.id).sort()).toEqual(acknowledged.map((f) => f.id).sort());

    // Collected at start-up: exactly the acknowledged files' blocks are left, and no temp files.
    expect(blockFiles(data.path)).toEqual(ackBlocks);
    expect(filesUnder(data.path).filter((p) => p.includes("/ipfs/blocks/") && !p.endsWith(".data"))).toEqual([]);

    for (const f of acknowledged) {
      const res = await fetch(`${server.url}/v1/files/${f.id}/content`, { headers: { authorization: `Bearer ${recipient.token}` } });
      expect(res.status).toBe(200);
      const got = Buffer.from(await res.arrayBuffer());
      expect(got.length).toBe(f.data.length);
      expect(createHash("sha256").update(got).digest()).toEqual(createHash("sha256").update(f.data).digest());
    }

    // And the restarted vault takes uploads again.
    const again = await upload(server.url, uploader.token, bytes(1000, 9), { recipients: [recipient.name] });
    expect(again.status).toBe(201);
    await server.stop("SIGTERM");
  });
});
