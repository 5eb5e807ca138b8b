/**
 * Path-to-path age encryption and decryption of regular files on several threads (parallel.ts).
 * The header work is the envelope's; only the payload runs in the workers. Used by the CLI for
 * large files; streams (stdin, stdout, HTTP) take the streaming path.
 */

import { randomBytes } from "node:crypto";
import { open, truncate } from "node:fs/promises";
import { VaultError } from "../errors.ts";
import { newFileKey, openHeader, sealHeader } from "./envelope.ts";
import { findHeaderEnd, MAX_HEADER_BYTES } from "./format.ts";
import type { Identity, Recipient } from "./keys.ts";
import { openFile, sealFile } from "./parallel.ts";
import { NONCE_SIZE, payloadKeyBytes } from "./payload.ts";

async function createOutput(path: string, head: Uint8Array): Promise<void> {
  const fh = await open(path, "w");
  try {
    await fh.write(head, 0, head.length, 0);
  } finally {
    await fh.close();
  }
}

export async function encryptFileParallel(input: string, output: string, size: number, recipients: readonly Recipient[]): Promise<void> {
  const fileKey = newFileKey();
  const header = await sealHeader(fileKey, recipients);
  const nonce = randomBytes(NONCE_SIZE);
  await createOutput(output, Buffer.concat([header, nonce]));
  const key = payloadKeyBytes(fileKey, nonce);
  fileKey.fill(0);
  try {
    await sealFile({ key, input, output, inOffset: 0, outOffset: header.length + NONCE_SIZE, plaintextBytes: size });
  } finally {
    key.fill(0);
  }
}

/** Reads the header off a binary age file; undefined if it does not start like one (armored, say). */
export async function readFileHeader(input: string): Promise<{ header: Uint8Array; nonce: Uint8Array } | undefined> {
  const fh = await open(input, "r");
  try {
    const buf = Buffer.alloc(MAX_HEADER_BYTES + NONCE_SIZE);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    const head = buf.subarray(0, bytesRead);
    if (!head.subarray(0, 19).equals(Buffer.from("age-encryption.org/"))) return undefined;
    const end = findHeaderEnd(head);
    if (end === -1) throw new VaultError("HEADER_FAILURE", bytesRead === buf.length ? "header too large" : "input ends inside the header");
    const nonce = head.subarray(end, end + NONCE_SIZE);
    return { header: head.subarray(0, end), nonce };
  } finally {
    await fh.close();
  }
}

/**
 * Decrypts a binary age file to `output`. On a payload failure the output keeps exactly the
 * plaintext authenticated before the first bad chunk, and PAYLOAD_FAILURE is thrown.
 */
export async function decryptFileParallel(
  input: string,
  output: string,
  size: number,
  parsed: { header: Uint8Array; nonce: Uint8Array },
  identities: readonly Identity[],
): Promise<void> {
  const fileKey = await openHeader(parsed.header, identities);
  if (parsed.nonce.length < NONCE_SIZE) throw new VaultError("HEADER_FAILURE", "payload nonce missing or short");
  const key = payloadKeyBytes(fileKey, parsed.nonce);
  fileKey.fill(0);
  await createOutput(output, new Uint8Array(0));
  const inOffset = parsed.header.length + NONCE_SIZE;
  try {
    const r = await openFile({ key, input, output, inOffset, outOffset: 0, sealedBytes: size - inOffset });
    if (r.truncateTo !== undefined) await truncate(output, r.truncateTo);
    if (r.failure !== undefined) throw r.failure;
  } finally {
    key.fill(0);
  }
}
