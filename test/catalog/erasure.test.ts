import { randomBytes } from "node:crypto";
import { DatabaseSync } from "node:sqlite";
import { afterEach, describe, expect, it } from "vitest";
import type { Catalog, FileRecord, Principal } from "../../src/catalog/index.ts";
import { PostgresDb } from "../../src/catalog/postgres/db.ts";
import { addPrincipal, databaseFiles, type Fixture, forEachEngine, openFixture, uploadInput, useEngine } from "./fixture.ts";

let fixture: Fixture;
afterEach(() => fixture?.cleanup());

/**
 * How many 16-byte pieces of `secret` appear in the database files. Whole-value search would
 * miss a header split across overflow pages, so every aligned piece is looked for.
 */
function leakedPieces(fixture: Fixture, secret: Uint8Array): number {
  const files = databaseFiles(fixture);
  let found = 0;
  for (let offset = 0; offset + 16 <= secret.length; offset += 16) {
    const piece = Buffer.from(secret.subarray(offset, offset + 16));
    if (files.some(({ bytes }) => bytes.includes(piece))) found++;
  }
  return found;
}

interface Stored {
  file: FileRecord;
  secrets: Uint8Array[];
}

/** An upload whose headers (small, hybrid-PQ-sized and overflowing a page) and salt are recognisable. */
function upload(catalog: Catalog, owner: Principal, recipients: Principal[]): Stored {
  const input = uploadInput(owner, recipients, { name: `patient-${randomBytes(8).toString("hex")}.dcm` });
  const sizes = [180, 2_400, 6_000];
  input.recipients = recipients.map((recipient, i) => ({
    principalId: recipient.id,
    header: randomBytes(sizes[i % sizes.length] ?? 180),
  }));
  const file = catalog.commitUpload(input);
  return {
    file,
    secrets: [input.vaultHeader, ...input.recipients.map((r) => r.header), input.file.salt, input.file.plaintextSha256],
  };
}

forEachEngine(() => {
  describe("eraseFile (crypto-shredding)", () => {
    it("leaves none of the file's header bytes or salt in the db, -wal or -shm files", () => {
      fixture = openFixture();
      const { catalog } = fixture;
      const owner = addPrincipal(catalog, "uploader");
      const officer = addPrincipal(catalog, "privacy");
      const recipients = [0, 1, 2].map(() => addPrincipal(catalog, "recipient"));
      const before = upload(catalog, owner, recipients);
      const target = upload(catalog, owner, recipients);
      const after = upload(catalog, owner, recipients);

      for (const secret of target.secrets) expect(leakedPieces(fixture, secret)).toBeGreaterThan(0);

      const erasure = catalog.eraseFile({
        fileId: target.file.id,
        actorId: officer.id,
        reason: "GDPR art. 17, ticket 881",
      });
      expect(erasure.destroyed).toEqual({ headers: 4, salt: true, name: true, plaintextSha256: true, grants: 3 });
      expect(erasure.walTruncated).toBe(true);
      expect(erasure.payloadCid).toBe(target.file.payloadCid);
      expect(erasure.event).toMatchObject({
        action: "file.erase",
        fileId: target.file.id,
        actorId: officer.id,
        outcome: "ok",
      });

      // While the catalog is still open: nothing in any of the three files.
      for (const secret of target.secrets) expect(leakedPieces(fixture, secret)).toBe(0);
      expect(databaseFiles(fixture).some(({ bytes }) => bytes.includes(target.file.name ?? "-"))).toBe(false);

      // The neighbours sharing those pages are intact.
      for (const stored of [before, after]) {
        expect(catalog.getFile(stored.file.id)).toEqual(stored.file);
        expect(Buffer.from(catalog.header(stored.file.id, "vault") ?? [])).toEqual(Buffer.from(stored.secrets[0] ?? []));
      }

      const erased = catalog.getFile(target.file.id);
      expect(erased).toMatchObject({
        state: "erased",
        salt: null,
        name: null,
        plaintextSha256: null,
        erasedAt: erasure.erasedAt,
      });
      expect(catalog.header(target.file.id, "vault")).toBeUndefined();
      for (const recipient of recipients) {
        expect(catalog.header(target.file.id, recipient.id)).toBeUndefined();
        expect(catalog.activeGrant(target.file.id, recipient.id)).toBeUndefined();
      }
      expect(catalog.grantsFor(target.file.id).every((grant) => grant.revokedAt === erasure.erasedAt)).toBe(true);
      expect(catalog.referencedCids()).toEqual([target.file.payloadCid]); // the others share the fixture CID
      expect(catalog.listFiles().map((f) => f.id)).toEqual([before.file.id, after.file.id]);
      expect(catalog.listFiles({ includeErased: true })).toHaveLength(3);
      // The erasure event is queued for anchoring, and the chain still verifies.
      expect(Buffer.from(catalog.leafOf("event", erasure.event.id)?.value ?? [])).toEqual(Buffer.from(erasure.event.eventHash));
      expect(catalog.verifyAuditChain()).toMatchObject({ ok: true });

      fixture.reopen();
      for (const secret of target.secrets) expect(leakedPieces(fixture, secret)).toBe(0);
    });

    it("answers GONE on a second erasure and NOT_FOUND for an unknown file; grants on erased files are GONE", () => {
      fixture = openFixture();
      const { catalog } = fixture;
      const owner = addPrincipal(catalog, "uploader");
      const recipient = addPrincipal(catalog, "recipient");
      const { file } = upload(catalog, owner, [recipient]);
      catalog.eraseFile({ fileId: file.id, actorId: owner.id, reason: "request" });
      const events = catalog.stats().auditEvents;
      expect(() => catalog.eraseFile({ fileId: file.id, actorId: owner.id, reason: "again" })).toThrow(
        expect.objectContaining({ code: "GONE" }),
      );
      expect(() => catalog.eraseFile({ fileId: "f_aaaaaaaaaaaaaaaaaaaaaaaaaa", actorId: owner.id, reason: "x" })).toThrow(
        expect.objectContaining({ code: "NOT_FOUND" }),
      );
      expect(() => catalog.grant({ fileId: file.id, principalId: recipient.id, header: randomBytes(10), actorId: owner.id })).toThrow(
        expect.objectContaining({ code: "GONE" }),
      );
      expect(() => catalog.revoke({ fileId: file.id, principalId: recipient.id, actorId: owner.id })).toThrow(
        expect.objectContaining({ code: "GONE" }),
      );
      expect(catalog.stats().auditEvents).toBe(events);
    });
  });
});

