/**
 * The HTTP API of DESIGN.md ("Names that tools rely on"), built by `createApp(deps)` with no
 * port, so tests drive it directly; only server.ts calls `listen`. JSON under /v1, bearer
 * tokens, errors `{"error": {"code", "message"}}` with the status from status.ts.
 */

import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import express, { type NextFunction, type Request, type Response } from "express";
import multer from "multer";
import type { Role } from "../catalog/index.ts";
import { isVaultError, VaultError } from "../errors.ts";
import type { Vault } from "../vault/index.ts";
import { type Auth, type AuthedRequest, createAuth, principalOf } from "./auth.ts";
import { createMetrics } from "./metrics.ts";
import { openApiDocument } from "./openapi.ts";
import { STATUS } from "./status.ts";
import { createUploadMiddleware, type UploadedRequest } from "./upload.ts";

export type Logger = {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
};

export type AppDeps = {
  vault: Vault;
  maxUploadBytes: number;
  log?: Logger;
  /** Extra routes and readiness from anchoring (receipts, chain info, proofs). */
  anchoring?: {
    chainInfo(): object;
    receipt(fileId: string): Promise<object>;
    eventProof?(eventId: string): Promise<object>;
    ready?(): Promise<boolean>;
    anchorer?(): "active" | "standby";
  };
  /** Static web page directory, served at `/`. */
  webDir?: string;
  auth?: { maxFailures?: number; windowMs?: number };
  /** An authenticator shared with the server's `Expect: 100-continue` check (one failure count). */
  requireAuth?: Auth;
};

const ROLES: readonly Role[] = ["uploader", "recipient", "privacy", "admin"];

/** An async route whose errors reach the error handler (Express 5 does this natively; kept explicit). */
type Handler = (req: AuthedRequest, res: Response) => Promise<unknown> | unknown;
const route = (h: Handler) => (req: Request, res: Response, next: NextFunction) => {
  Promise.resolve(h(req as AuthedRequest, res)).catch(next);
};

function str(value: unknown, title: string, max = 1000): string {
  if (typeof value !== "string" || value.trim() === "" || value.length > max)
    throw new VaultError("BAD_REQUEST", `${title}: expected a non-empty string of at most ${max} characters`);
  return value.trim();
}

function optionalTime(value: unknown, title: string): Date | undefined {
  if (value === undefined || value === null || value === "") return undefined;
  const d = typeof value === "string" && /^\d{4}-\d{2}-\d{2}/.test(value) ? new Date(value) : new Date(Number.NaN);
  if (Number.isNaN(d.getTime())) throw new VaultError("BAD_REQUEST", `${title} must be an ISO 8601 time`);
  return d;
}

function optionalInt(value: unknown, title: string, max: number): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "string" || !/^\d{1,9}$/.test(value) || Number(value) > max)
    throw new VaultError("BAD_REQUEST", `${title} must be an integer up to ${max}`);
  return Number(value);
}

