/**
 * The vault core (DESIGN.md "Upload, step by step", "Crypto-shredding"): upload, verified
 * read, the age file, grants, erasure, audit. It depends on narrow parts: a catalog, a blob
 * store, the vault's age key, and optional anchoring hooks; tests pass in-memory ones.
 *
 * Crash-safety order for an upload: blocks written and pinned (durably) → one catalog
 * transaction (file, salt, headers, grants, audit event, queued leaf) → acknowledgement. A
 * crash before the commit leaves a pin no file references; `recover()` drops it at start-up.
 */

import { randomBytes, timingSafeEqual } from "node:crypto";
import { fileCommitment } from "../anchor/commitment.ts";
import { type Catalog, type FileRecord, newFileId, type Principal, type Role } from "../catalog/index.ts";
import { decryptPayloadHashed, newFileKey, openHeader, parseRecipient, sealHeader } from "../crypto/index.ts";
import { sealLeavesOffThread } from "../crypto/offload.ts";
import { isVaultError, VaultError } from "../errors.ts";
import type { BlobStore } from "../store/index.ts";
import type { VaultKey } from "./identity.ts";
import { type Access, allowed, canSee, requireRole } from "./policy.ts";
import { SNIFF_BYTES, sniffMediaType } from "./sniff.ts";
import { type AnchorView, type FileView, fileView } from "./views.ts";

/** What the vault needs from anchoring (src/anchor); absent in unit tests and before it is wired. */
export interface AnchorHooks {
  status(kind: "file" | "event", ref: string): AnchorView;
  /** Checks the file's root on chain once anchored; throws INTEGRITY_FAILED (or CHAIN_UNAVAILABLE) otherwise. */
  verifyOnChain?(file: FileRecord, options: { signal?: AbortSignal }): Promise<void>;
  /** Signs an erasure certificate (its canonical JSON). */
  sign?(message: string): Promise<{ signature: string; signer: string }>;
  /** New leaves were queued (an upload or an erasure): batching may react sooner. */
  notify?(): void;
}

export type VaultDeps = {
  catalog: Catalog;
  store: BlobStore;
  key: VaultKey;
  anchor?: AnchorHooks;
  now?: () => Date;
};

export type UploadInput = {
  name: string;
  source: AsyncIterable<Uint8Array>;
  recipients: readonly string[];
  expiresAt?: Date;
  maxBytes?: number;
  signal?: AbortSignal;
};

export type Content = {
  file: FileView;
  size: number;
  sha256: string;
  mediaType: string;
  name: string | null;
  stream: AsyncIterable<Uint8Array>;
};
export type AgeFile = { file: FileView; size: number; stream: AsyncIterable<Uint8Array> };

export type ErasureCertificate = {
  type: "medvault.erasure/v1";
  fileId: string;
  erasedAt: string;
  by: { id: string; name: string };
  reason: string;
  destroyed: { headers: number; salt: true; name: true; plaintextSha256: true; grants: number };
  unpinned: true;
  collectedBlocks: number;
  /** With a private swarm: how many other nodes were asked to unpin, and how many confirmed. */
  replicas?: { peersAsked: number; peersConfirmed: number };
  event: { id: string; hash: string };
  signature?: string;
  signer?: string;
};

export type Vault = ReturnType<typeof createVault>;

const PENDING: AnchorView = { status: "pending" };
const MAX_NAME = 255;

