/**
 * Secrets at rest and in answers (issue 7): after a first start (no MEDVAULT_ADMIN_TOKEN, so
 * admin.token is written) the data dir is 0700 and every key file and the catalog with its
 * -wal and -shm are 0600; the vault's age identity appears in no HTTP answer (status line,
 * headers, body) of a scenario touching every endpoint; CORS stays closed.
 */

import { randomBytes } from "node:crypto";
import { existsSync, readFileSync, statSync } from "node:fs";
import { request } from "node:http";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Running, readAdminToken, startServer } from "../../src/server.ts";
import { bytes, tempDir } from "../crypto/helpers.ts";
import { addPrincipal, type Principal, sleep } from "../service/harness.ts";

const dir = tempDir("medvault-secrets-");
let running: Running;
let admin: Principal;

/** Every answer of the scenario, as text: status, headers and body. */
const answers: string[] = [];

async function recorded(path: string, token: string | undefined, init: { method?: string; json?: unknown; body?: FormData } = {}) {
  const headers: Record<string, string> = {};
  if (token !== undefined) headers.authorization = `Bearer ${token}`;
  if (init.json !== undefined) headers["content-type"] = "application/json";
  const body = init.json !== undefined ? JSON.stringify(init.json) : init.body;
  const res = await fetch(`${running.url}${path}`, { method: init.method ?? "GET", headers, ...(body === undefined ? {} : { body }) });
  const data = Buffer.from(await res.arrayBuffer());
  const lines: string[] = [];
  res.headers.forEach((v, k) => {
    lines.push(`${k}: ${v}`);
  });
  answers.push(`${res.status} ${res.statusText}\n${lines.join("\n")}\n\n${data.toString("latin1")}`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(data.toString("utf8"));
  } catch {
    parsed = undefined;
  }
  return { status: res.status, body: parsed as Record<string, unknown> };
}

beforeAll(async () => {
  running = await startServer(
    {
      dataDir: join(dir.path, "vault"), // not there yet: created by the first start
      host: "127.0.0.1",
      port: 0,
      maxUploadBytes: 64 * 1024 * 1024,
      adminToken: undefined,
      webDir: undefined,
      logLevel: "silent",
    },
    { ...process.env, MEDVAULT_BATCH_MAX_MS: "200" },
  );
  const token = await readAdminToken(join(dir.path, "vault"));
  if (token === undefined) throw new Error("no admin.token after the first start");
  admin = { id: "", name: "admin", role: "admin", token };
});

afterAll(async () => {
  await running?.close();
  dir.remove();
});

const dataDir = () => join(dir.path, "vault");
const mode = (path: string) => statSync(path).mode & 0o777;

describe("secrets at rest", () => {
  it("the data dir is 0700; key files, admin.token and the catalog (with -wal, -shm) are 0600", async () => {
    // A write first, so that the WAL and its index exist.
    await addPrincipal({ url: running.url, admin }, "uploader");
    expect(mode(dataDir()).toString(8)).toBe("700");
    for (const name of [
      "vault-identity.txt",
      "admin.token",
      "anchorer.key",
      "catalog.sqlite",
      "catalog.sqlite-wal",
      "catalog.sqlite-shm",
    ]) {
      const path = join(dataDir(), name);
      expect(existsSync(path), `${name} exists`).toBe(true);
      expect(mode(path).toString(8), name).toBe("600");
    }
    expect(readFileSync(join(dataDir(), "vault-identity.txt"), "utf8")).toMatch(/AGE-SECRET-KEY-PQ-1/);
  });
});