describe("eraseFile when the deleted bytes cannot leave at once", () => {
  it("on sqlite: reports an untruncated WAL while another reader holds it, and a later checkpoint finishes the job", () => {
    fixture = openFixture();
    const { catalog } = fixture;
    const owner = addPrincipal(catalog, "uploader");
    const target = upload(catalog, owner, [addPrincipal(catalog, "recipient")]);
    const reader = new DatabaseSync(fixture.path);
    reader.exec("BEGIN");
    reader.prepare("SELECT count(*) FROM files").get();
    const erasure = catalog.eraseFile({ fileId: target.file.id, actorId: owner.id, reason: "request" });
    expect(erasure.walTruncated).toBe(false);
    reader.exec("COMMIT");
    reader.close();
    expect(catalog.checkpoint().busy).toBe(false);
    for (const secret of target.secrets) expect(leakedPieces(fixture, secret)).toBe(0);
  });

  it("on postgres: reports busy while another session reads the tables, and a later checkpoint rewrites them", () => {
    useEngine("postgres");
    fixture = openFixture();
    const { catalog } = fixture;
    const owner = addPrincipal(catalog, "uploader");
    const target = upload(catalog, owner, [addPrincipal(catalog, "recipient")]);
    const reader = new PostgresDb({ url: fixture.path });
    try {
      reader.exec("BEGIN");
      reader.get("SELECT count(*) AS n FROM headers");
      const erasure = catalog.eraseFile({ fileId: target.file.id, actorId: owner.id, reason: "request" });
      expect(erasure.walTruncated).toBe(false);
      expect(leakedPieces(fixture, target.secrets[0] ?? new Uint8Array())).toBeGreaterThan(0); // still in the old table file
      reader.exec("COMMIT");
    } finally {
      reader.close();
    }
    expect(catalog.checkpoint().busy).toBe(false);
    for (const secret of target.secrets) expect(leakedPieces(fixture, secret)).toBe(0);
  });
});
