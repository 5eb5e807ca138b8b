/**
 * The envelope of DESIGN.md: an age v1 file (C2SP) cut in two at the end of its header. The
 * header (recipient stanzas + MAC) lives in the catalog, one per holder; the payload (nonce +
 * STREAM) lives on IPFS and never changes when recipients change. header ‖ payload is an
 * ordinary age file.
 */

import { createHmac, hkdfSync, randomBytes, timingSafeEqual } from "node:crypto";
import { VaultError } from "../errors.ts";
import { encodeHeader, encodeHeaderNoMac, findHeaderEnd, MAX_HEADER_BYTES, parseHeader, type Stanza } from "./format.ts";
import type { Identity, Recipient } from "./keys.ts";
import { decryptPayload, encryptPayload } from "./payload.ts";
import { Reader } from "./reader.ts";

export const FILE_KEY_SIZE = 16;
/** Armored files are decoded whole; they are meant for small files pasted into text. */
const MAX_ARMORED_BYTES = 64 * 1024 * 1024;

type Source = AsyncIterable<Uint8Array> | Iterable<Uint8Array>;

export function newFileKey(): Uint8Array {
  return randomBytes(FILE_KEY_SIZE);
}

function headerMac(fileKey: Uint8Array, headerNoMac: Uint8Array): Buffer {
  const macKey = Buffer.from(hkdfSync("sha256", fileKey, new Uint8Array(0), "header", 32));
  return createHmac("sha256", macKey).update(headerNoMac).digest();
}

/** A header wrapping `fileKey` for every recipient, with its MAC. */
export async function sealHeader(fileKey: Uint8Array, recipients: readonly Recipient[]): Promise<Uint8Array> {
  if (fileKey.length !== FILE_KEY_SIZE) throw new VaultError("BAD_REQUEST", "file key must be 16 bytes");
  if (recipients.length === 0) throw new VaultError("BAD_REQUEST", "at least one recipient is required");
  const stanzas: Stanza[] = [];
  for (const r of recipients) stanzas.push(...(await r.wrap(fileKey)));
  return encodeHeader(stanzas, headerMac(fileKey, encodeHeaderNoMac(stanzas)));
}

/** Unwraps the file key from a header with the first identity that matches, and checks the MAC. */
export async function openHeader(header: Uint8Array, identities: readonly Identity[]): Promise<Uint8Array> {
  const parsed = parseHeader(header);
  let fileKey: Uint8Array | null = null;
  for (const id of identities) {
    fileKey = await id.unwrap(parsed.stanzas);
    if (fileKey !== null) break;
  }
  if (fileKey === null) {
    if (parsed.stanzas.some((st) => st.args[0] === "scrypt")) {
      throw new VaultError("UNSUPPORTED", "passphrase-encrypted (scrypt) age files are not supported; use recipient keys");
    }
    throw new VaultError("NO_MATCH", "no identity matched any of the file's recipients");
  }
  if (fileKey.length !== FILE_KEY_SIZE) throw new VaultError("HEADER_FAILURE", "unwrapped file key is not 16 bytes");
  if (!timingSafeEqual(headerMac(fileKey, parsed.headerNoMac), parsed.mac)) {
    throw new VaultError("HMAC_FAILURE", "header MAC does not match");
  }
  return fileKey;
}

/** A new header for `recipients` carrying the file key of `header`; the payload is untouched. */
export async function rewrapHeader(
  header: Uint8Array,
  identities: readonly Identity[],
  recipients: readonly Recipient[],
): Promise<Uint8Array> {
  const fileKey = await openHeader(header, identities);
  try {
    return await sealHeader(fileKey, recipients);
  } finally {
    fileKey.fill(0);
  }
}

/** Encrypts a plaintext stream: the header (bytes) and the payload stream, to store apart or concatenate. */
export async function encryptStream(
  source: Source,
  recipients: readonly Recipient[],
  options: { signal?: AbortSignal } = {},
): Promise<{ header: Uint8Array; payload: AsyncGenerator<Uint8Array> }> {
  const fileKey = newFileKey();
  const header = await sealHeader(fileKey, recipients);
  return { header, payload: encryptPayload(fileKey, source, options) };
}

/** Reads one age header off the front of a stream; returns it and the reader positioned after it. */
export async function readHeader(reader: Reader): Promise<Uint8Array> {
  for (;;) {
    const end = findHeaderEnd(reader.peek());
    if (end !== -1) return reader.take(end);
    if (reader.buffered > MAX_HEADER_BYTES) throw new VaultError("HEADER_FAILURE", "header too large");
    if (!(await reader.pull())) {
      if (reader.buffered === 0) throw new VaultError("HEADER_FAILURE", "empty input");
      throw new VaultError("HEADER_FAILURE", "input ends inside the header");
    }
  }
}

/**
 * If the input looks ASCII-armored, decodes it strictly; otherwise passes it through. A binary
 * age file starts with its version line; anything else that carries a PEM-style "-----BEGIN"
 * near its start is treated as an armor attempt, so a damaged armor reports ARMOR_FAILURE.
 */
async function dearmor(reader: Reader): Promise<Reader> {
  while (reader.buffered < 1024 && (await reader.pull())) {}
  const head = Buffer.from(reader.peek().subarray(0, 1024)).toString("latin1");
  if (head.startsWith("age-encryption.org/") || !/-----\s*BEGIN/i.test(head)) return reader;
  while (await reader.pull()) {
    if (reader.buffered > MAX_ARMORED_BYTES) throw new VaultError("ARMOR_FAILURE", "armored input too large");
  }
  const text = Buffer.from(reader.peek()).toString("latin1");
  // typage's armor decoder, loaded only for armored input (start-up of the binary path).
  const { armor } = await import("age-encryption");
  try {
    return new Reader([armor.decode(text)]);
  } catch (cause) {
    throw new VaultError("ARMOR_FAILURE", "invalid ASCII armor", { cause });
  }
}

/**
 * Decrypts an age file stream (binary or armored) with the given identities. The header is
 * processed before the first plaintext byte; each yielded chunk is authenticated.
 */
export async function* decryptStream(
  source: Source,
  identities: readonly Identity[],
  options: { signal?: AbortSignal } = {},
): AsyncGenerator<Uint8Array> {
  const reader = await dearmor(new Reader(source));
  const header = await readHeader(reader);
  const fileKey = await openHeader(header, identities);
  try {
    yield* decryptPayload(fileKey, reader.rest(), options);
  } finally {
    fileKey.fill(0);
    await reader.close();
  }
}