function contentDisposition(name: string | null, fallback: string): string {
  const n = name ?? fallback;
  const ascii = n.replace(/[^\x20-\x7e]|["\\]/g, "_");
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(n)}`;
}

/**
 * Reads the first piece before the status line goes out, so a file that fails verification at
 * once (root block, first chunk) gets a real answer (500 INTEGRITY_FAILED), not a cut connection.
 */
async function primed(stream: AsyncIterable<Uint8Array>): Promise<AsyncIterable<Uint8Array>> {
  const it = stream[Symbol.asyncIterator]();
  const first = await it.next();
  return (async function* () {
    try {
      if (first.done === true) return;
      yield first.value;
      for (let next = await it.next(); next.done !== true; next = await it.next()) yield next.value;
    } finally {
      await it.return?.();
    }
  })();
}

/** Streams to the response; a failure mid-body destroys the socket, so the client sees an abort, never a short file passing as whole. */
async function send(req: Request, res: Response, stream: AsyncIterable<Uint8Array>, onBytes: (n: number) => void): Promise<void> {
  let sent = 0;
  async function* counted() {
    for await (const piece of stream) {
      sent += piece.length;
      yield piece;
    }
  }
  try {
    await pipeline(Readable.from(counted(), { objectMode: false }), res);
  } catch (error) {
    res.destroy(error as Error);
    if (!req.destroyed && !isVaultError(error)) throw error;
  } finally {
    onBytes(sent);
  }
}

export function createApp(deps: AppDeps) {
  const { vault } = deps;
  const metrics = createMetrics();
  const app = express();
  app.disable("x-powered-by");
  app.set("etag", false);
  app.set("query parser", "simple");
  const requireAuth = deps.requireAuth ?? createAuth({ authenticate: (t) => vault.authenticate(t), ...deps.auth });
  const json = express.json({ limit: "64kb", strict: true });

  // Security headers; CORS stays closed (no Access-Control-* headers are ever sent).
  app.use((req, res, next) => {
    res.set({
      "X-Content-Type-Options": "nosniff",
      "X-Frame-Options": "DENY",
      "Referrer-Policy": "no-referrer",
      "Cross-Origin-Opener-Policy": "same-origin",
      "Cross-Origin-Resource-Policy": "same-origin",
      "Content-Security-Policy":
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
      "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
    });
    if (req.path.startsWith("/v1/")) res.set("Cache-Control", "no-store");
    const started = performance.now();
    res.on("finish", () => {
      const routePath = (req.route as { path?: string } | undefined)?.path ?? "unmatched";
      metrics.request(routePath, req.method, res.statusCode);
      // Route patterns only: no ids, names or tokens in logs.
      deps.log?.info({
        method: req.method,
        route: routePath,
        status: res.statusCode,
        ms: Math.round(performance.now() - started),
        principal: (req as AuthedRequest).principal?.id,
      });
    });
    next();
  });

  app.get("/healthz", (_req, res) => {
    res.json({ ok: true });
  });
  app.get(
    "/readyz",
    route(async (_req, res) => {
      const chain = deps.anchoring?.ready === undefined ? true : await deps.anchoring.ready().catch(() => false);
      const anchorer = deps.anchoring?.anchorer?.();
      res.status(200).json({ ready: true, chain: chain ? "up" : "down", ...(anchorer === undefined ? {} : { anchorer }) });
    }),
  );
  app.get("/metrics", (_req, res) => {
    res.type("text/plain; version=0.0.4").send(metrics.render());
  });
  app.get("/v1/openapi.json", (_req, res) => {
    res.json(openApiDocument);
  });
  if (deps.anchoring !== undefined) {
    const a = deps.anchoring;
    app.get("/v1/chain", (_req, res) => {
      res.json(a.chainInfo());
    });
  }

  // Who the token belongs to: the web page picks its view from the role.
  app.get("/v1/me", requireAuth, (req, res) => {
    const { id, name, role } = principalOf(req as AuthedRequest);
    res.json({ id, name, role });
  });

  app.post(
    "/v1/principals",
    requireAuth,
    json,
    route((req, res) => {
      const body = (req.body ?? {}) as Record<string, unknown>;
      const role = body.role;
      if (typeof role !== "string" || !ROLES.includes(role as Role))
        throw new VaultError("BAD_REQUEST", `role must be one of ${ROLES.join(", ")}`);
      const ageRecipient =
        body.ageRecipient === undefined || body.ageRecipient === null ? undefined : str(body.ageRecipient, "ageRecipient", 4096);
      const created = vault.createPrincipal(principalOf(req), {
        name: str(body.name, "name", 100),
        role: role as Role,
        ...(ageRecipient === undefined ? {} : { ageRecipient }),
      });
      res.status(201).json(created);
    }),
  );

  const upload = createUploadMiddleware(vault, deps.maxUploadBytes);
  app.post(
    "/v1/files",
    requireAuth,
    (req, res, next) => {
      // Refuse before reading the body when the role cannot upload or the size is known too big.
      try {
        vault.requireUploader(principalOf(req as AuthedRequest));
      } catch (error) {
        return next(error);
      }
      const declared = Number(req.get("content-length") ?? Number.NaN);
      if (declared > deps.maxUploadBytes + 1024 * 1024)
        return next(new VaultError("PAYLOAD_TOO_LARGE", `uploads are limited to ${deps.maxUploadBytes} bytes`));
      if (!(req.get("content-type") ?? "").startsWith("multipart/form-data"))
        return next(new VaultError("BAD_REQUEST", "send multipart/form-data with a `file` part"));
      upload(req, res, next);
    },
    route((req, res) => {
      const view = (req as UploadedRequest).uploaded;
      if (view === undefined) throw new VaultError("BAD_REQUEST", "no `file` part in the form");
      metrics.uploaded(view.size);
      res.status(201).location(`/v1/files/${view.id}`).json(view);
    }),
  );

  app.get(
    "/v1/files",
    requireAuth,
    route((req, res) => {
      const q = req.query as Record<string, unknown>;
      const limit = optionalInt(q.limit, "limit", 1000);
      const after = q.after === undefined ? undefined : str(q.after, "after", 64);
      res.json({
        files: vault.list(principalOf(req), {
          ...(limit === undefined ? {} : { limit }),
          ...(after === undefined ? {} : { afterId: after }),
        }),
      });
    }),
  );
  app.get(
    "/v1/files/:id",
    requireAuth,
    route((req, res) => {
      res.json(vault.get(principalOf(req), String(req.params.id)));
    }),
  );

  app.get(
    "/v1/files/:id/content",
    requireAuth,
    route(async (req, res) => {
      const abort = new AbortController();
      res.once("close", () => abort.abort());
      const c = await vault.content(principalOf(req), String(req.params.id), { signal: abort.signal });
      const body = await primed(c.stream);
      res.status(200).set({
        "Content-Type": c.mediaType,
        "Content-Length": String(c.size),
        "Content-Disposition": contentDisposition(c.name, `${c.file.id}.bin`),
        "Repr-Digest": `sha-256=:${Buffer.from(c.sha256, "hex").toString("base64")}:`,
        "X-Medvault-Verified": "blocks,chunks,sha256,commitment,chain",
      });
      await send(req, res, body, (n) => metrics.downloaded(n));
    }),
  );
  app.get(
    "/v1/files/:id/age",
    requireAuth,
    route(async (req, res) => {
      const abort = new AbortController();
      res.once("close", () => abort.abort());
      const a = await vault.ageFile(principalOf(req), String(req.params.id), { signal: abort.signal });
      res.status(200).set({
        "Content-Type": "application/octet-stream",
        "Content-Length": String(a.size),
        "Content-Disposition": contentDisposition(a.file.name === null ? null : `${a.file.name}.age`, `${a.file.id}.age`),
      });
      await send(req, res, a.stream, () => {});
    }),
  );
  app.get(
    "/v1/files/:id/receipt",
    requireAuth,
    route(async (req, res) => {
      const id = String(req.params.id);
      const view = vault.get(principalOf(req), id); // visibility and audit
      if (principalOf(req).role === "admin") throw new VaultError("FORBIDDEN", "the admin role may not do this");
      if (view.state === "erased")
        throw new VaultError("GONE", "the file was erased: its salt is destroyed, so no receipt links it any more");
      if (deps.anchoring === undefined) throw new VaultError("UNSUPPORTED", "anchoring is not configured");
      res.json(await deps.anchoring.receipt(id));
    }),
  );

  app.post(
    "/v1/files/:id/grants",
    requireAuth,
    json,
    route(async (req, res) => {
      const body = (req.body ?? {}) as Record<string, unknown>;
      const expiresAt = optionalTime(body.expiresAt, "expiresAt");
      const view = await vault.grant(principalOf(req), String(req.params.id), {
        recipient: str(body.recipient, "recipient", 100),
        ...(expiresAt === undefined ? {} : { expiresAt }),
      });
      res.status(201).json(view);
    }),
  );
  app.delete(
    "/v1/files/:id/grants/:recipient",
    requireAuth,
    route((req, res) => {
      res.json(vault.revoke(principalOf(req), String(req.params.id), String(req.params.recipient)));
    }),
  );
  app.post(
    "/v1/files/:id/erasure",
    requireAuth,
    json,
    route(async (req, res) => {
      const body = (req.body ?? {}) as Record<string, unknown>;
      res.status(200).json(await vault.erase(principalOf(req), String(req.params.id), str(body.reason, "reason")));
    }),
  );

  app.get(
    "/v1/audit",
    requireAuth,
    route((req, res) => {
      const q = req.query as Record<string, unknown>;
      const pick = (k: string) => (q[k] === undefined ? undefined : str(q[k], k, 100));
      const query = {
        fileId: pick("file"),
        actorId: pick("actor"),
        action: pick("action"),
        afterSeq: optionalInt(q.after, "after", 1e9),
        limit: optionalInt(q.limit, "limit", 10_000),
      };
      const clean = Object.fromEntries(Object.entries(query).filter(([, v]) => v !== undefined));
      res.json({ events: vault.audit(principalOf(req), clean) });
    }),
  );
  if (deps.anchoring?.eventProof !== undefined) {
    const proof = deps.anchoring.eventProof;
    app.get(
      "/v1/audit/:eventId/proof",
      requireAuth,
      route(async (req, res) => {
        vault.audit(principalOf(req), { limit: 1 }); // role check
        res.json(await proof(String(req.params.eventId)));
      }),
    );
  }

  if (deps.webDir !== undefined) app.use(express.static(deps.webDir, { index: "index.html", maxAge: 0 }));

  app.use((_req: Request, _res: Response, next: NextFunction) => next(new VaultError("NOT_FOUND", "no such endpoint")));

  app.use((error: unknown, req: Request, res: Response, _next: NextFunction) => {
    const e = toVaultError(error);
    if (STATUS[e.code] >= 500)
      deps.log?.error(
        {
          code: e.code,
          route: (req.route as { path?: string } | undefined)?.path,
          err: e.cause instanceof Error ? e.cause.name : undefined,
        },
        e.message,
      );
    if (res.headersSent) {
      res.destroy();
      return;
    }
    res.status(STATUS[e.code]).json({ error: { code: e.code, message: e.message } });
  });
  return app;
}

/** Maps library errors (body parser, multer) to codes; anything unknown is INTERNAL with a generic message. */
function toVaultError(error: unknown): VaultError {
  if (isVaultError(error)) return error;
  if (error instanceof multer.MulterError) {
    if (error.code === "LIMIT_FILE_SIZE") return new VaultError("PAYLOAD_TOO_LARGE", "the file is larger than the upload limit");
    return new VaultError("BAD_REQUEST", `malformed upload: ${error.code.toLowerCase()}`);
  }
  const e = error as { status?: number; statusCode?: number; type?: string; message?: string };
  const status = e.status ?? e.statusCode;
  if (status === 413) return new VaultError("PAYLOAD_TOO_LARGE", "request body too large");
  if (status !== undefined && status >= 400 && status < 500)
    return new VaultError("BAD_REQUEST", e.type === "entity.parse.failed" ? "malformed JSON body" : "malformed request");
  // busboy's parse errors carry no status; they are the client's malformed multipart.
  if (typeof e.message === "string" && /multipart|boundary|unexpected end of form|part terminated|malformed part header/i.test(e.message)) {
    return new VaultError("BAD_REQUEST", "malformed multipart body");
  }
  return new VaultError("INTERNAL", "internal error", { cause: error });
}
