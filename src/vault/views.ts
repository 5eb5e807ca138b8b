/** What callers see of a file: metadata, its anchor status, and the grants they may see. */

import type { Catalog, FileRecord, Grant, Principal } from "../catalog/index.ts";

export type AnchorView = { status: "pending" | "anchored" | "final"; batchId?: number; blockNumber?: number; txHash?: string };

export type GrantView = { recipient: string; recipientId: string; createdAt: string; expiresAt: string | null; revokedAt: string | null };

export type FileView = {
  id: string;
  name: string | null;
  size: number;
  sha256: string | null;
  cid: string;
  mediaType: string;
  state: "active" | "erased";
  createdAt: string;
  expiresAt: string | null;
  erasedAt: string | null;
  anchor: AnchorView;
  grants: GrantView[];
};

function grantView(catalog: Catalog, g: Grant): GrantView {
  return {
    recipient: catalog.principalById(g.principalId)?.name ?? g.principalId,
    recipientId: g.principalId,
    createdAt: g.createdAt,
    expiresAt: g.expiresAt,
    revokedAt: g.revokedAt,
  };
}

export function fileView(catalog: Catalog, actor: Principal, file: FileRecord, anchor: AnchorView): FileView {
  // A recipient sees only its own grant; owners and privacy officers see them all.
  const grants = catalog.grantsFor(file.id).filter((g) => actor.role !== "recipient" || g.principalId === actor.id);
  return {
    id: file.id,
    name: file.name,
    size: file.size,
    sha256: file.plaintextSha256 === null ? null : Buffer.from(file.plaintextSha256).toString("hex"),
    cid: file.payloadCid,
    mediaType: file.mediaType,
    state: file.state,
    createdAt: file.createdAt,
    expiresAt: file.expiresAt,
    erasedAt: file.erasedAt,
    anchor,
    grants: grants.map((g) => grantView(catalog, g)),
  };
}
