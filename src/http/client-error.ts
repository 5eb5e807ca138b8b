/**
 * Requests that Node's HTTP parser refuses before Express sees them (a malformed request line
 * or header, raw bytes outside the allowed set, headers too large) get the API's JSON error,
 * not Node's bare status line, so every 4xx carries a code.
 */

import type { Duplex } from "node:stream";
import { VaultError } from "../errors.ts";
import { STATUS } from "./status.ts";

export function answerClientError(error: Error & { code?: string }, socket: Duplex): void {
  // Mirrors Node's default: answer only while nothing of a response has gone out.
  const pending = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (error.code === "ECONNRESET" || !socket.writable || pending?.headersSent === true) {
    socket.destroy();
    return;
  }
  const e = new VaultError("BAD_REQUEST", error.code === "HPE_HEADER_OVERFLOW" ? "request headers too large" : "malformed HTTP request");
  const body = JSON.stringify({ error: { code: e.code, message: e.message } });
  socket.end(
    `HTTP/1.1 ${STATUS[e.code]} Bad Request\r\nContent-Type: application/json; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}
