/**
 * `Expect: 100-continue` for uploads: the token, the role and the declared size are checked
 * before the client sends the body, so a refusal (401, 403, 413) reaches it instead of being
 * lost when the server stops reading mid-body and the client's next write fails.
 */

import type { IncomingMessage, ServerResponse } from "node:http";
import { isVaultError, VaultError } from "../errors.ts";
import type { Auth } from "./auth.ts";
import { STATUS } from "./status.ts";

export function createCheckContinue(options: { auth: Pick<Auth, "check">; maxUploadBytes: number }) {
  return (req: IncomingMessage, res: ServerResponse, proceed: () => void): void => {
    let refusal: VaultError | undefined;
    if (req.method === "POST" && (req.url ?? "").split("?")[0] === "/v1/files") {
      try {
        // The app's own check: a failed token counts towards the same per-address limit (429).
        const principal = options.auth.check(req.socket.remoteAddress ?? "unknown", req.headers.authorization ?? "");
        const declared = Number(req.headers["content-length"] ?? Number.NaN);
        if (principal.role !== "uploader") refusal = new VaultError("FORBIDDEN", "this needs the uploader role");
        else if (declared > options.maxUploadBytes + 1024 * 1024)
          refusal = new VaultError("PAYLOAD_TOO_LARGE", `uploads are limited to ${options.maxUploadBytes} bytes`);
      } catch (error) {
        refusal = isVaultError(error) ? error : new VaultError("INTERNAL", "internal error", { cause: error });
      }
    }
    if (refusal === undefined) {
      res.writeContinue();
      proceed();
      return;
    }
    res.writeHead(STATUS[refusal.code], { "Content-Type": "application/json; charset=utf-8", Connection: "close" });
    res.end(JSON.stringify({ error: { code: refusal.code, message: refusal.message } }));
  };
}
