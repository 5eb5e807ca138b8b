import { statSync } from "node:fs";
import { DatabaseSync } from "node:sqlite";
import { afterEach, describe, expect, it } from "vitest";
import { SqliteDb as Db } from "../../src/catalog/db.ts";
import { type Migration, migrate, migrations } from "../../src/catalog/migrations.ts";
import { isVaultError } from "../../src/errors.ts";
import { addPrincipal, type Fixture, openFixture, tableCounts, uploadInput } from "./fixture.ts";

let fixture: Fixture;
afterEach(() => fixture?.cleanup());

describe("settings and migrations", () => {
  it("opens with WAL, synchronous FULL, secure_delete and foreign keys, owner-only", () => {
    fixture = openFixture();
    const db = new DatabaseSync(fixture.path);
    // journal_mode is persistent in the file; the others are per connection, so read them from
    // the catalog's own connection through a migration-free Db on the same file.
    expect(db.prepare("PRAGMA journal_mode").get()?.journal_mode).toBe("wal");
    db.close();
    const own = new Db({ path: fixture.path });
    expect(own.raw.prepare("PRAGMA synchronous").get()?.synchronous).toBe(2); // FULL
    expect(own.raw.prepare("PRAGMA secure_delete").get()?.secure_delete).toBe(1);
    expect(own.raw.prepare("PRAGMA foreign_keys").get()?.foreign_keys).toBe(1);
    own.close();
    for (const file of [fixture.path, `${fixture.path}-wal`, `${fixture.path}-shm`]) {
      expect(statSync(file).mode & 0o777).toBe(0o600);
    }
  });

  it("reopening applies no migration twice and keeps the data", () => {
    fixture = openFixture();
    expect(fixture.catalog.schemaVersion).toBe(migrations.length);
    const owner = addPrincipal(fixture.catalog, "uploader");
    const file = fixture.catalog.commitUpload(uploadInput(owner));
    fixture.catalog.setMeta("contract", "0xabc");

    const catalog = fixture.reopen();
    expect(catalog.schemaVersion).toBe(migrations.length);
    expect(catalog.getFile(file.id)).toEqual(file);
    expect(catalog.principalById(owner.id)).toEqual(owner);
    expect(catalog.getMeta("contract")).toBe("0xabc");
    expect(catalog.verifyAuditChain()).toMatchObject({ ok: true, count: 2 });
  });

  it("runs each migration exactly once across reopenings, in order", () => {
    fixture = openFixture();
    const ran: number[] = [];
    const list: Migration[] = [
      (raw) => {
        ran.push(1);
        raw.exec("CREATE TABLE extra_one (x INTEGER) STRICT");
      },
      (raw) => {
        ran.push(2);
        raw.exec("CREATE TABLE extra_two (x INTEGER) STRICT");
      },
    ];
    const path = `${fixture.dir}/other.db`;
    const first = new Db({ path });
    expect(migrate(first, list.slice(0, 1))).toBe(1);
    first.close();
    const second = new Db({ path });
    expect(migrate(second, list)).toBe(1);
    expect(migrate(second, list)).toBe(0);
    expect(second.schemaVersion()).toBe(2);
    second.close();
    expect(ran).toEqual([1, 2]);
  });

  it("a failing migration leaves the previous version", () => {
    fixture = openFixture();
    const path = `${fixture.dir}/failing.db`;
    const db = new Db({ path });
    const list: Migration[] = [
      (raw) => raw.exec("CREATE TABLE a (x INTEGER) STRICT"),
      (raw) => {
        raw.exec("CREATE TABLE b (x INTEGER) STRICT");
        throw new Error("boom");
      },
    ];
    expect(() => migrate(db, list)).toThrow("boom");
    expect(db.schemaVersion()).toBe(1);
    expect(db.raw.prepare("SELECT name FROM sqlite_master WHERE name = 'b'").get()).toBeUndefined();
    db.close();
  });

  it("refuses a schema newer than it knows", () => {
    fixture = openFixture();
    fixture.catalog.close();
    const raw = new DatabaseSync(fixture.path);
    raw.exec(`PRAGMA user_version = ${migrations.length + 1}`);
    raw.close();
    expect(() => fixture.reopen()).toThrow(expect.objectContaining({ code: "UNSUPPORTED" }));
  });
});

