import { createHash } from "node:crypto";
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { canonicalJson } from "../../src/catalog/index.ts";
import { addPrincipal, type Fixture, forEachEngine, openFixture, uploadInput } from "./fixture.ts";

let fixture: Fixture;
afterEach(() => fixture?.cleanup());

describe("canonicalJson", () => {
  it("sorts keys recursively and drops whitespace", () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: null, y: true }], c: "é\n" } })).toBe(
      '{"a":{"c":"é\\n","d":[3,{"y":true,"z":null}]},"b":1}',
    );
    // UTF-16 code unit order, as RFC 8785.
    expect(canonicalJson({ "\u00e9": 1, z: 2, Z: 3 })).toBe('{"Z":3,"z":2,"é":1}');
    // U+1F600 is D83D DE00 in UTF-16, so it sorts before U+FB01 (code point order would not).
    expect(canonicalJson({ "\ufb01": 1, "\u{1f600}": 2 })).toBe('{"\u{1f600}":2,"\ufb01":1}');
    expect(canonicalJson([1.5, -0, 1e21, 1e-7])).toBe("[1.5,0,1e+21,1e-7]");
  });

  it("refuses what JSON cannot say exactly", () => {
    for (const value of [undefined, Number.NaN, Infinity, 1n, new Uint8Array(1), new Date(0), "\ud800", { a: undefined }]) {
      expect(() => canonicalJson(value)).toThrow(expect.objectContaining({ code: "BAD_REQUEST" }));
    }
  });

  it("is JSON that parses back to the same value, whatever the key order", () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const text = canonicalJson(value);
        expect(canonicalJson(JSON.parse(text))).toBe(text);
        expect(JSON.parse(text)).toEqual(JSON.parse(JSON.stringify(value)));
      }),
    );
  });
});

