import { randomBytes } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { addPrincipal, type Fixture, forEachEngine, openFixture, uploadInput } from "./fixture.ts";

let fixture: Fixture;
afterEach(() => fixture?.cleanup());

const DAY = 86_400_000;
const T0 = Date.UTC(2030, 5, 1);

forEachEngine(() => {
  describe("uploads, listings and grants", () => {
    it("commits an upload with its headers, grants, audit event and commitment leaf", () => {
      fixture = openFixture();
      const { catalog } = fixture;
      const owner = addPrincipal(catalog, "uploader");
      const recipient = addPrincipal(catalog, "recipient");
      const input = uploadInput(owner, [recipient]);
      const file = catalog.commitUpload(input);
      expect(file).toMatchObject({ id: input.file.id, ownerId: owner.id, name: "scan.dcm", size: 1234, state: "active" });
      expect(Buffer.from(file.salt ?? [])).toEqual(Buffer.from(input.file.salt));
      expect(Buffer.from(catalog.header(file.id, "vault") ?? [])).toEqual(Buffer.from(input.vaultHeader));
      expect(Buffer.from(catalog.header(file.id, recipient.id) ?? [])).toEqual(Buffer.from(input.recipients[0]?.header ?? []));
      expect(catalog.grantsFor(file.id)).toEqual([
        {
          fileId: file.id,
          principalId: recipient.id,
          grantedBy: owner.id,
          createdAt: file.createdAt,
          expiresAt: null,
          revokedAt: null,
        },
      ]);
      const leaf = catalog.leafOf("file", file.id);
      expect(Buffer.from(leaf?.value ?? [])).toEqual(Buffer.from(input.file.commitment));
      const [event] = catalog.listEvents({ fileId: file.id });
      expect(event).toMatchObject({
        action: "file.upload",
        actorId: owner.id,
        detail: { size: 1234, mediaType: "application/dicom", recipients: [recipient.id] },
      });
      expect(catalog.referencedCids()).toEqual([input.file.payloadCid]);
    });

    it("refuses malformed uploads before writing anything", () => {
      fixture = openFixture();
      const { catalog } = fixture;
      const owner = addPrincipal(catalog, "uploader");
      const recipient = addPrincipal(catalog, "recipient");
      const cases = [
        uploadInput(owner, [], { id: "not-an-id" }),
        uploadInput(owner, [], { salt: randomBytes(31) }),
        uploadInput(owner, [], { plaintextSha256: "00" as never }),
        uploadInput(owner, [], { size: -1 }),
        uploadInput(owner, [], { name: "a\u0000b" }),
        uploadInput(owner, [], { mediaType: "text" }),
        uploadInput(owner, [], { payloadCid: "../../etc/passwd" }),
        uploadInput(owner, [], { expiresAt: new Date(Number.NaN) }),
        uploadInput(owner, [], { ownerId: "p_aaaaaaaaaaaaaaaaaaaaaaaaaa" }),
        { ...uploadInput(owner), vaultHeader: new Uint8Array(0) },
        { ...uploadInput(owner, [recipient, recipient]) },
      ];
      for (const input of cases) {
        expect(() => catalog.commitUpload(input)).toThrow(expect.objectContaining({ code: "BAD_REQUEST" }));
      }
      const file = catalog.commitUpload(uploadInput(owner));
      expect(() => catalog.commitUpload(uploadInput(owner, [], { id: file.id }))).toThrow(expect.objectContaining({ code: "CONFLICT" }));
      expect(catalog.stats().activeFiles).toBe(1);
    });

    it("lists a recipient's files only while their grant is in force, and never other owners' files", () => {
      let now = T0;
      fixture = openFixture({ now: () => new Date(now) });
      const { catalog } = fixture;
      const alice = addPrincipal(catalog, "uploader");
      const bob = addPrincipal(catalog, "uploader");
      const doc = addPrincipal(catalog, "recipient");
      const other = addPrincipal(catalog, "recipient");

      const open = catalog.commitUpload(uploadInput(alice, [doc]));
      const expiring = catalog.commitUpload({
        ...uploadInput(alice),
        recipients: [{ principalId: doc.id, header: randomBytes(50), expiresAt: new Date(T0 + DAY) }],
      });
      const inherited = catalog.commitUpload(uploadInput(alice, [doc], { expiresAt: new Date(T0 + 2 * DAY) }));
      const revoked = catalog.commitUpload(uploadInput(bob, [doc]));
      const notForDoc = catalog.commitUpload(uploadInput(bob, [other]));
      catalog.revoke({ fileId: revoked.id, principalId: doc.id, actorId: bob.id });
      expect(catalog.grantsFor(inherited.id)[0]?.expiresAt).toBe(new Date(T0 + 2 * DAY).toISOString());

      const ids = (files: { id: string }[]) => files.map((file) => file.id);
      expect(ids(catalog.listFiles({ recipientId: doc.id }))).toEqual([open.id, expiring.id, inherited.id]);
      expect(ids(catalog.listFiles({ recipientId: doc.id, now: new Date(T0 + DAY) }))).toEqual([open.id, inherited.id]);
      now = T0 + 3 * DAY;
      expect(ids(catalog.listFiles({ recipientId: doc.id }))).toEqual([open.id]);
      expect(catalog.activeGrant(expiring.id, doc.id)).toBeUndefined();
      expect(catalog.activeGrant(open.id, doc.id)?.principalId).toBe(doc.id);
      expect(catalog.activeGrant(revoked.id, doc.id)).toBeUndefined();

      expect(ids(catalog.listFiles({ ownerId: alice.id }))).toEqual([open.id, expiring.id, inherited.id]);
      expect(ids(catalog.listFiles({ ownerId: bob.id }))).toEqual([revoked.id, notForDoc.id]);
      expect(ids(catalog.listFiles({ ownerId: alice.id, recipientId: other.id }))).toEqual([]);
      expect(ids(catalog.listFiles({ recipientId: other.id }))).toEqual([notForDoc.id]);

      const page1 = catalog.listFiles({ limit: 2 });
      const page2 = catalog.listFiles({ limit: 2, afterId: page1[1]?.id ?? "" });
      const page3 = catalog.listFiles({ limit: 2, afterId: page2[1]?.id ?? "" });
      expect(ids([...page1, ...page2, ...page3])).toEqual([open.id, expiring.id, inherited.id, revoked.id, notForDoc.id]);
    });

    it("grant upserts the header and clears a revocation; revoke deletes the header; both are audited", () => {
      fixture = openFixture();
      const { catalog } = fixture;
      const owner = addPrincipal(catalog, "uploader");
      const doc = addPrincipal(catalog, "recipient");
      const file = catalog.commitUpload(uploadInput(owner));
      expect(catalog.listFiles({ recipientId: doc.id })).toEqual([]);

      const first = randomBytes(200);
      const granted = catalog.grant({ fileId: file.id, principalId: doc.id, header: first, actorId: owner.id });
      expect(granted.event).toMatchObject({ action: "file.grant", detail: { principal: doc.id, expiresAt: null } });
      expect(Buffer.from(catalog.header(file.id, doc.id) ?? [])).toEqual(first);

      const revoked = catalog.revoke({ fileId: file.id, principalId: doc.id, actorId: owner.id });
      expect(revoked.grant.revokedAt).not.toBeNull();
      expect(revoked.event).toMatchObject({ action: "file.revoke", detail: { principal: doc.id, headersDeleted: 1 } });
      expect(catalog.header(file.id, doc.id)).toBeUndefined();
      expect(catalog.listFiles({ recipientId: doc.id })).toEqual([]);
      // Revoking again is harmless and keeps the first revocation time.
      expect(catalog.revoke({ fileId: file.id, principalId: doc.id, actorId: owner.id }).grant.revokedAt).toBe(revoked.grant.revokedAt);

      const second = randomBytes(200);
      const expiresAt = new Date(Date.now() + DAY);
      const again = catalog.grant({ fileId: file.id, principalId: doc.id, header: second, expiresAt, actorId: owner.id });
      expect(again.grant).toMatchObject({ revokedAt: null, expiresAt: expiresAt.toISOString() });
      expect(Buffer.from(catalog.header(file.id, doc.id) ?? [])).toEqual(second);
      expect(catalog.listFiles({ recipientId: doc.id }).map((f) => f.id)).toEqual([file.id]);
      expect(catalog.grantsFor(file.id)).toHaveLength(1);

      expect(() =>
        catalog.grant({ fileId: "f_aaaaaaaaaaaaaaaaaaaaaaaaaa", principalId: doc.id, header: second, actorId: owner.id }),
      ).toThrow(expect.objectContaining({ code: "NOT_FOUND" }));
      expect(() =>
        catalog.grant({
          fileId: file.id,
          principalId: "p_aaaaaaaaaaaaaaaaaaaaaaaaaa",
          header: second,
          actorId: owner.id,
        }),
      ).toThrow(expect.objectContaining({ code: "NOT_FOUND" }));
      const stranger = addPrincipal(catalog, "recipient");
      expect(() => catalog.revoke({ fileId: file.id, principalId: stranger.id, actorId: owner.id })).toThrow(
        expect.objectContaining({ code: "NOT_FOUND" }),
      );
      expect(catalog.verifyAuditChain()).toMatchObject({ ok: true });
    });
  });
});
