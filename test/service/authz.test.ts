/**
 * The authorization matrix of src/vault/policy.ts on the real service: each role (and no token,
 * a bad token) × each endpoint × an own and a foreign file, expired and revoked grants, erased
 * files. Files a caller may not see answer 404 NOT_FOUND (as for a file that does not exist),
 * files it sees but may not act on 403 FORBIDDEN, no or a bad token 401. Denials are audited;
 * repeated failed authentication is rate limited (429).
 */

import { bech32 } from "@scure/base";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bytes } from "../crypto/helpers.ts";
import { type Answer, addPrincipal, call, newToken, type Principal, type Service, sleep, startService, upload } from "./harness.ts";

let service: Service;
let upA: Principal; // owns fileA
let upB: Principal; // owns fileB
let recA: Principal; // granted fileA
let recB: Principal; // granted fileB
let spare: Principal; // target of grant and revoke calls
let privacy: Principal;
let admin: Principal;
let fileA: string;
let fileB: string;
let fileE: string; // erased by the privacy officer
const MISSING = "f_doesnotexist000000000000";

beforeAll(async () => {
  service = await startService();
  admin = service.admin;
  [upA, upB, recA, recB, spare, privacy] = await Promise.all([
    addPrincipal(service, "uploader"),
    addPrincipal(service, "uploader"),
    addPrincipal(service, "recipient"),
    addPrincipal(service, "recipient"),
    addPrincipal(service, "recipient"),
    addPrincipal(service, "privacy"),
  ]);
  fileA = (await upload(service.url, upA.token, bytes(1000, 1), { name: "a.bin", recipients: [recA.name] })).file.id;
  fileB = (await upload(service.url, upB.token, bytes(1000, 2), { name: "b.bin", recipients: [recB.name] })).file.id;
  fileE = (await upload(service.url, upA.token, bytes(1000, 3), { name: "e.bin", recipients: [recA.name] })).file.id;
});

afterAll(async () => {
  await service?.close();
});

type Endpoint = { name: string; method: string; path: (id: string) => string; body?: unknown };

const fileEndpoints: Endpoint[] = [
  { name: "metadata", method: "GET", path: (id) => `/v1/files/${id}` },
  { name: "content", method: "GET", path: (id) => `/v1/files/${id}/content` },
  { name: "age", method: "GET", path: (id) => `/v1/files/${id}/age` },
  { name: "receipt", method: "GET", path: (id) => `/v1/files/${id}/receipt` },
  { name: "grant", method: "POST", path: (id) => `/v1/files/${id}/grants`, body: "grant" },
  { name: "revoke", method: "DELETE", path: (id) => `/v1/files/${id}/grants/${spare.id}` },
  { name: "erase", method: "POST", path: (id) => `/v1/files/${id}/erasure`, body: { reason: "matrix" } },
];

/** What an answer means for the matrix: "ok" (the action went through), or the error code. */
function outcome(endpoint: string, res: Answer): string {
  if (endpoint === "receipt" && (res.code === "UNSUPPORTED" || res.code === "PENDING" || res.status === 200)) return "ok"; // allowed; anchoring not wired in yet
  if (res.status >= 200 && res.status < 300) return "ok";
  const expected: Record<string, number> = { UNAUTHORIZED: 401, FORBIDDEN: 403, NOT_FOUND: 404, GONE: 410, RATE_LIMITED: 429 };
  return res.code !== undefined && expected[res.code] === res.status ? res.code : `${res.status} ${res.code}`;
}

async function attempt(who: Principal | undefined, e: Endpoint, id: string): Promise<string> {
  const body = e.body === "grant" ? { recipient: spare.name } : e.body;
  if (e.name === "revoke" && who === upA && id === fileA) {
    // Something to revoke: the owner grants first.
    expect((await call(service.url, upA.token, "POST", `/v1/files/${fileA}/grants`, { recipient: spare.id })).status).toBe(201);
  }
  return outcome(e.name, await call(service.url, who?.token, e.method, e.path(id), body));
}

const O = "ok";
const F = "FORBIDDEN";
const N = "NOT_FOUND";