export function createVault(deps: VaultDeps) {
  const { catalog, store, key } = deps;
  const now = deps.now ?? (() => new Date());
  const anchorOf = (kind: "file" | "event", ref: string): AnchorView => deps.anchor?.status(kind, ref) ?? PENDING;
  const view = (actor: Principal, file: FileRecord): FileView => fileView(catalog, actor, file, anchorOf("file", file.id));

  function audit(
    actor: Principal | undefined,
    action: string,
    outcome: "ok" | "denied" | "failed",
    fileId?: string,
    detail?: Record<string, string | number | boolean>,
  ) {
    catalog.appendEvent({
      actorId: actor?.id ?? null,
      action,
      fileId: fileId ?? null,
      outcome,
      ...(detail === undefined ? {} : { detail }),
    });
  }

  /** The file if the actor may do `access` to it; NOT_FOUND if it may not even see it. Denials are audited. */
  function fileFor(actor: Principal, id: string, access: Access, action: string): FileRecord {
    const file = typeof id === "string" && id.length <= 64 ? catalog.getFile(id) : undefined;
    const at = now();
    if (file === undefined || !canSee(catalog, actor, file, at)) {
      audit(actor, action, "denied", undefined, { reason: "not_found" });
      throw new VaultError("NOT_FOUND", "no such file");
    }
    if (!allowed(catalog, actor, file, access, at)) {
      audit(actor, action, "denied", file.id, { reason: "forbidden" });
      throw new VaultError("FORBIDDEN", `the ${actor.role} role may not do this`);
    }
    return file;
  }

  /** Role check for actions not on one file; a denial is audited like a file denial. */
  function requireRoleAudited(actor: Principal, action: string, ...roles: Role[]): void {
    if (roles.includes(actor.role)) return;
    audit(actor, action, "denied", undefined, { reason: "forbidden" });
    requireRole(actor, ...roles);
  }

  function resolveRecipient(ref: string): Principal & { ageRecipient: string } {
    const p = catalog.principalById(ref) ?? catalog.principalByName(ref);
    if (p === undefined || p.disabledAt !== null) throw new VaultError("BAD_REQUEST", "unknown recipient");
    if (p.role !== "recipient") throw new VaultError("BAD_REQUEST", "a recipient must have the recipient role");
    if (p.ageRecipient === null) throw new VaultError("BAD_REQUEST", "the recipient has no registered age key");
    return p as Principal & { ageRecipient: string };
  }

  function checkExpiry(expiresAt: Date | undefined): void {
    if (expiresAt === undefined) return;
    if (Number.isNaN(expiresAt.getTime())) throw new VaultError("BAD_REQUEST", "expiresAt must be an ISO 8601 time");
    if (expiresAt.getTime() <= now().getTime()) throw new VaultError("BAD_REQUEST", "expiresAt must be in the future");
  }

  async function fileKeyOf(file: FileRecord): Promise<Uint8Array> {
    const header = catalog.header(file.id, "vault");
    if (header === undefined) throw new VaultError("GONE", "the file's keys were destroyed");
    try {
      return await openHeader(header, [key.identity]);
    } catch (cause) {
      throw new VaultError("INTEGRITY_FAILED", "the vault header does not open", { cause });
    }
  }

  /** Salt, file id, sha256 and CID must still give the stored commitment (a catalog edit shows here). */
  function checkCommitment(file: FileRecord): void {
    if (file.salt === null || file.plaintextSha256 === null) throw new VaultError("GONE", "the file was erased");
    const c = fileCommitment({ salt: file.salt, fileId: file.id, plaintextSha256: file.plaintextSha256, payloadCid: file.payloadCid });
    if (!timingSafeEqual(c, file.commitment)) throw new VaultError("INTEGRITY_FAILED", "the catalog record does not match its commitment");
  }

  return {
    /** Streams a plaintext upload into the vault; resolves once it is durable and committed. */
    async upload(actor: Principal, input: UploadInput): Promise<FileView> {
      requireRoleAudited(actor, "file.upload", "uploader");
      const name = sanitizeName(input.name);
      checkExpiry(input.expiresAt);
      const recipients = [...new Set(input.recipients)].map(resolveRecipient);
      if (recipients.length === 0) throw new VaultError("BAD_REQUEST", "name at least one recipient");
      const fileId = newFileId();
      const fileKey = newFileKey();
      const head = Buffer.alloc(SNIFF_BYTES);
      let size = 0;
      const limit = input.maxBytes ?? Number.POSITIVE_INFINITY;
      async function* plaintext(): AsyncGenerator<Uint8Array> {
        for await (const piece of input.source) {
          if (size < SNIFF_BYTES) head.set(piece.subarray(0, SNIFF_BYTES - size), size);
          size += piece.length;
          if (size > limit) throw new VaultError("PAYLOAD_TOO_LARGE", `the file exceeds ${limit} bytes`);
          yield piece;
        }
      }
      let cid: string | undefined;
      try {
        // Hashing, encryption and leaf hashing run on a worker thread, overlapping the block
        // writes here; leaf buffers go back to it once written.
        const signal = input.signal === undefined ? {} : { signal: input.signal };
        const payload = sealLeavesOffThread(fileKey, plaintext(), { leafSize: store.chunkSize, ...signal });
        const added = await store.addLeaves(payload.leaves, { ...signal, release: payload.release });
        cid = added.cidString;
        const plaintextSha256 = payload.sha256();
        const salt = randomBytes(32);
        const vaultHeader = await sealHeader(fileKey, [key.recipient]);
        const headers = await Promise.all(
          recipients.map(async (r) => ({
            principalId: r.id,
            header: await sealHeader(fileKey, [parseRecipient(r.ageRecipient)]),
            ...(input.expiresAt === undefined ? {} : { expiresAt: input.expiresAt }),
          })),
        );
        const record = catalog.commitUpload({
          file: {
            id: fileId,
            ownerId: actor.id,
            name,
            mediaType: sniffMediaType(head.subarray(0, Math.min(size, SNIFF_BYTES))),
            size,
            plaintextSha256,
            payloadCid: cid,
            salt,
            commitment: fileCommitment({ salt, fileId, plaintextSha256, payloadCid: cid }),
            ...(input.expiresAt === undefined ? {} : { expiresAt: input.expiresAt }),
          },
          vaultHeader,
          recipients: headers,
          actorId: actor.id,
          detail: { size, recipients: recipients.length },
        });
        deps.anchor?.notify?.();
        return view(actor, record);
      } catch (error) {
        // Not committed: the pinned payload has no key anywhere; drop it now (start-up would too).
        // With a swarm, the replicas other nodes already pinned go too.
        if (cid !== undefined) await store.unpinEverywhere(cid).catch(() => {});
        audit(actor, "file.upload", "failed", undefined, { code: isVaultError(error) ? error.code : "INTERNAL" });
        throw error;
      } finally {
        fileKey.fill(0);
      }
    },

    list(actor: Principal, query: { includeErased?: boolean; limit?: number; afterId?: string } = {}): FileView[] {
      const at = now();
      const base = {
        includeErased: query.includeErased ?? actor.role !== "recipient",
        now: at,
        limit: Math.min(query.limit ?? 500, 1000),
        ...(query.afterId === undefined ? {} : { afterId: query.afterId }),
      };
      const files =
        actor.role === "uploader"
          ? catalog.listFiles({ ...base, ownerId: actor.id })
          : actor.role === "recipient"
            ? catalog.listFiles({ ...base, recipientId: actor.id, includeErased: false })
            : catalog.listFiles(base);
      audit(actor, "file.list", "ok");
      return files.map((f) => view(actor, f));
    },

    get(actor: Principal, id: string): FileView {
      const file = fileFor(actor, id, "metadata", "file.get");
      audit(actor, "file.get", "ok", file.id);
      return view(actor, file);
    },

    /** Verified plaintext: blocks against CIDs, every chunk's tag, SHA-256, commitment, root on chain. */
    async content(actor: Principal, id: string, options: { signal?: AbortSignal } = {}): Promise<Content> {
      const file = fileFor(actor, id, "content", "file.read");
      if (file.state === "erased") {
        audit(actor, "file.read", "denied", file.id, { reason: "erased" });
        throw new VaultError("GONE", "the file was erased");
      }
      const fail = (cause: unknown): never => {
        audit(actor, "file.integrity", "failed", file.id, { code: isVaultError(cause) ? cause.code : "INTERNAL" });
        throw new VaultError("INTEGRITY_FAILED", "the stored file failed verification", { cause });
      };
      let fileKey: Uint8Array;
      try {
        checkCommitment(file);
        await deps.anchor?.verifyOnChain?.(file, options);
        fileKey = await fileKeyOf(file);
      } catch (error) {
        if (isVaultError(error, "CHAIN_UNAVAILABLE")) throw error;
        return fail(error);
      }
      const expected = file.plaintextSha256 as Uint8Array;
      audit(actor, "file.read", "ok", file.id);
      async function* verified(): AsyncGenerator<Uint8Array> {
        let n = 0;
        try {
          const payload = decryptPayloadHashed(fileKey, payloadBlocks(store, file.payloadCid, options), options);
          for await (const piece of payload.stream) {
            n += piece.length;
            yield piece;
          }
          if (n !== file.size || !timingSafeEqual(payload.sha256(), expected))
            throw new VaultError("INTEGRITY_FAILED", "plaintext SHA-256 does not match the record");
        } catch (error) {
          if (options.signal?.aborted === true) throw error;
          // Unreachable holders are not a verification failure: nothing was read that failed.
          if (isVaultError(error, "BLOCKS_UNAVAILABLE")) {
            audit(actor, "file.read", "failed", file.id, { code: error.code });
            throw error;
          }
          fail(error);
        } finally {
          fileKey.fill(0);
        }
      }
      return {
        file: view(actor, file),
        size: file.size,
        sha256: Buffer.from(expected).toString("hex"),
        mediaType: file.mediaType,
        name: file.name,
        stream: verified(),
      };
    },

    /** The caller's own header followed by the payload: a standard age file for its key. */
    async ageFile(actor: Principal, id: string, options: { signal?: AbortSignal } = {}): Promise<AgeFile> {
      const file = fileFor(actor, id, "content", "file.age");
      const header = catalog.header(file.id, actor.id);
      if (file.state === "erased" || header === undefined) {
        audit(actor, "file.age", "denied", file.id, { reason: "erased" });
        throw new VaultError("GONE", "the file was erased");
      }
      try {
        checkCommitment(file);
        await deps.anchor?.verifyOnChain?.(file, options);
      } catch (error) {
        if (isVaultError(error, "CHAIN_UNAVAILABLE")) throw error;
        audit(actor, "file.integrity", "failed", file.id, { code: isVaultError(error) ? error.code : "INTERNAL" });
        throw new VaultError("INTEGRITY_FAILED", "the stored file failed verification", { cause: error });
      }
      audit(actor, "file.age", "ok", file.id);
      const payloadBytes = 16 + file.size + Math.max(1, Math.ceil(file.size / 65536)) * 16;
      async function* body(): AsyncGenerator<Uint8Array> {
        yield header as Uint8Array;
        try {
          yield* payloadBlocks(store, file.payloadCid, options);
        } catch (error) {
          if (options.signal?.aborted !== true)
            audit(actor, "file.integrity", "failed", file.id, { code: isVaultError(error) ? error.code : "INTERNAL" });
          throw error;
        }
      }
      return { file: view(actor, file), size: header.length + payloadBytes, stream: body() };
    },

    async grant(actor: Principal, id: string, input: { recipient: string; expiresAt?: Date }): Promise<FileView> {
      const file = fileFor(actor, id, "share", "file.grant");
      if (file.state === "erased") throw new VaultError("GONE", "the file was erased");
      checkExpiry(input.expiresAt);
      const target = resolveRecipient(input.recipient);
      const fileKey = await fileKeyOf(file);
      try {
        const header = await sealHeader(fileKey, [parseRecipient(target.ageRecipient)]);
        catalog.grant({
          fileId: file.id,
          principalId: target.id,
          header,
          actorId: actor.id,
          ...(input.expiresAt === undefined ? {} : { expiresAt: input.expiresAt }),
        });
      } finally {
        fileKey.fill(0);
      }
      return view(actor, catalog.getFile(file.id) as FileRecord);
    },

    /** Stops future key release. It cannot take back a key the recipient already used. */
    revoke(actor: Principal, id: string, recipient: string): FileView {
      const file = fileFor(actor, id, "share", "file.revoke");
      const target = catalog.principalById(recipient) ?? catalog.principalByName(recipient);
      if (target === undefined) throw new VaultError("NOT_FOUND", "no such grant");
      catalog.revoke({ fileId: file.id, principalId: target.id, actorId: actor.id });
      return view(actor, catalog.getFile(file.id) as FileRecord);
    },

    /** Crypto-shredding: every header and the salt destroyed, the payload unpinned and collected. */
    async erase(actor: Principal, id: string, reason: string): Promise<ErasureCertificate> {
      if (typeof reason !== "string" || reason.trim() === "") throw new VaultError("BAD_REQUEST", "an erasure needs a reason");
      const file = fileFor(actor, id, "erase", "file.erase");
      if (file.state === "erased") throw new VaultError("GONE", "the file was already erased");
      const erasure = catalog.eraseFile({ fileId: file.id, actorId: actor.id, reason: reason.trim() });
      deps.anchor?.notify?.();
      // Here and on every connected node; a node that is down drops it at its next start.
      const replicas = await store.unpinEverywhere(erasure.payloadCid);
      // Its own blocks go now: a full collect lists every block in the store, seconds under load.
      const collectedBlocks = await store.discard(erasure.payloadCid);
      const certificate: ErasureCertificate = {
        type: "medvault.erasure/v1",
        fileId: erasure.fileId,
        erasedAt: erasure.erasedAt,
        by: { id: actor.id, name: actor.name },
        reason: reason.trim(),
        destroyed: erasure.destroyed,
        unpinned: true,
        collectedBlocks,
        ...(store.swarm === undefined ? {} : { replicas }),
        event: { id: erasure.event.id, hash: Buffer.from(erasure.event.eventHash).toString("hex") },
      };
      if (deps.anchor?.sign !== undefined) Object.assign(certificate, await deps.anchor.sign(JSON.stringify(certificate)));
      return certificate;
    },

    audit(actor: Principal, query: { fileId?: string; actorId?: string; action?: string; afterSeq?: number; limit?: number } = {}) {
      requireRoleAudited(actor, "audit.read", "privacy", "admin");
      return catalog.listEvents(query).map((e) => ({
        seq: e.seq,
        id: e.id,
        at: e.at,
        actorId: e.actorId,
        action: e.action,
        fileId: e.fileId,
        outcome: e.outcome,
        detail: e.detail,
        hash: Buffer.from(e.eventHash).toString("hex"),
        anchor: anchorOf("event", e.id),
      }));
    },

    createPrincipal(actor: Principal | undefined, input: { name: string; role: Role; ageRecipient?: string }) {
      if (actor !== undefined) requireRoleAudited(actor, "principal.create", "admin");
      if (input.ageRecipient !== undefined) parseRecipient(input.ageRecipient);
      if (input.role === "recipient" && input.ageRecipient === undefined)
        throw new VaultError("BAD_REQUEST", "a recipient needs an ageRecipient (age1… or age1pq1…)");
      const { principal, token } = catalog.createPrincipal({
        name: input.name,
        role: input.role,
        ...(input.ageRecipient === undefined ? {} : { ageRecipient: input.ageRecipient }),
        ...(actor === undefined ? {} : { actorId: actor.id }),
      });
      return { id: principal.id, name: principal.name, role: principal.role, ageRecipient: principal.ageRecipient, token };
    },

    /** Refuses a non-uploader before an upload's body is read (audited, as every denial). */
    requireUploader(actor: Principal): void {
      requireRoleAudited(actor, "file.upload", "uploader");
    },

    /** The principal behind a bearer token, or undefined. */
    authenticate(token: string): Principal | undefined {
      const p = catalog.principalByToken(token);
      return p === undefined || p.disabledAt !== null ? undefined : p;
    },

    /** Start-up: drop pins no committed file references (uploads cut by a crash), collect their blocks. */
    async recover(): Promise<{ unpinned: number; collected: number }> {
      const referenced = new Set(catalog.referencedCids());
      let unpinned = 0;
      for await (const cid of store.pins()) {
        if (!referenced.has(cid.toString())) {
          await store.unpin(cid);
          unpinned++;
        }
      }
      return { unpinned, collected: await store.collect() };
    },
  };
}

/**
 * A committed file's payload from the store. The catalog says the file exists, so blocks the
 * store cannot find (none here, and no swarm peer sent them in time) are BLOCKS_UNAVAILABLE,
 * not NOT_FOUND.
 */
async function* payloadBlocks(store: BlobStore, cid: string, options: { signal?: AbortSignal }): AsyncGenerator<Uint8Array> {
  try {
    yield* store.cat(cid, options);
  } catch (error) {
    if (isVaultError(error) && error.code === "NOT_FOUND") {
      throw new VaultError("BLOCKS_UNAVAILABLE", "the file's blocks are not on this node and no peer sent them", { cause: error });
    }
    throw error;
  }
}

/** File names are metadata: no path, no control characters, bounded. */
function sanitizeName(name: string): string {
  const base =
    String(name ?? "")
      .split(/[\\/]/)
      .pop() ?? "";
  const clean = [...base]
    .filter((ch) => ch.charCodeAt(0) >= 0x20 && ch.charCodeAt(0) !== 0x7f)
    .join("")
    .trim()
    .slice(0, MAX_NAME);
  return clean === "" || clean === "." || clean === ".." ? "unnamed" : clean;
}
