/**
 * Principals (uploaders, recipients, privacy officers, admins) and their bearer tokens.
 *
 * A token is `mvt_` + 32 random bytes in base64url, returned once at creation; only its
 * SHA-256 is stored, and lookups go through that hash. A database thief gets no usable token,
 * and since the comparison happens on a hash of the presented token inside an index lookup, its
 * timing says nothing useful about any stored token.
 */

import { createHash, randomBytes } from "node:crypto";
import { VaultError } from "../errors.ts";
import type { Audit } from "./audit.ts";
import { checkPattern } from "./check.ts";
import { type Db, int, type Row, text, textOrNull } from "./db.ts";
import { isId, newId } from "./ids.ts";

export type Role = "uploader" | "recipient" | "privacy" | "admin";
export const ROLES: readonly Role[] = ["uploader", "recipient", "privacy", "admin"];

export interface Principal {
  id: string;
  name: string;
  role: Role;
  /** age recipient (`age1…`, or `age1pq1…` for the hybrid), or null if none registered. */
  ageRecipient: string | null;
  createdAt: string;
  disabledAt: string | null;
}

export interface NewPrincipal {
  /** Unique; 1..128 of letters, digits and `._@+-`, starting with a letter or digit. */
  name: string;
  role: Role;
  ageRecipient?: string;
  /** Who creates it (audited); absent for the first admin made at start-up. */
  actorId?: string;
}

export interface Principals {
  /** Creates a principal with a fresh token. CONFLICT if the name is taken. */
  createPrincipal(input: NewPrincipal): { principal: Principal; token: string };
  /** Creates a principal with a given token (the first admin, from MEDVAULT_ADMIN_TOKEN). */
  createPrincipalWithToken(input: NewPrincipal & { token: string }): Principal;
  /** The enabled principal holding this token, or undefined. */
  principalByToken(token: string): Principal | undefined;
  principalById(id: string): Principal | undefined;
  principalByName(name: string): Principal | undefined;
  listPrincipals(): Principal[];
  countPrincipals(): number;
  /** Disables a principal: its token stops working. NOT_FOUND if unknown. */
  disablePrincipal(input: { id: string; actorId?: string }): Principal;
}

const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$/;
const AGE_RECIPIENT_PATTERN = /^age1[a-z0-9]{10,8000}$/;
const GIVEN_TOKEN_PATTERN = /^[\x21-\x7e]{32,512}$/;

export function newToken(): string {
  return `mvt_${randomBytes(32).toString("base64url")}`;
}

function tokenHash(token: string): Uint8Array {
  return new Uint8Array(createHash("sha256").update(token, "utf8").digest());
}

export function createPrincipals(db: Db, audit: Audit): Principals {
  function insert(input: NewPrincipal, token: string): Principal {
    const name = checkPattern(input.name, "name", NAME_PATTERN);
    // A name that looks like an id would make "recipient by name or id" ambiguous.
    if (isId(name)) throw new VaultError("BAD_REQUEST", "name: must not look like an id");
    if (!ROLES.includes(input.role)) throw new VaultError("BAD_REQUEST", "role: unknown");
    const ageRecipient = input.ageRecipient === undefined ? null : checkPattern(input.ageRecipient, "ageRecipient", AGE_RECIPIENT_PATTERN);
    const hash = tokenHash(token);
    return db.transaction(() => {
      if (db.get("SELECT 1 FROM principals WHERE name = ?", name) !== undefined) {
        throw new VaultError("CONFLICT", "a principal with this name exists");
      }
      if (db.get("SELECT 1 FROM principals WHERE token_sha256 = ?", hash) !== undefined) {
        throw new VaultError("CONFLICT", "this token is already in use");
      }
      const principal: Principal = {
        id: newId("p"),
        name,
        role: input.role,
        ageRecipient,
        createdAt: db.nowIso(),
        disabledAt: null,
      };
      db.run(
        `INSERT INTO principals (id, name, role, age_recipient, token_sha256, created_at)
         VALUES (?, ?, ?, ?, ?, ?)`,
        principal.id,
        name,
        principal.role,
        ageRecipient,
        hash,
        principal.createdAt,
      );
      audit.appendEvent({
        actorId: input.actorId ?? null,
        action: "principal.create",
        outcome: "ok",
        detail: { principal: principal.id, role: principal.role },
      });
      return principal;
    });
  }

  function one(sql: string, param: string): Principal | undefined {
    const row = db.get(sql, param);
    return row === undefined ? undefined : toPrincipal(row);
  }

  return {
    createPrincipal(input) {
      const token = newToken();
      return { principal: insert(input, token), token };
    },
    createPrincipalWithToken(input) {
      const { token, ...rest } = input;
      if (typeof token !== "string" || !GIVEN_TOKEN_PATTERN.test(token)) {
        throw new VaultError("BAD_REQUEST", "token: expected 32 to 512 printable characters without spaces");
      }
      return insert(rest, token);
    },
    principalByToken(token) {
      if (typeof token !== "string" || token.length === 0 || token.length > 512) return undefined;
      const row = db.get("SELECT * FROM principals WHERE token_sha256 = ? AND disabled_at IS NULL", tokenHash(token));
      return row === undefined ? undefined : toPrincipal(row);
    },
    principalById: (id) => one("SELECT * FROM principals WHERE id = ?", id),
    principalByName: (name) => one("SELECT * FROM principals WHERE name = ?", name),
    listPrincipals: () => db.all("SELECT * FROM principals ORDER BY created_at, id").map(toPrincipal),
    countPrincipals: () => int(db.get("SELECT count(*) AS n FROM principals") ?? { n: 0 }, "n"),
    disablePrincipal({ id, actorId }) {
      return db.transaction(() => {
        const existing = one("SELECT * FROM principals WHERE id = ?", id);
        if (existing === undefined) throw new VaultError("NOT_FOUND", "no such principal");
        if (existing.disabledAt !== null) return existing;
        const disabledAt = db.nowIso();
        db.run("UPDATE principals SET disabled_at = ? WHERE id = ?", disabledAt, id);
        audit.appendEvent({
          actorId: actorId ?? null,
          action: "principal.disable",
          outcome: "ok",
          detail: { principal: id },
        });
        return { ...existing, disabledAt };
      });
    },
  };
}

function toPrincipal(row: Row): Principal {
  return {
    id: text(row, "id"),
    name: text(row, "name"),
    role: text(row, "role") as Role,
    ageRecipient: textOrNull(row, "age_recipient"),
    createdAt: text(row, "created_at"),
    disabledAt: textOrNull(row, "disabled_at"),
  };
}