describe("file endpoints: role × own / foreign file", () => {
  // [role, endpoint] → [own (fileA: owned by upA, granted to recA), foreign (fileB)]
  const table: Record<string, Record<string, [string, string]>> = {
    uploader: { metadata: [O, N], content: [F, N], age: [F, N], receipt: [O, N], grant: [O, N], revoke: [O, N], erase: [F, N] },
    recipient: { metadata: [O, N], content: [O, N], age: [O, N], receipt: [O, N], grant: [F, N], revoke: [F, N], erase: [F, N] },
    privacy: { metadata: [O, O], content: [F, F], age: [F, F], receipt: [O, O], grant: [F, F], revoke: [F, F], erase: ["-", "-"] },
    admin: { metadata: [O, O], content: [F, F], age: [F, F], receipt: [F, F], grant: [F, F], revoke: [F, F], erase: [F, F] },
  };
  const who = (role: string): Principal => ({ uploader: upA, recipient: recA, privacy, admin })[role] as Principal;

  it.each(Object.keys(table))("%s", async (role) => {
    const got: Record<string, [string, string]> = {};
    const want: Record<string, [string, string]> = {};
    for (const e of fileEndpoints) {
      const expected = table[role]?.[e.name] as [string, string];
      if (expected[0] === "-") continue; // the officer's erasure is checked below, on its own file
      want[e.name] = expected;
      got[e.name] = [await attempt(who(role), e, fileA), await attempt(who(role), e, fileB)];
    }
    expect(got).toEqual(want);
    // A file that does not exist looks exactly like a foreign one.
    const missing: Record<string, string> = {};
    for (const e of fileEndpoints) missing[e.name] = await attempt(who(role), e, MISSING);
    expect(missing).toEqual(Object.fromEntries(fileEndpoints.map((e) => [e.name, N])));
  });
});

describe("no token, a bad token; the failed-auth limit", () => {
  it("401 UNAUTHORIZED everywhere, before any file lookup; the 21st failure from an address is 429 RATE_LIMITED", async () => {
    // Own server: these failures count towards this address's limit (20 a minute by default).
    const fresh = await startService();
    try {
      const owner = await addPrincipal(fresh, "uploader");
      const reader = await addPrincipal(fresh, "recipient");
      const id = (await upload(fresh.url, owner.token, bytes(100, 9), { recipients: [reader.name] })).file.id;
      const others: Endpoint[] = [
        { name: "list", method: "GET", path: () => "/v1/files" },
        { name: "upload", method: "POST", path: () => "/v1/files" },
        { name: "principals", method: "POST", path: () => "/v1/principals", body: { name: "x", role: "admin" } },
        { name: "audit", method: "GET", path: () => "/v1/audit" },
      ];
      const bad = newToken();
      const tries: [string | undefined, Endpoint][] = [
        ...[...fileEndpoints, ...others].map((e): [undefined, Endpoint] => [undefined, e]),
        ...[...fileEndpoints, ...others.slice(0, 2)].map((e): [string, Endpoint] => [bad, e]),
      ];
      expect(tries.length).toBe(20);
      const got: string[] = [];
      for (const [token, e] of tries) {
        const body = e.body === "grant" ? { recipient: reader.name } : e.body;
        got.push(
          `${token === undefined ? "none" : "bad"} ${e.name} ${outcome(e.name, await call(fresh.url, token, e.method, e.path(id), body))}`,
        );
      }
      expect(got).toEqual(tries.map(([token, e]) => `${token === undefined ? "none" : "bad"} ${e.name} UNAUTHORIZED`));
      // A malformed Authorization header is no better.
      const basic = await fetch(`${fresh.url}/v1/files`, { headers: { authorization: "Basic YWRtaW46YWRtaW4=" } });
      expect(basic.status).toBe(429);
      expect(outcome("list", await call(fresh.url, newToken(), "GET", "/v1/files"))).toBe("RATE_LIMITED");
      // The limit is per address, so even a good token from it waits.
      expect(outcome("list", await call(fresh.url, fresh.admin.token, "GET", "/v1/files"))).toBe("RATE_LIMITED");
      // Unauthenticated endpoints stay up.
      expect((await call(fresh.url, undefined, "GET", "/healthz")).status).toBe(200);
      // Even a recipient reading its own file.
      expect((await call(fresh.url, reader.token, "GET", `/v1/files/${id}`)).status).toBe(429);
    } finally {
      await fresh.close();
    }
  });
});

