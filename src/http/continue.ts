/**
 * `Expect: 100-continue` for uploads: the token, the role and the declared size are checked
 * before the client sends the body, so a refusal (401, 403, 413) reaches it instead of being
 * lost when the server stops reading mid-body and the client's next write fails.
 */

import type { IncomingMessage, ServerResponse } from "node:http";
import type { Principal } from "../catalog/index.ts";
import { VaultError } from "../errors.ts";
import { STATUS } from "./status.ts";

export function createCheckContinue(options: { authenticate(token: string): Principal | undefined; maxUploadBytes: number }) {
  return (req: IncomingMessage, res: ServerResponse, proceed: () => void): void => {
    let refusal: VaultError | undefined;
    if (req.method === "POST" && (req.url ?? "").split("?")[0] === "/v1/files") {
      const m = /^Bearer (\S{8,300})$/.exec(req.headers.authorization ?? "");
      const principal = m?.[1] === undefined ? undefined : options.authenticate(m[1]);
      const declared = Number(req.headers["content-length"] ?? Number.NaN);
      if (principal === undefined) refusal = new VaultError("UNAUTHORIZED", "missing or invalid bearer token");
      else if (principal.role !== "uploader") refusal = new VaultError("FORBIDDEN", "this needs the uploader role");
      else if (declared > options.maxUploadBytes + 1024 * 1024)
        refusal = new VaultError("PAYLOAD_TOO_LARGE", `uploads are limited to ${options.maxUploadBytes} bytes`);
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