describe("transactions", () => {
  it("a commitUpload that fails midway leaves nothing: no file, header, grant, audit or leaf", () => {
    fixture = openFixture();
    const owner = addPrincipal(fixture.catalog, "uploader");
    const recipient = addPrincipal(fixture.catalog, "recipient");
    const before = tableCounts(fixture);
    const input = uploadInput(owner, [recipient]);
    // The second recipient does not exist: the file row, both headers and the first grant are
    // written before that is found out.
    input.recipients = [...input.recipients, { principalId: "p_aaaaaaaaaaaaaaaaaaaaaaaaaa", header: new Uint8Array(9) }];
    expect(() => fixture.catalog.commitUpload(input)).toThrow(expect.objectContaining({ code: "NOT_FOUND" }));
    expect(tableCounts(fixture)).toEqual(before);
    expect(fixture.catalog.getFile(input.file.id)).toBeUndefined();

    // A fault injected at the very last write (the upload event's leaf), after the file row,
    // headers, grants, commitment leaf and audit row: all of it goes.
    const raw = new DatabaseSync(fixture.path);
    raw.exec(`CREATE TRIGGER inject_fault BEFORE INSERT ON leaves WHEN NEW.kind = 'event'
              BEGIN SELECT RAISE(ABORT, 'injected fault'); END`);
    const second = uploadInput(owner, [recipient]);
    expect(() => fixture.catalog.commitUpload(second)).toThrow(expect.objectContaining({ code: "CONFLICT" }));
    raw.exec("DROP TRIGGER inject_fault");
    raw.close();
    expect(tableCounts(fixture)).toEqual(before);
    expect(fixture.catalog.getFile(second.file.id)).toBeUndefined();
    expect(fixture.catalog.verifyAuditChain()).toMatchObject({ ok: true });
    // And the catalog carries on normally afterwards.
    expect(fixture.catalog.commitUpload(second).id).toBe(second.file.id);
  });

  it("an error thrown in an outer transaction undoes the catalog calls made inside it", () => {
    fixture = openFixture();
    const owner = addPrincipal(fixture.catalog, "uploader");
    const before = tableCounts(fixture);
    const input = uploadInput(owner);
    expect(() =>
      fixture.catalog.transaction(() => {
        fixture.catalog.commitUpload(input);
        fixture.catalog.appendEvent({ action: "test.step", outcome: "ok" });
        throw new Error("crash after commitUpload");
      }),
    ).toThrow("crash after commitUpload");
    expect(tableCounts(fixture)).toEqual(before);
  });

  it("a failed inner call rolls back only itself (savepoint)", () => {
    fixture = openFixture();
    const owner = addPrincipal(fixture.catalog, "uploader");
    const file = fixture.catalog.transaction(() => {
      const committed = fixture.catalog.commitUpload(uploadInput(owner));
      const duplicate = uploadInput(owner, [], { id: committed.id });
      try {
        fixture.catalog.commitUpload(duplicate);
      } catch (error) {
        expect(isVaultError(error, "CONFLICT")).toBe(true);
      }
      return committed;
    });
    expect(fixture.catalog.getFile(file.id)).toEqual(file);
    expect(fixture.catalog.verifyAuditChain()).toMatchObject({ ok: true, count: 2 });
  });

  it("refuses an async transaction function and rolls it back", () => {
    fixture = openFixture();
    const before = tableCounts(fixture);
    expect(() =>
      fixture.catalog.transaction(() => {
        fixture.catalog.appendEvent({ action: "test.async", outcome: "ok" });
        return Promise.resolve(1);
      }),
    ).toThrow(expect.objectContaining({ code: "INTERNAL" }));
    expect(tableCounts(fixture)).toEqual(before);
  });

  it("reports a database locked by another writer as IO_ERROR, and works once it is free", () => {
    fixture = openFixture({ busyTimeoutMs: 50 });
    const other = new DatabaseSync(fixture.path);
    other.exec("BEGIN IMMEDIATE");
    expect(() => fixture.catalog.appendEvent({ action: "test.locked", outcome: "ok" })).toThrow(
      expect.objectContaining({ code: "IO_ERROR" }),
    );
    other.exec("ROLLBACK");
    other.close();
    expect(fixture.catalog.appendEvent({ action: "test.locked", outcome: "ok" }).seq).toBe(1);
  });

  it("stamps every row of one transaction with the same time", () => {
    let tick = 0;
    fixture = openFixture({ now: () => new Date(Date.UTC(2030, 0, 1) + tick++ * 1000) });
    const owner = addPrincipal(fixture.catalog, "uploader");
    const file = fixture.catalog.commitUpload(uploadInput(owner));
    const erasure = fixture.catalog.eraseFile({ fileId: file.id, actorId: owner.id, reason: "ticket 7" });
    expect(erasure.event.at).toBe(erasure.erasedAt);
    const upload = fixture.catalog.listEvents({ fileId: file.id, action: "file.upload" })[0];
    expect(upload?.at).toBe(file.createdAt);
  });
});
