/**
 * age identities and recipients: X25519 (`AGE-SECRET-KEY-1…` / `age1…`) and the post-quantum
 * hybrid ML-KEM-768 + X25519 (`AGE-SECRET-KEY-PQ-1…` / `age1pq1…`), C2SP age v1.
 *
 * Wrapping and unwrapping a file key is done by the `age-encryption` package (typage). Its
 * public entry point hides the recipient classes behind `Encrypter`/`Decrypter`, which always
 * pick a fresh file key; the vault must re-wrap an existing file key when it grants a new
 * recipient, so we load typage's own `recipients.js` module next to its entry point. The shape
 * we rely on is declared in typage's `recipients.d.ts`; the envelope tests break loudly if it
 * ever changes.
 */

import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import { x25519 } from "@noble/curves/ed25519.js";
import { generateHybridIdentity, generateX25519Identity, identityToRecipient } from "age-encryption";
import { VaultError } from "../errors.ts";
import { decodeBase64NoPad, type Stanza } from "./format.ts";

type LibRecipient = { wrapFileKey(fileKey: Uint8Array): Stanza[] | Promise<Stanza[]> };
type LibIdentity = { unwrapFileKey(stanzas: Stanza[]): Uint8Array | null | Promise<Uint8Array | null> };
type RecipientsModule = {
  X25519Recipient: new (s: string) => LibRecipient;
  HybridRecipient: new (s: string) => LibRecipient;
  X25519Identity: new (s: string) => LibIdentity;
  HybridIdentity: new (s: string) => LibIdentity;
};

const entry = createRequire(import.meta.url).resolve("age-encryption");
const lib = (await import(new URL("recipients.js", pathToFileURL(entry)).href)) as RecipientsModule;

export type Recipient = { kind: "x25519" | "hybrid"; text: string; wrap(fileKey: Uint8Array): Promise<Stanza[]> };
export type Identity = {
  kind: "x25519" | "hybrid";
  /** The file key, or null when no stanza is addressed to this identity. Throws HEADER_FAILURE on a malformed stanza that is. */
  unwrap(stanzas: Stanza[]): Promise<Uint8Array | null>;
};

const RECIPIENT_RE = /^age1(pq1)?[02-9ac-hj-np-z]+$/;

export function parseRecipient(text: string): Recipient {
  const s = text.trim();
  if (!RECIPIENT_RE.test(s)) throw new VaultError("INVALID_KEY", "not an age X25519 or hybrid recipient (age1… or age1pq1…)");
  const kind = s.startsWith("age1pq1") ? "hybrid" : "x25519";
  let inner: LibRecipient;
  try {
    inner = kind === "hybrid" ? new lib.HybridRecipient(s) : new lib.X25519Recipient(s);
  } catch (cause) {
    throw new VaultError("INVALID_KEY", "malformed age recipient", { cause });
  }
  return { kind, text: s, wrap: async (fileKey) => await inner.wrapFileKey(fileKey) };
}

export function parseIdentity(text: string): Identity {
  const s = text.trim();
  const kind = s.startsWith("AGE-SECRET-KEY-PQ-1") ? "hybrid" : s.startsWith("AGE-SECRET-KEY-1") ? "x25519" : undefined;
  if (kind === undefined) throw new VaultError("INVALID_KEY", "not an age X25519 or hybrid identity");
  let inner: LibIdentity;
  try {
    inner = kind === "hybrid" ? new lib.HybridIdentity(s) : new lib.X25519Identity(s);
  } catch (cause) {
    throw new VaultError("INVALID_KEY", "malformed age identity", { cause });
  }
  const stanzaType = kind === "hybrid" ? "mlkem768x25519" : "X25519";
  return {
    kind,
    async unwrap(stanzas) {
      const mine = stanzas.filter((st) => st.args[0] === stanzaType);
      for (const st of mine) rejectLowOrderShare(st, kind);
      try {
        return await inner.unwrapFileKey(mine);
      } catch (cause) {
        throw new VaultError("HEADER_FAILURE", `invalid ${stanzaType} stanza`, { cause });
      }
    },
  };
}

/**
 * A share of small order makes the X25519 shared secret all zeros, which the age spec forbids.
 * Multiplying by any clamped scalar (a multiple of the cofactor) yields zero exactly for those
 * points, so one multiplication by a random scalar tells, without a hand-kept list.
 */
function rejectLowOrderShare(st: Stanza, kind: "x25519" | "hybrid"): void {
  const arg = st.args[1];
  if (arg === undefined || st.args.length !== 2) throw new VaultError("HEADER_FAILURE", "wrong number of stanza arguments");
  const share = decodeBase64NoPad(arg, "stanza share");
  const point = kind === "hybrid" ? share.subarray(share.length - 32) : share;
  if (point.length !== 32) return;
  let zero = true;
  try {
    const out = x25519.scalarMult(randomBytes(32), point);
    zero = out.every((b) => b === 0);
  } catch {
    zero = true;
  }
  if (zero) throw new VaultError("HEADER_FAILURE", "X25519 share is a low-order point");
}

/** Parses an identity file: one identity per line, `#` comments and blank lines ignored. */
export function parseIdentityFile(text: string): Identity[] {
  const ids: Identity[] = [];
  for (const line of text.split(/\r?\n/)) {
    const s = line.trim();
    if (s === "" || s.startsWith("#")) continue;
    ids.push(parseIdentity(s));
  }
  if (ids.length === 0) throw new VaultError("INVALID_KEY", "no identity in identity file");
  return ids;
}

/** Parses a recipients file (`-R`): one recipient per line, `#` comments and blank lines ignored. */
export function parseRecipientsFile(text: string): Recipient[] {
  const out: Recipient[] = [];
  for (const line of text.split(/\r?\n/)) {
    const s = line.trim();
    if (s === "" || s.startsWith("#")) continue;
    out.push(parseRecipient(s));
  }
  if (out.length === 0) throw new VaultError("INVALID_KEY", "no recipient in recipients file");
  return out;
}

export async function readIdentityFile(path: string): Promise<Identity[]> {
  return parseIdentityFile(await readFile(path, "utf8"));
}

export type GeneratedKey = { identity: string; recipient: string; kind: "x25519" | "hybrid" };

export async function generateKey(options: { pq?: boolean } = {}): Promise<GeneratedKey> {
  const identity = options.pq === true ? await generateHybridIdentity() : await generateX25519Identity();
  return { identity, recipient: await identityToRecipient(identity), kind: options.pq === true ? "hybrid" : "x25519" };
}

export async function recipientOf(identity: string): Promise<string> {
  try {
    return await identityToRecipient(identity.trim());
  } catch (cause) {
    throw new VaultError("INVALID_KEY", "malformed age identity", { cause });
  }
}

/** The identity file text age-keygen writes: a creation comment, the public key, the secret. */
export function formatIdentityFile(key: GeneratedKey, created = new Date()): string {
  return `# created: ${created.toISOString().replace(/\.\d{3}Z$/, "Z")}\n# public key: ${key.recipient}\n${key.identity}\n`;
}