forEachEngine(() => {
  describe("the audit hash chain", () => {
    it("matches an independent computation of the documented bytes", () => {
      fixture = openFixture({ now: () => new Date("2031-02-03T04:05:06.789Z") });
      const { catalog } = fixture;
      const first = catalog.appendEvent({
        action: "file.read",
        outcome: "denied",
        fileId: "f_unknownunknownunknownunkn",
        detail: { z: [1, "two", null], a: { y: false, b: 1.25 } },
      });
      const json =
        '{"action":"file.read","actor":null,"at":"2031-02-03T04:05:06.789Z",' +
        '"detail":{"a":{"b":1.25,"y":false},"z":[1,"two",null]},' +
        `"fileId":"f_unknownunknownunknownunkn","id":"${first.id}","outcome":"denied"}`;
      const expected = createHash("sha256")
        .update(Buffer.from("medvault/audit/v1", "ascii"))
        .update(Buffer.alloc(32))
        .update(Buffer.from(json, "utf8"))
        .digest();
      expect(Buffer.from(first.prevHash)).toEqual(Buffer.alloc(32));
      expect(Buffer.from(first.eventHash)).toEqual(expected);

      const owner = addPrincipal(catalog, "uploader");
      const second = catalog.listEvents({ action: "principal.create" })[0];
      expect(second).toBeDefined();
      const json2 =
        `{"action":"principal.create","actor":null,"at":"2031-02-03T04:05:06.789Z",` +
        `"detail":{"principal":"${owner.id}","role":"uploader"},"fileId":null,"id":"${second?.id}","outcome":"ok"}`;
      const expected2 = createHash("sha256").update("medvault/audit/v1").update(expected).update(json2).digest();
      expect(Buffer.from(second?.prevHash ?? [])).toEqual(expected);
      expect(Buffer.from(second?.eventHash ?? [])).toEqual(expected2);
      // Each event hash is queued as an anchoring leaf.
      expect(Buffer.from(catalog.leafOf("event", first.id)?.value ?? [])).toEqual(expected);
    });

    it("verifies, and finds an edited detail at its seq", () => {
      fixture = openFixture();
      const { catalog } = fixture;
      const owner = addPrincipal(catalog, "uploader");
      const files = [0, 1, 2].map(() => catalog.commitUpload(uploadInput(owner)));
      catalog.eraseFile({ fileId: files[1]?.id ?? "", actorId: owner.id, reason: "ticket 12" });
      const check = catalog.verifyAuditChain();
      expect(check).toMatchObject({ ok: true, count: 5 });

      const erasure = catalog.listEvents({ action: "file.erase" })[0];
      expect(erasure).toBeDefined();
      fixture.sql("UPDATE audit SET detail = ? WHERE seq = ?", '{"reason":"nothing happened"}', erasure?.seq ?? 0);
      expect(catalog.verifyAuditChain()).toEqual({ ok: false, seq: erasure?.seq, reason: "event_hash" });

      // Putting the original bytes back makes it whole again: the check is on content, not on edits.
      fixture.sql(
        "UPDATE audit SET detail = ? WHERE seq = ?",
        '{"grantsRevoked":0,"headersDeleted":1,"reason":"ticket 12"}',
        erasure?.seq ?? 0,
      );
      expect(catalog.verifyAuditChain()).toMatchObject({ ok: true });
    });

    it("finds a deleted event and a rewritten link", () => {
      fixture = openFixture();
      const { catalog } = fixture;
      for (let i = 0; i < 6; i++) catalog.appendEvent({ action: "test.tick", outcome: "ok", detail: { i } });
      fixture.sql("DELETE FROM audit WHERE seq = 3");
      expect(catalog.verifyAuditChain()).toEqual({ ok: false, seq: 4, reason: "prev_hash" });
      fixture.sql("UPDATE audit SET prev_hash = (SELECT event_hash FROM audit WHERE seq = 2) WHERE seq = 4");
      expect(catalog.verifyAuditChain()).toEqual({ ok: false, seq: 4, reason: "event_hash" });
    });

    it("finds a dropped newest event by its orphaned leaf", () => {
      fixture = openFixture();
      const { catalog } = fixture;
      for (let i = 0; i < 3; i++) catalog.appendEvent({ action: "test.tick", outcome: "ok", detail: { i } });
      fixture.sql("DELETE FROM audit WHERE seq = 3");
      expect(catalog.verifyAuditChain()).toEqual({ ok: false, seq: 3, reason: "leaf" });
    });

    it("refuses detail that carries tokens, keys, salts, headers or file names", () => {
      fixture = openFixture();
      const { catalog } = fixture;
      const { token } = catalog.createPrincipal({ name: "clinic", role: "uploader" });
      const bad = [
        { token: "abc" },
        { fileName: "jane-doe-mri.dcm" },
        { nested: [{ file_key: "00" }] },
        { salt: "00" },
        { Header: "x" },
        { note: `bearer ${token}` },
        { note: "AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQ" },
        { big: "x".repeat(9000) },
      ];
      for (const detail of bad) {
        expect(() => catalog.appendEvent({ action: "test.bad", outcome: "ok", detail })).toThrow(
          expect.objectContaining({ code: "BAD_REQUEST" }),
        );
      }
      for (const action of ["", "Upload", "file..read", "file read"]) {
        expect(() => catalog.appendEvent({ action, outcome: "ok" })).toThrow(expect.objectContaining({ code: "BAD_REQUEST" }));
      }
      expect(() => catalog.appendEvent({ action: "a.b", outcome: "maybe" as never })).toThrow(
        expect.objectContaining({ code: "BAD_REQUEST" }),
      );
      expect(() => catalog.appendEvent({ action: "a.b", outcome: "ok", actorId: "p_nobodynobodynobodynobodyn" })).toThrow(
        expect.objectContaining({ code: "BAD_REQUEST" }),
      );
      expect(catalog.verifyAuditChain()).toMatchObject({ ok: true, count: 1 });
    });

    it("lists by file, actor and action, pages by seq, and gets by id", () => {
      fixture = openFixture();
      const { catalog } = fixture;
      const owner = addPrincipal(catalog, "uploader");
      const recipient = addPrincipal(catalog, "recipient");
      const file = catalog.commitUpload(uploadInput(owner, [recipient]));
      catalog.appendEvent({ actorId: recipient.id, action: "file.read", fileId: file.id, outcome: "ok" });
      catalog.revoke({ fileId: file.id, principalId: recipient.id, actorId: owner.id });
      catalog.appendEvent({ actorId: recipient.id, action: "file.read", fileId: file.id, outcome: "denied" });

      const forFile = catalog.listEvents({ fileId: file.id });
      expect(forFile.map((e) => `${e.action}:${e.outcome}`)).toEqual([
        "file.upload:ok",
        "file.read:ok",
        "file.revoke:ok",
        "file.read:denied",
      ]);
      expect(catalog.listEvents({ actorId: recipient.id, action: "file.read" })).toHaveLength(2);
      const page1 = catalog.listEvents({ limit: 2 });
      const page2 = catalog.listEvents({ limit: 2, afterSeq: page1[1]?.seq ?? 0 });
      expect([...page1, ...page2].map((e) => e.seq)).toEqual([1, 2, 3, 4]);
      const some = forFile[2];
      expect(some && catalog.getEvent(some.id)).toEqual(some);
      expect(catalog.getEvent("e_nonenonenonenonenonenonene")).toBeUndefined();
    });
  });
});
