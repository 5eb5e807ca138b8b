/**
 * Who may do what. One table, so the HTTP layer and the CLI cannot drift apart, and one rule
 * for files a caller may not see: NOT_FOUND, exactly as for a file that does not exist, so
 * nobody learns that another tenant's file exists.
 *
 * | role      | files listed / metadata | content, age file       | receipt        | grant, revoke | erase | audit | principals |
 * |-----------|-------------------------|-------------------------|----------------|---------------|-------|-------|------------|
 * | uploader  | own                     | no                      | own            | own files     | no    | no    | no         |
 * | recipient | granted, in force       | granted, in force       | granted        | no            | no    | no    | no         |
 * | privacy   | all                     | no                      | all            | no            | yes   | yes   | no         |
 * | admin     | all                     | no                      | no             | no            | no    | yes   | yes        |
 *
 * An erased file stays visible to the recipients whose grants it ended, so they get GONE.
 */

import type { Catalog, FileRecord, Principal } from "../catalog/index.ts";
import { VaultError } from "../errors.ts";

export type Access = "metadata" | "content" | "receipt" | "share" | "erase";

export function canSee(catalog: Catalog, actor: Principal, file: FileRecord, now: Date): boolean {
  switch (actor.role) {
    case "uploader":
      return file.ownerId === actor.id;
    case "recipient":
      if (file.state === "erased") return heldAtErasure(catalog, actor, file);
      return catalog.activeGrant(file.id, actor.id, now) !== undefined;
    case "privacy":
    case "admin":
      return true;
  }
}

/**
 * A recipient whose grant was in force when the file was erased still sees it, so that content
 * and age answer 410 GONE rather than NOT_FOUND; the erasure revoked the grant at `erasedAt`.
 * Grants revoked or expired before the erasure stay invisible.
 */
function heldAtErasure(catalog: Catalog, actor: Principal, file: FileRecord): boolean {
  const at = file.erasedAt;
  if (at === null) return false;
  return catalog
    .grantsFor(file.id)
    .some((g) => g.principalId === actor.id && g.revokedAt === at && (g.expiresAt === null || g.expiresAt > at));
}

export function allowed(catalog: Catalog, actor: Principal, file: FileRecord, access: Access, now: Date): boolean {
  if (!canSee(catalog, actor, file, now)) return false;
  switch (access) {
    case "metadata":
      return true;
    case "content":
      return actor.role === "recipient";
    case "receipt":
      return actor.role !== "admin";
    case "share":
      return actor.role === "uploader";
    case "erase":
      return actor.role === "privacy";
  }
}

export function requireRole(actor: Principal, ...roles: Principal["role"][]): void {
  if (!roles.includes(actor.role)) throw new VaultError("FORBIDDEN", `this needs the ${roles.join(" or ")} role`);
}
