// What only PostgreSQL does: several vault instances on one catalog (concurrent writers in
// separate processes, batcher election), and its errors. The shared behaviour runs on both
// engines in the other catalog suites.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { afterEach, describe, expect, it } from "vitest";
import { openCatalog } from "../../src/catalog/index.ts";
import { addPrincipal, type Fixture, openFixture, useEngine } from "./fixture.ts";

const run = promisify(execFile);
let fixture: Fixture;
afterEach(() => fixture?.cleanup());

describe("PostgreSQL catalog shared by several instances", () => {
  it("three processes committing at once: every upload lands once, the audit chain stays one chain", async () => {
    useEngine("postgres");
    fixture = openFixture();
    const owner = addPrincipal(fixture.catalog, "uploader");
    const writer = new URL("./postgres-writer.ts", import.meta.url).pathname;
    const results = await Promise.all(
      [0, 1, 2].map(() => run(process.execPath, [writer, fixture.path, owner.id, "60"], { timeout: 120_000 })),
    );
    expect(results.map((r) => r.stdout.trim())).toEqual(["60", "60", "60"]);
    const { catalog } = fixture;
    expect(catalog.stats()).toMatchObject({ activeFiles: 180, auditEvents: 181, pendingLeaves: 361 });
    expect(catalog.verifyAuditChain()).toMatchObject({ ok: true, count: 181 });
    // Leaves are queued in commit order: every event leaf's seq follows its event's seq order.
    const events = catalog.listEvents({ limit: 1000 }).map((event) => catalog.leafOf("event", event.id)?.seq ?? 0);
    expect(events).toEqual([...events].sort((a, b) => a - b));
  });

  it("elects one batcher: the lock holder leads until it closes, then another instance takes over", () => {
    useEngine("postgres");
    fixture = openFixture();
    const other = openCatalog({ path: fixture.path });
    const third = openCatalog({ path: fixture.path });
    try {
      expect(fixture.catalog.tryLead("batcher")).toBe(true);
      expect(fixture.catalog.tryLead("batcher")).toBe(true); // still the leader
      expect(other.tryLead("batcher")).toBe(false);
      expect(third.tryLead("batcher")).toBe(false);
      expect(other.tryLead("other-job")).toBe(true); // locks are per job
      fixture.catalog.close();
      expect(other.tryLead("batcher")).toBe(true);
      expect(third.tryLead("batcher")).toBe(false);
    } finally {
      other.close();
      third.close();
    }
  });

  it("migrates once when two instances open a new catalog together, and refuses a bad URL with a code", async () => {
    useEngine("postgres");
    fixture = openFixture();
    const url = fixture.path;
    fixture.catalog.close();
    const writer = new URL("./postgres-writer.ts", import.meta.url).pathname;
    fixture.catalog = openCatalog({ path: url });
    const owner = addPrincipal(fixture.catalog, "uploader");
    await Promise.all([0, 1].map(() => run(process.execPath, [writer, url, owner.id, "1"], { timeout: 60_000 })));
    expect(fixture.catalog.schemaVersion).toBe(1);
    expect(fixture.catalog.stats().activeFiles).toBe(2);
    expect(() => openCatalog({ path: url.replace(/:[^:@/]+@/, ":wrong-password@") })).toThrow(
      expect.objectContaining({ code: "IO_ERROR" }),
    );
  });

  it("comes back after its connection is killed: at most the call that met the break fails (IO_ERROR), the next works", () => {
    useEngine("postgres");
    fixture = openFixture();
    const { catalog } = fixture;
    addPrincipal(catalog, "uploader");
    expect(catalog.tryLead("batcher")).toBe(true);
    const killed = fixture.sql(
      "SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'medvault' AND pid <> pg_backend_pid()",
    );
    expect(killed[0]?.n).toBeGreaterThanOrEqual(1);
    // The worker notices the break when PostgreSQL's notice arrives: a call sent before that
    // fails with IO_ERROR, one sent after reconnects at once. Never anything else.
    try {
      catalog.countPrincipals();
    } catch (error) {
      expect(error).toMatchObject({ code: "IO_ERROR" });
    }
    expect(catalog.countPrincipals()).toBe(1);
    addPrincipal(catalog, "recipient");
    expect(catalog.verifyAuditChain()).toMatchObject({ ok: true, count: 2 });
    expect(catalog.tryLead("batcher")).toBe(true); // the session lock is taken again
  });
});
