/**
 * A multer StorageEngine that streams the `file` part straight into the vault: no temp file,
 * no memory buffer, no plaintext on disk. Text fields must come before the file part (browsers
 * and the CLI send them in the order they were appended), so recipients are known when the
 * bytes start to flow.
 */

import type { Request } from "express";
import multer from "multer";
import type { Principal } from "../catalog/index.ts";
import { VaultError } from "../errors.ts";
import type { FileView, Vault } from "../vault/index.ts";

type Field = string | string[] | undefined;

function list(value: Field): string[] {
  if (value === undefined) return [];
  const all = Array.isArray(value) ? value : [value];
  // Accept repeated fields and comma-separated lists alike.
  return all
    .flatMap((v) => String(v).split(","))
    .map((v) => v.trim())
    .filter((v) => v !== "");
}

function parseTime(value: Field, title: string): Date | undefined {
  if (value === undefined || value === "") return undefined;
  if (Array.isArray(value)) throw new VaultError("BAD_REQUEST", `${title} given twice`);
  const d = new Date(value);
  if (Number.isNaN(d.getTime()) || !/^\d{4}-\d{2}-\d{2}/.test(value))
    throw new VaultError("BAD_REQUEST", `${title} must be an ISO 8601 time`);
  return d;
}

export type UploadedRequest = Request & { principal?: Principal; uploaded?: FileView };

export function createUploadEngine(vault: Vault, maxBytes: number): multer.StorageEngine {
  return {
    _handleFile(req: UploadedRequest, file, cb) {
      const actor = req.principal;
      if (actor === undefined) return cb(new VaultError("UNAUTHORIZED", "missing bearer token"));
      const body = (req.body ?? {}) as Record<string, Field>;
      const abort = new AbortController();
      req.once("close", () => {
        if (!req.complete) abort.abort(new VaultError("BAD_REQUEST", "the upload was interrupted"));
      });
      let expiresAt: Date | undefined;
      try {
        expiresAt = parseTime(body.expiresAt, "expiresAt");
      } catch (error) {
        file.stream.resume();
        return cb(error as Error);
      }
      vault
        .upload(actor, {
          name: file.originalname,
          source: file.stream,
          recipients: list(body.recipients ?? body["recipients[]"]),
          ...(expiresAt === undefined ? {} : { expiresAt }),
          maxBytes,
          signal: abort.signal,
        })
        .then(
          (view) => {
            req.uploaded = view;
            cb(null, { size: view.size });
          },
          (error: unknown) => {
            file.stream.resume(); // drain what is left so the response can be sent
            cb(error as Error);
          },
        );
    },
    _removeFile(_req, _file, cb) {
      // Nothing to remove: a failed upload was never committed, and its pin is dropped by the vault.
      cb(null);
    },
  };
}

export function createUploadMiddleware(vault: Vault, maxBytes: number) {
  return multer({
    storage: createUploadEngine(vault, maxBytes),
    // Browsers send a non-ASCII filename as raw UTF-8 (WHATWG multipart/form-data), not latin1.
    defParamCharset: "utf8",
    limits: { fileSize: maxBytes, files: 1, fields: 64, fieldSize: 64 * 1024, parts: 66, headerPairs: 100 },
  }).single("file");
}
