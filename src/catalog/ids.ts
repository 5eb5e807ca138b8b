/**
 * Record identifiers: a type prefix and 128 random bits in lowercase RFC 4648 base32 without
 * padding (26 characters), e.g. `f_2q7…`. Random rather than sequential, so an id reveals
 * neither how many records exist nor when one was made, and cannot be guessed.
 */

import { randomBytes } from "node:crypto";

export type IdPrefix = "p" | "f" | "e";

const ALPHABET = "abcdefghijklmnopqrstuvwxyz234567";
const ID_PATTERN = /^[pfe]_[a-z2-7]{26}$/;

export function newId(prefix: IdPrefix): string {
  return `${prefix}_${base32(randomBytes(16))}`;
}

/** A fresh file id: the vault core needs it before the commit, because the commitment binds it. */
export function newFileId(): string {
  return newId("f");
}

/** Whether `value` is a well-formed id, optionally of one kind. */
export function isId(value: unknown, prefix?: IdPrefix): value is string {
  return typeof value === "string" && ID_PATTERN.test(value) && (prefix === undefined || value.startsWith(`${prefix}_`));
}

function base32(bytes: Uint8Array): string {
  let out = "";
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = ((buffer << 8) | byte) & 0xfff; // at most 12 pending bits matter
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out += ALPHABET[(buffer >>> bits) & 31];
    }
  }
  if (bits > 0) out += ALPHABET[(buffer << (5 - bits)) & 31];
  return out;
}
