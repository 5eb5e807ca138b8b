/**
 * The age v1 header (C2SP age specification, "Header"): parsing and encoding.
 *
 * Parsing is strict, as the spec and its test vectors require: LF line endings only, canonical
 * unpadded base64, 64-column stanza bodies ending in a short line, a 32-byte MAC. Every
 * violation is a `HEADER_FAILURE`. The MAC itself is checked in envelope.ts, which knows the key.
 */

import { VaultError } from "../errors.ts";

export const VERSION_LINE = "age-encryption.org/v1";
/** Upper bound on a header we are willing to read, so a hostile input cannot exhaust memory. */
export const MAX_HEADER_BYTES = 4 * 1024 * 1024;

export type Stanza = { args: string[]; body: Uint8Array };

export type Header = {
  stanzas: Stanza[];
  /** The header up to and including "---", the bytes the MAC covers. */
  headerNoMac: Uint8Array;
  mac: Uint8Array;
  /** Bytes of the whole header, MAC line and its newline included. */
  length: number;
};

const B64_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const B64_INDEX = new Int16Array(128).fill(-1);
for (let i = 0; i < B64_ALPHABET.length; i++) B64_INDEX[B64_ALPHABET.charCodeAt(i)] = i;

function fail(why: string): never {
  throw new VaultError("HEADER_FAILURE", `invalid age header: ${why}`);
}

/** Canonical unpadded base64 (RFC 4648 §3.5: unused bits must be zero). */
export function decodeBase64NoPad(text: string, title: string): Uint8Array {
  if (text.length % 4 === 1) fail(`${title}: bad base64 length`);
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c >= 128 || B64_INDEX[c] === -1) fail(`${title}: bad base64 character`);
  }
  const bytes = Buffer.from(text, "base64");
  // Node's decoder is lenient about trailing bits; re-encoding catches non-canonical input.
  if (bytes.toString("base64").replace(/=+$/, "") !== text) fail(`${title}: non-canonical base64`);
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length);
}

export function encodeBase64NoPad(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString("base64").replace(/=+$/, "");
}

function isVchar(c: number): boolean {
  return c >= 0x21 && c <= 0x7e;
}

/**
 * Finds the end of the header in `bytes` (the index just past the MAC line's newline), or -1 if
 * the MAC line has not arrived yet. Used to split a stream into header and payload.
 */
export function findHeaderEnd(bytes: Uint8Array): number {
  let lineStart = 0;
  for (;;) {
    const nl = bytes.indexOf(0x0a, lineStart);
    if (nl === -1) return -1;
    if (bytes[lineStart] === 0x2d && bytes[lineStart + 1] === 0x2d && bytes[lineStart + 2] === 0x2d) {
      return nl + 1;
    }
    lineStart = nl + 1;
  }
}

/** Parses exactly one header (the whole of `bytes`). */
export function parseHeader(bytes: Uint8Array): Header {
  for (const b of bytes) if (b >= 0x80) fail("non-ASCII byte");
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString("latin1");
  if (!text.endsWith("\n")) fail("missing final newline");
  const lines = text.slice(0, -1).split("\n");
  if (lines[0] !== VERSION_LINE) fail("unsupported version line");

  const stanzas: Stanza[] = [];
  let i = 1;
  for (;;) {
    const line = lines[i];
    if (line === undefined) fail("missing MAC line");
    if (line.startsWith("---")) break;
    if (!line.startsWith("-> ")) fail("stanza does not start with '-> '");
    const args = line.slice(3).split(" ");
    for (const arg of args) {
      if (arg.length === 0) fail("empty stanza argument");
      for (let k = 0; k < arg.length; k++) if (!isVchar(arg.charCodeAt(k))) fail("bad stanza argument character");
    }
    i++;
    const parts: Uint8Array[] = [];
    for (;;) {
      const bodyLine = lines[i];
      if (bodyLine === undefined) fail("stanza body not terminated");
      if (bodyLine.length > 64) fail("stanza body line longer than 64 columns");
      if (bodyLine.startsWith("---") || bodyLine.startsWith("-> ")) fail("stanza body not terminated");
      parts.push(decodeBase64NoPad(bodyLine, "stanza body"));
      i++;
      if (bodyLine.length < 64) break;
    }
    stanzas.push({ args, body: Buffer.concat(parts) });
  }

  const macLine = lines[i] as string;
  if (i !== lines.length - 1) fail("data after MAC line");
  if (!macLine.startsWith("--- ")) fail("malformed MAC line");
  const mac = decodeBase64NoPad(macLine.slice(4), "MAC");
  if (mac.length !== 32) fail("MAC is not 32 bytes");
  const macStart = bytes.length - macLine.length - 1;
  return { stanzas, headerNoMac: bytes.subarray(0, macStart + 3), mac, length: bytes.length };
}

/** The header bytes the MAC covers: version line, stanzas, and "---" (no space, no MAC). */
export function encodeHeaderNoMac(stanzas: readonly Stanza[]): Uint8Array {
  let out = `${VERSION_LINE}\n`;
  for (const s of stanzas) {
    out += `-> ${s.args.join(" ")}\n`;
    const b64 = encodeBase64NoPad(s.body);
    for (let k = 0; k < b64.length; k += 64) out += `${b64.slice(k, k + 64)}\n`;
    // A body whose encoding fills whole lines still needs its short (empty) final line.
    if (b64.length % 64 === 0) out += "\n";
  }
  return new TextEncoder().encode(`${out}---`);
}

export function encodeHeader(stanzas: readonly Stanza[], mac: Uint8Array): Uint8Array {
  const noMac = encodeHeaderNoMac(stanzas);
  const tail = new TextEncoder().encode(` ${encodeBase64NoPad(mac)}\n`);
  const out = new Uint8Array(noMac.length + tail.length);
  out.set(noMac);
  out.set(tail, noMac.length);
  return out;
}