describe("service endpoints: role × endpoint", () => {
  it("list, upload, principals, audit", async () => {
    const roles: [string, Principal | undefined][] = [
      ["uploader", upA],
      ["recipient", recA],
      ["privacy", privacy],
      ["admin", admin],
    ];
    const got: Record<string, string[]> = {};
    for (const [role, p] of roles) {
      const token = p?.token;
      const list = await call(service.url, token, "GET", "/v1/files");
      const listed = ((list.body as { files?: { id: string }[] }).files ?? []).map((f) => f.id);
      const up = await upload(service.url, token as string, bytes(10, 4), { recipients: [recA.name] });
      const principal = await call(service.url, token, "POST", "/v1/principals", { name: `made-by-${role}`, role: "privacy" });
      const audit = await call(service.url, token, "GET", "/v1/audit?limit=5");
      got[role] = [
        outcome("list", list),
        `A:${listed.includes(fileA)} B:${listed.includes(fileB)}`,
        outcome("upload", up),
        outcome("principals", principal),
        outcome("audit", audit),
      ];
    }
    expect(got).toEqual({
      uploader: [O, "A:true B:false", O, F, F],
      recipient: [O, "A:true B:false", F, F, F],
      privacy: [O, "A:true B:true", F, F, O],
      admin: [O, "A:true B:true", F, O, O],
    });
  });

  it("a recipient's age key is checked when the principal is made: 400 INVALID_KEY, and no principal", async () => {
    // A malformed string, and a well-formed X25519 point of small order (every shared secret with it is zero).
    const lowOrder = bech32.encodeFromBytes("age", new Uint8Array(32));
    for (const ageRecipient of ["age1notakey", lowOrder]) {
      const name = `bad-key-${newToken().slice(0, 8)}`;
      const made = await call(service.url, admin.token, "POST", "/v1/principals", { name, role: "recipient", ageRecipient });
      expect([made.status, made.code]).toEqual([400, "INVALID_KEY"]);
      const up = await upload(service.url, upA.token, bytes(10, 5), { recipients: [name] });
      expect(up.status).toBeGreaterThanOrEqual(400);
      expect(up.status).toBeLessThan(500);
    }
  });

  it("health, readiness, metrics and the OpenAPI document need no token", async () => {
    for (const path of ["/healthz", "/readyz", "/metrics", "/v1/openapi.json"]) {
      const res = await fetch(`${service.url}${path}`);
      expect([path, res.status]).toEqual([path, 200]);
      await res.arrayBuffer();
    }
  });
});

