// Shared set-up for the catalog tests, on both engines: a real SQLite file in a fresh temp dir,
// or a fresh database on the real PostgreSQL server the global setup started
// (test/support/global-postgres.ts). Suites wrap themselves in `forEachEngine`.

import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync, type SQLInputValue } from "node:sqlite";
import { afterEach, beforeEach, describe, inject } from "vitest";
import type { Dialect, Row } from "../../src/catalog/db.ts";
import {
  type Catalog,
  type CatalogOptions,
  type CommitUploadInput,
  newFileId,
  openCatalog,
  type Principal,
  type Role,
} from "../../src/catalog/index.ts";
import { PostgresDb } from "../../src/catalog/postgres/db.ts";

export const ENGINES: readonly Dialect[] = ["sqlite", "postgres"];
let engine: Dialect = "sqlite";
afterEach(() => useEngine("sqlite"));

/** Opens the next fixtures on `which` (a suite for one engine only). */
export function useEngine(which: Dialect): void {
  engine = which;
}

/** Runs `suite` once per engine; `openFixture` inside it opens a catalog on that engine. */
export function forEachEngine(suite: (engine: Dialect) => void): void {
  describe.each(ENGINES)("on %s", (each) => {
    beforeEach(() => useEngine(each));
    suite(each);
  });
}

/** A new empty PostgreSQL database on the test server, made synchronously (through PostgresDb). */
export function createPostgresDatabase(): string {
  const admin = inject("postgresAdminUrl");
  if (admin === undefined) throw new Error(inject("postgresMissing") ?? "no PostgreSQL test server");
  const name = `mv_${process.pid}_${randomBytes(6).toString("hex")}`;
  const db = new PostgresDb({ url: admin });
  try {
    db.exec(`CREATE DATABASE ${name}`);
  } finally {
    db.close();
  }
  return admin.replace(/\/postgres$/, `/${name}`);
}

export interface Fixture {
  engine: Dialect;
  dir: string;
  /** The SQLite file, or the PostgreSQL URL. */
  path: string;
  catalog: Catalog;
  reopen(options?: Partial<CatalogOptions>): Catalog;
  /** SQL through a second connection: what another process (or an attacker with the database) does. */
  sql(statement: string, ...params: SQLInputValue[]): Row[];
  cleanup(): void;
}

export function openFixture(options: Partial<CatalogOptions> = {}): Fixture {
  const dir = mkdtempSync(join(tmpdir(), "medvault-catalog-"));
  const path = engine === "postgres" ? createPostgresDatabase() : join(dir, "catalog.db");
  const fixture: Fixture = {
    engine,
    dir,
    path,
    catalog: openCatalog({ path, ...options }),
    reopen(more = {}) {
      fixture.catalog.close();
      fixture.catalog = openCatalog({ path, ...options, ...more });
      return fixture.catalog;
    },
    sql(statement, ...params) {
      if (fixture.engine === "sqlite") {
        const raw = new DatabaseSync(path);
        try {
          if (/^\s*select/i.test(statement)) return raw.prepare(statement).all(...params);
          raw.prepare(statement).run(...params);
          return [];
        } finally {
          raw.close();
        }
      }
      const other = new PostgresDb({ url: path });
      try {
        return other.all(statement, ...params);
      } finally {
        other.close();
      }
    },
    cleanup() {
      fixture.catalog.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return fixture;
}

let names = 0;

export function addPrincipal(catalog: Catalog, role: Role): Principal {
  names++;
  return catalog.createPrincipal({ name: `${role}-${names}`, role }).principal;
}

/** A valid upload with random bytes everywhere; override what a test cares about. */
export function uploadInput(
  owner: Principal,
  recipients: Principal[] = [],
  overrides: Partial<CommitUploadInput["file"]> = {},
): CommitUploadInput {
  return {
    file: {
      id: newFileId(),
      ownerId: owner.id,
      name: "scan.dcm",
      mediaType: "application/dicom",
      size: 1234,
      plaintextSha256: randomBytes(32),
      payloadCid: "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy",
      salt: randomBytes(32),
      commitment: randomBytes(32),
      ...overrides,
    },
    vaultHeader: randomBytes(180),
    recipients: recipients.map((recipient) => ({ principalId: recipient.id, header: randomBytes(180) })),
    actorId: owner.id,
  };
}

/**
 * The files that hold the catalog, as they are on disk now. SQLite: the database file and its
 * -wal and -shm companions. PostgreSQL: every file of the database's directory (tables, TOAST,
 * indexes) after a CHECKPOINT; not the WAL, which keeps old rows until its segments are recycled.
 */
export function databaseFiles(fixture: Pick<Fixture, "engine" | "path">): { name: string; bytes: Buffer }[] {
  if (fixture.engine === "sqlite") {
    const { path } = fixture;
    return [path, `${path}-wal`, `${path}-shm`]
      .filter((file) => existsSync(file))
      .map((file) => ({ name: file, bytes: readFileSync(file) }));
  }
  const dataDir = inject("postgresDataDir");
  if (dataDir === undefined) throw new Error("no PostgreSQL test server");
  const db = new PostgresDb({ url: fixture.path });
  let dir: string;
  try {
    db.exec("CHECKPOINT");
    const row = db.get("SELECT oid::bigint AS oid FROM pg_database WHERE datname = current_database()");
    dir = join(dataDir, "base", String(row?.oid));
  } finally {
    db.close();
  }
  return readdirSync(dir).map((name) => ({ name: join(dir, name), bytes: readFileSync(join(dir, name)) }));
}

/** Names of the database files that contain `needle`. */
export function filesContaining(fixture: Pick<Fixture, "engine" | "path">, needle: Uint8Array | string): string[] {
  const pattern = typeof needle === "string" ? Buffer.from(needle, "utf8") : Buffer.from(needle);
  return databaseFiles(fixture)
    .filter(({ bytes }) => bytes.includes(pattern))
    .map(({ name }) => name);
}

/** Row counts of every table, read through a second connection (what is really committed). */
export function tableCounts(fixture: Fixture): Record<string, number> {
  const result: Record<string, number> = {};
  for (const table of ["principals", "files", "headers", "grants", "audit", "leaves", "batches"]) {
    result[table] = Number(fixture.sql(`SELECT count(*) AS n FROM ${table}`)[0]?.n);
  }
  return result;
}
