/**
 * The swarm key: the pre-shared key of a libp2p private network, in the IPFS `swarm.key`
 * text format (go-libp2p-pnet, PSK v1):
 *
 *     /key/swarm/psk/1.0.0/
 *     /base16/
 *     <64 hex digits>
 *
 * Only the base16 form is accepted (Kubo also knows /base64/ and /bin/; its key generator
 * and every guide write base16). Messages never contain the key, nor the value a caller
 * passed, which may be a mistyped key.
 */

import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { VaultError } from "../errors.ts";

export const SWARM_KEY_BYTES = 32;
const HEADER = "/key/swarm/psk/1.0.0/";
const ENCODING = "/base16/";
const HEX_KEY = /^[0-9a-fA-F]{64}$/;

/** A fresh 32-byte swarm key, for a new swarm; `formatSwarmKey` makes the file's text. */
export function generateSwarmKey(): Uint8Array {
  return new Uint8Array(randomBytes(SWARM_KEY_BYTES));
}

/** The `swarm.key` text of a 32-byte key, trailing newline included (as Kubo's tools write it). */
export function formatSwarmKey(key: Uint8Array): string {
  if (!(key instanceof Uint8Array) || key.byteLength !== SWARM_KEY_BYTES) {
    throw new VaultError("BAD_REQUEST", `swarm key: expected ${SWARM_KEY_BYTES} bytes`);
  }
  return `${HEADER}\n${ENCODING}\n${Buffer.from(key).toString("hex")}\n`;
}

/** The 32 key bytes of `swarm.key` text; LF or CRLF line ends, surrounding blanks ignored. */
export function parseSwarmKey(text: string): Uint8Array {
  const lines = text.trim().split(/\r?\n/);
  if (lines.length !== 3 || lines[0]?.trim() !== HEADER) {
    throw new VaultError("BAD_REQUEST", `swarm key: expected three lines, the first ${HEADER}`);
  }
  if (lines[1]?.trim() !== ENCODING) throw new VaultError("BAD_REQUEST", `swarm key: only ${ENCODING} keys are supported`);
  const hex = lines[2]?.trim() ?? "";
  if (!HEX_KEY.test(hex)) throw new VaultError("BAD_REQUEST", "swarm key: the third line must be 64 hex digits");
  return new Uint8Array(Buffer.from(hex, "hex"));
}

/**
 * The key named by a setting such as `MEDVAULT_SWARM_KEY`: either the 64 hex digits
 * themselves or the path of a `swarm.key` file. `name` labels errors.
 */
export async function readSwarmKey(value: string, name = "MEDVAULT_SWARM_KEY"): Promise<Uint8Array> {
  const trimmed = value.trim();
  if (HEX_KEY.test(trimmed)) return new Uint8Array(Buffer.from(trimmed, "hex"));
  if (trimmed === "" || trimmed.includes("\n")) {
    throw new VaultError("BAD_REQUEST", `${name}: expected 64 hex digits or the path of a swarm.key file`);
  }
  let text: string;
  try {
    text = await readFile(trimmed, "utf8");
  } catch (error) {
    // No cause: a file system error names the path, which may be a mistyped key.
    const code = typeof error === "object" && error !== null && "code" in error ? ` (${String(error.code)})` : "";
    throw new VaultError("BAD_REQUEST", `${name}: neither 64 hex digits nor a readable swarm.key file${code}`);
  }
  try {
    return parseSwarmKey(text);
  } catch (error) {
    throw new VaultError("BAD_REQUEST", `${name}: ${(error as Error).message}`);
  }
}

/** The text `@libp2p/pnet` wants: always the canonical form, whatever the input looked like. */
export function pskText(key: Uint8Array): Uint8Array {
  return new TextEncoder().encode(formatSwarmKey(key).trimEnd());
}