describe("the vault's age identity never leaves the process", () => {
  it("appears in no answer of a scenario over every endpoint", async () => {
    const api = { url: running.url, admin };
    const uploader = await addPrincipal(api, "uploader");
    const recipient = await addPrincipal(api, "recipient");
    const other = await addPrincipal(api, "recipient");
    const officer = await addPrincipal(api, "privacy");
    const plain = async (path: string) => recorded(path, undefined);
    for (const path of ["/healthz", "/readyz", "/metrics", "/v1/openapi.json", "/v1/chain", "/v1/me", "/", "/nowhere"]) await plain(path);
    for (const p of [admin, uploader, recipient, officer]) await recorded("/v1/me", p.token);

    const ids: string[] = [];
    for (const size of [0, 1, 70_000]) {
      const form = new FormData();
      form.append("recipients", recipient.name);
      form.append("file", new Blob([bytes(size, size + 3) as Uint8Array<ArrayBuffer>]), `scan-${size}.bin`);
      const res = await recorded("/v1/files", uploader.token, { method: "POST", body: form });
      expect(res.status).toBe(201);
      ids.push(res.body.id as string);
    }
    const [first, second, third] = ids as [string, string, string];
    await recorded("/v1/files", uploader.token);
    await recorded("/v1/files?limit=1", recipient.token);
    for (const id of ids) {
      await recorded(`/v1/files/${id}`, uploader.token);
      await recorded(`/v1/files/${id}/content`, recipient.token);
      await recorded(`/v1/files/${id}/age`, recipient.token);
      await recorded(`/v1/files/${id}/age`, uploader.token);
    }
    expect((await recorded(`/v1/files/${first}/grants`, uploader.token, { method: "POST", json: { recipient: other.name } })).status).toBe(
      201,
    );
    expect((await recorded(`/v1/files/${first}/grants/${other.id}`, uploader.token, { method: "DELETE" })).status).toBe(200);
    // Receipts once the batch is anchored (a short batch window in this server).
    let receipt = await recorded(`/v1/files/${second}/receipt`, uploader.token);
    for (let i = 0; i < 100 && receipt.status === 409; i++) {
      await sleep(100);
      receipt = await recorded(`/v1/files/${second}/receipt`, uploader.token);
    }
    expect(receipt.status).toBe(200);
    const audit = await recorded("/v1/audit?limit=50", officer.token);
    expect(audit.status).toBe(200);
    const events = audit.body.events as { id: string }[];
    for (const e of events.slice(0, 3)) await recorded(`/v1/audit/${e.id}/proof`, officer.token);
    expect(
      (await recorded(`/v1/files/${third}/erasure`, officer.token, { method: "POST", json: { reason: "patient request" } })).status,
    ).toBe(200);
    await recorded(`/v1/files/${third}/content`, recipient.token);
    await recorded(`/v1/files/${third}/receipt`, uploader.token);
    // Error answers too: wrong ids, roles, bodies.
    await recorded(`/v1/files/f_${randomBytes(8).toString("hex")}`, uploader.token);
    await recorded(`/v1/files/${first}/erasure`, uploader.token, { method: "POST", json: { reason: "x" } });
    await recorded("/v1/principals", admin.token, {
      method: "POST",
      json: { name: "bad", role: "recipient", ageRecipient: "age1nonsense" },
    });
    await recorded("/v1/audit", uploader.token);

    const identity = readFileSync(join(dataDir(), "vault-identity.txt"), "utf8");
    const secret = identity.match(/AGE-SECRET-KEY-PQ-1[0-9A-Z]+/)?.[0];
    expect(secret).toBeDefined();
    const anchorerKey = readFileSync(join(dataDir(), "anchorer.key"), "utf8").trim().replace(/^0x/, "");
    expect(answers.length).toBeGreaterThan(40);
    const all = answers.join("\n").toLowerCase();
    expect(all.includes((secret as string).toLowerCase()), "the vault's age identity is in an answer").toBe(false);
    // The bech32 data part alone (a prefix-less copy would be as bad), and the anchorer's key.
    expect(all.includes((secret as string).slice("AGE-SECRET-KEY-PQ-1".length, 60).toLowerCase())).toBe(false);
    expect(all.includes(anchorerKey.toLowerCase()), "the anchorer key is in an answer").toBe(false);
    expect(all.includes(admin.token.toLowerCase()), "the admin token is in an answer").toBe(false);
  });
});

describe("CORS is closed", () => {
  function ask(
    method: string,
    path: string,
    headers: Record<string, string>,
  ): Promise<{ status: number; headers: Record<string, unknown> }> {
    const url = new URL(path, running.url);
    return new Promise((resolve, reject) => {
      const req = request(url, { method, headers }, (res) => {
        res.resume();
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
      });
      req.on("error", reject);
      req.end();
    });
  }
  const corsHeaders = (h: Record<string, unknown>) => Object.keys(h).filter((k) => k.startsWith("access-control-"));

  it("a preflight with an Origin gets no Access-Control-* header", async () => {
    for (const path of ["/v1/files", "/v1/me", "/v1/principals", "/healthz", "/v1/files/x/content"]) {
      const res = await ask("OPTIONS", path, {
        Origin: "https://evil.example",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type",
      });
      expect(res.status, path).toBeLessThan(500);
      expect(corsHeaders(res.headers), path).toEqual([]);
    }
  });

  it("GETs with an Origin get no Access-Control-Allow-Origin", async () => {
    for (const [path, token] of [
      ["/healthz", undefined],
      ["/v1/openapi.json", undefined],
      ["/v1/me", admin.token],
      ["/v1/files", admin.token],
    ] as const) {
      const headers: Record<string, string> = { Origin: "https://evil.example" };
      if (token !== undefined) headers.Authorization = `Bearer ${token}`;
      const res = await ask("GET", path, headers);
      expect(res.status, path).toBe(200);
      expect(corsHeaders(res.headers), path).toEqual([]);
    }
  });
});
