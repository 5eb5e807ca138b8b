// Shared set-up for the catalog tests: a real SQLite file in a fresh temp dir.

import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import {
  type Catalog,
  type CatalogOptions,
  type CommitUploadInput,
  newFileId,
  openCatalog,
  type Principal,
  type Role,
} from "../../src/catalog/index.ts";

export interface Fixture {
  dir: string;
  path: string;
  catalog: Catalog;
  reopen(options?: Partial<CatalogOptions>): Catalog;
  cleanup(): void;
}

export function openFixture(options: Partial<CatalogOptions> = {}): Fixture {
  const dir = mkdtempSync(join(tmpdir(), "medvault-catalog-"));
  const path = join(dir, "catalog.db");
  const fixture: Fixture = {
    dir,
    path,
    catalog: openCatalog({ path, ...options }),
    reopen(more = {}) {
      fixture.catalog.close();
      fixture.catalog = openCatalog({ path, ...options, ...more });
      return fixture.catalog;
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

/** The database file and its -wal and -shm companions, as they are on disk now. */
export function databaseFiles(path: string): { name: string; bytes: Buffer }[] {
  return [path, `${path}-wal`, `${path}-shm`].filter((file) => existsSync(file)).map((file) => ({ name: file, bytes: readFileSync(file) }));
}

/** Names of the database files that contain `needle`. */
export function filesContaining(path: string, needle: Uint8Array | string): string[] {
  const pattern = typeof needle === "string" ? Buffer.from(needle, "utf8") : Buffer.from(needle);
  return databaseFiles(path)
    .filter(({ bytes }) => bytes.includes(pattern))
    .map(({ name }) => name);
}

/** Row counts of every table, read through a second connection (what is really committed). */
export function tableCounts(path: string): Record<string, number> {
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    const result: Record<string, number> = {};
    for (const table of ["principals", "files", "headers", "grants", "audit", "leaves", "batches"]) {
      result[table] = Number(db.prepare(`SELECT count(*) AS n FROM ${table}`).get()?.n);
    }
    return result;
  } finally {
    db.close();
  }
}