describe("grants in force, expired, revoked; erased files", () => {
  it("a grant that expired, through the upload's expiresAt or the grant's, hides the file (404)", async () => {
    const late = await addPrincipal(service, "recipient");
    const latePerGrant = await addPrincipal(service, "recipient");
    const expiresAt = new Date(Date.now() + 1500).toISOString();
    const up = await upload(service.url, upA.token, bytes(500, 5), { recipients: [late.name], expiresAt });
    expect(up.status).toBe(201);
    const granted = await call(service.url, upA.token, "POST", `/v1/files/${fileA}/grants`, { recipient: latePerGrant.name, expiresAt });
    expect(granted.status).toBe(201);

    const reads = async (p: Principal, id: string) => {
      const out: string[] = [];
      for (const e of fileEndpoints.slice(0, 4)) out.push(await attempt(p, e, id));
      const listed = (await call(service.url, p.token, "GET", "/v1/files")).body as { files: { id: string }[] };
      out.push(listed.files.some((f) => f.id === id) ? "listed" : "unlisted");
      return out;
    };
    expect(await reads(late, up.file.id)).toEqual([O, O, O, O, "listed"]);
    expect(await reads(latePerGrant, fileA)).toEqual([O, O, O, O, "listed"]);
    await sleep(Math.max(0, Date.parse(expiresAt) - Date.now()) + 200);
    expect(await reads(late, up.file.id)).toEqual([N, N, N, N, "unlisted"]);
    expect(await reads(latePerGrant, fileA)).toEqual([N, N, N, N, "unlisted"]);
    // Its owner still sees it.
    expect(outcome("metadata", await call(service.url, upA.token, "GET", `/v1/files/${up.file.id}`))).toBe(O);
  });

  it("a revoked grant hides the file (404); granting again restores it", async () => {
    const gone = await addPrincipal(service, "recipient");
    expect((await call(service.url, upA.token, "POST", `/v1/files/${fileA}/grants`, { recipient: gone.name })).status).toBe(201);
    expect(await attempt(gone, fileEndpoints[1] as Endpoint, fileA)).toBe(O);
    expect((await call(service.url, upA.token, "DELETE", `/v1/files/${fileA}/grants/${gone.name}`)).status).toBe(200);
    for (const e of fileEndpoints.slice(0, 4)) expect([e.name, await attempt(gone, e, fileA)]).toEqual([e.name, N]);
    expect((await call(service.url, upA.token, "POST", `/v1/files/${fileA}/grants`, { recipient: gone.id })).status).toBe(201);
    expect(await attempt(gone, fileEndpoints[2] as Endpoint, fileA)).toBe(O);
  });

  it("the privacy officer erases; then content and age are GONE for the recipient, and nothing more can be done", async () => {
    const erased = await call(service.url, privacy.token, "POST", `/v1/files/${fileE}/erasure`, { reason: "matrix" });
    expect(erased.status).toBe(200);
    const after: Record<string, string> = {};
    for (const e of fileEndpoints) after[`recipient ${e.name}`] = await attempt(recA, e, fileE);
    for (const e of fileEndpoints) after[`uploader ${e.name}`] = await attempt(upA, e, fileE);
    after["privacy erase"] = await attempt(privacy, fileEndpoints[6] as Endpoint, fileE);
    after["privacy receipt"] = await attempt(privacy, fileEndpoints[3] as Endpoint, fileE);
    expect(after).toEqual({
      "recipient metadata": O,
      "recipient content": "GONE",
      "recipient age": "GONE",
      "recipient receipt": "GONE",
      "recipient grant": F,
      "recipient revoke": F,
      "recipient erase": F,
      "uploader metadata": O,
      "uploader content": F,
      "uploader age": F,
      "uploader receipt": "GONE",
      "uploader grant": "GONE",
      "uploader revoke": "GONE",
      "uploader erase": F,
      "privacy erase": "GONE",
      "privacy receipt": "GONE",
    });
  });
});

describe("denials are audited", () => {
  it("the privacy officer sees the recipient's and the admin's denied attempts", async () => {
    const events = async (query: string) =>
      (
        (await call(service.url, privacy.token, "GET", `/v1/audit?${query}&limit=10000`)).body as {
          events: { action: string; outcome: string; fileId: string | null; actorId: string | null; detail: Record<string, unknown> }[];
        }
      ).events;
    const byRecipient = await events(`actor=${recA.id}`);
    const denied = byRecipient.filter((e) => e.outcome === "denied");
    // Not visible (fileB, a missing id): no file id is linked; visible but forbidden: the file is named.
    expect(denied.some((e) => e.action === "file.read" && e.detail.reason === "not_found")).toBe(true);
    expect(denied.some((e) => e.action === "file.grant" && e.fileId === fileA && e.detail.reason === "forbidden")).toBe(true);
    expect(denied.some((e) => e.action === "file.erase" && e.fileId === fileA)).toBe(true);
    expect(denied.some((e) => e.action === "file.read" && e.fileId === fileE && e.detail.reason === "erased")).toBe(true);

    const onA = await events(`file=${fileA}`);
    expect(onA.some((e) => e.actorId === admin.id && e.action === "file.read" && e.outcome === "denied")).toBe(true);
    expect(onA.some((e) => e.actorId === privacy.id && e.action === "file.age" && e.outcome === "denied")).toBe(true);
    expect(onA.some((e) => e.actorId === upB.id)).toBe(false); // upB never touched it
  });

  it("role denials outside files are audited too (upload, principals, audit)", async () => {
    const events = (
      (await call(service.url, privacy.token, "GET", "/v1/audit?limit=10000")).body as {
        events: { action: string; outcome: string; actorId: string | null }[];
      }
    ).events.filter((e) => e.outcome === "denied");
    const actions = (who: Principal) => new Set(events.filter((e) => e.actorId === who.id).map((e) => e.action));
    expect(actions(recA)).toContain("file.upload");
    expect(actions(upA)).toContain("principal.create");
    expect(actions(upA)).toContain("audit.read");
  });
});
