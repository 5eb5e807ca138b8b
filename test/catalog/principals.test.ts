import { createHash } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { isId } from "../../src/catalog/index.ts";
import { type Fixture, filesContaining, forEachEngine, openFixture } from "./fixture.ts";

let fixture: Fixture;
afterEach(() => fixture?.cleanup());

forEachEngine(() => {
  describe("principals and tokens", () => {
    it("finds a principal by its token, and by nothing else", () => {
      fixture = openFixture();
      const { catalog } = fixture;
      const { principal, token } = catalog.createPrincipal({
        name: "dr.house",
        role: "recipient",
        ageRecipient: "age1xq8h4cwcgg3ltzpzdlwm3uj2a0xsl5m3hyd0k3g3etvwwcnqxhcq8gf5fh",
      });
      expect(token).toMatch(/^mvt_[A-Za-z0-9_-]{43}$/);
      expect(isId(principal.id, "p")).toBe(true);
      expect(catalog.principalByToken(token)).toEqual(principal);
      expect(catalog.principalById(principal.id)).toEqual(principal);
      expect(catalog.principalByName("dr.house")).toEqual(principal);

      const wrong = `${token.slice(0, -1)}${token.endsWith("A") ? "B" : "A"}`;
      for (const guess of [wrong, `${token} `, token.slice(4), "", "x".repeat(100_000)]) {
        expect(catalog.principalByToken(guess)).toBeUndefined();
      }
    });

    it("never stores the token, only its SHA-256", () => {
      fixture = openFixture();
      const { token } = fixture.catalog.createPrincipal({ name: "clinic", role: "uploader" });
      const raw = Buffer.from(token.slice(4), "base64url");
      fixture.catalog.checkpoint();
      const hash = createHash("sha256").update(token).digest();
      expect(filesContaining(fixture, hash)).not.toEqual([]); // the scan does see stored bytes
      expect(filesContaining(fixture, token)).toEqual([]);
      expect(filesContaining(fixture, token.slice(4))).toEqual([]);
      expect(filesContaining(fixture, raw)).toEqual([]);
    });

    it("takes a given admin token on first start, and refuses weak or reused ones", () => {
      fixture = openFixture();
      const { catalog } = fixture;
      expect(catalog.countPrincipals()).toBe(0);
      const token = "operator-chosen-admin-token-0123456789";
      const admin = catalog.createPrincipalWithToken({ name: "admin", role: "admin", token });
      expect(catalog.principalByToken(token)?.id).toBe(admin.id);
      expect(catalog.countPrincipals()).toBe(1);
      expect(() => catalog.createPrincipalWithToken({ name: "admin2", role: "admin", token })).toThrow(
        expect.objectContaining({ code: "CONFLICT" }),
      );
      for (const weak of ["short", "has a space in it but is long enough..", "x".repeat(513)]) {
        expect(() => catalog.createPrincipalWithToken({ name: "admin3", role: "admin", token: weak })).toThrow(
          expect.objectContaining({ code: "BAD_REQUEST" }),
        );
      }
    });

    it("refuses duplicate names, names that look like ids, unknown roles and odd recipients", () => {
      fixture = openFixture();
      const { catalog } = fixture;
      catalog.createPrincipal({ name: "clinic", role: "uploader" });
      expect(() => catalog.createPrincipal({ name: "clinic", role: "recipient" })).toThrow(expect.objectContaining({ code: "CONFLICT" }));
      const bad = [
        { name: "p_aaaaaaaaaaaaaaaaaaaaaaaaaa", role: "uploader" },
        { name: "../etc", role: "uploader" },
        { name: "", role: "uploader" },
        { name: "ok", role: "root" },
        { name: "ok", role: "recipient", ageRecipient: "AGE-SECRET-KEY-1XYZ" },
      ] as const;
      for (const input of bad) {
        expect(() => catalog.createPrincipal(input as never)).toThrow(expect.objectContaining({ code: "BAD_REQUEST" }));
      }
      expect(catalog.listPrincipals().map((p) => p.name)).toEqual(["clinic"]);
    });

    it("a disabled principal's token stops working; creation and disabling are audited", () => {
      fixture = openFixture();
      const { catalog } = fixture;
      const admin = catalog.createPrincipalWithToken({ name: "admin", role: "admin", token: "a".repeat(40) });
      const { principal, token } = catalog.createPrincipal({ name: "clinic", role: "uploader", actorId: admin.id });
      const disabled = catalog.disablePrincipal({ id: principal.id, actorId: admin.id });
      expect(disabled.disabledAt).not.toBeNull();
      expect(catalog.principalByToken(token)).toBeUndefined();
      expect(catalog.principalById(principal.id)?.disabledAt).toBe(disabled.disabledAt);
      expect(() => catalog.disablePrincipal({ id: "p_zzzzzzzzzzzzzzzzzzzzzzzzzz" })).toThrow(
        expect.objectContaining({ code: "NOT_FOUND" }),
      );
      const events = catalog.listEvents({ actorId: admin.id });
      expect(events.map((event) => [event.action, event.detail])).toEqual([
        ["principal.create", { principal: principal.id, role: "uploader" }],
        ["principal.disable", { principal: principal.id }],
      ]);
    });
  });
});
