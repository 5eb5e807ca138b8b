/**
 * age identities and recipients: X25519 (`AGE-SECRET-KEY-1…` / `age1…`) and the post-quantum
 * hybrid ML-KEM-768 + X25519 (`AGE-SECRET-KEY-PQ-1…` / `age1pq1…`), C2SP age v1.
 *
 * X25519 runs on node:crypto (x25519.ts). The hybrid type is the `age-encryption` package's
 * (typage), loaded on first use: its module graph costs about 50 ms of start-up, which
 * `medvault encrypt -r age1…` should not pay. typage's public entry point hides the recipient
 * classes behind `Encrypter`/`Decrypter`, which always pick a fresh file key; the vault must
 * re-wrap an existing file key when it grants a new recipient, so we load typage's own
 * `recipients.js` next to its entry point. The shape we rely on is declared in typage's
 * `recipients.d.ts`; the envelope tests break loudly if it ever changes.
 */

import { readFile } from "node:fs/promises";
import { bech32 } from "@scure/base";
import { importBeside } from "../beside.ts";
import { VaultError } from "../errors.ts";
import { decodeBase64NoPad, type Stanza } from "./format.ts";
import {
  checkX25519Recipient,
  decodeX25519Identity,
  decodeX25519Recipient,
  newX25519Identity,
  wrapX25519,
  X25519Unwrapper,
  x25519RecipientOf,
} from "./x25519.ts";

type LibRecipient = { wrapFileKey(fileKey: Uint8Array): Stanza[] | Promise<Stanza[]> };
type LibIdentity = { unwrapFileKey(stanzas: Stanza[]): Uint8Array | null | Promise<Uint8Array | null> };
type RecipientsModule = {
  HybridRecipient: new (s: string) => LibRecipient;
  HybridIdentity: new (s: string) => LibIdentity;
  generateHybridIdentity(): Promise<string>;
  identityToRecipient(identity: string): Promise<string>;
};

let typage: Promise<RecipientsModule> | undefined;
function hybridLib(): Promise<RecipientsModule> {
  typage ??= importBeside<RecipientsModule>("age-encryption", "recipients.js");
  return typage;
}

export type Recipient = { kind: "x25519" | "hybrid"; text: string; wrap(fileKey: Uint8Array): Promise<Stanza[]> };
export type Identity = {
  kind: "x25519" | "hybrid";
  /** The file key, or null when no stanza is addressed to this identity. Throws HEADER_FAILURE on a malformed stanza that is. */
  unwrap(stanzas: Stanza[]): Promise<Uint8Array | null>;
};

const RECIPIENT_RE = /^age1(pq1)?[02-9ac-hj-np-z]+$/;
/** ML-KEM-768 encapsulation key (1,184 bytes) and X25519 share (32). */
const HYBRID_RECIPIENT_BYTES = 1216;
const HYBRID_SHARE_BYTES = 1120;

export function parseRecipient(text: string): Recipient {
  const s = text.trim();
  if (!RECIPIENT_RE.test(s)) throw new VaultError("INVALID_KEY", "not an age X25519 or hybrid recipient (age1… or age1pq1…)");
  try {
    if (s.startsWith("age1pq1")) {
      const { prefix, words } = bech32.decode(s as `${string}1${string}`, false);
      if (prefix !== "age1pq" || bech32.fromWords(words).length !== HYBRID_RECIPIENT_BYTES) throw new Error("invalid recipient");
      return { kind: "hybrid", text: s, wrap: async (fileKey) => await new (await hybridLib()).HybridRecipient(s).wrapFileKey(fileKey) };
    }
    const key = decodeX25519Recipient(s);
    checkX25519Recipient(key);
    return { kind: "x25519", text: s, wrap: async (fileKey) => [wrapX25519(fileKey, key)] };
  } catch (cause) {
    throw new VaultError("INVALID_KEY", "malformed age recipient", { cause });
  }
}

export function parseIdentity(text: string): Identity {
  const s = text.trim();
  if (s.startsWith("AGE-SECRET-KEY-PQ-1")) return hybridIdentity(s);
  if (!s.startsWith("AGE-SECRET-KEY-1")) throw new VaultError("INVALID_KEY", "not an age X25519 or hybrid identity");
  let unwrapper: X25519Unwrapper;
  let scalar: Uint8Array | undefined;
  try {
    scalar = decodeX25519Identity(s);
    unwrapper = new X25519Unwrapper(scalar);
  } catch (cause) {
    throw new VaultError("INVALID_KEY", "malformed age identity", { cause });
  } finally {
    scalar?.fill(0);
  }
  return {
    kind: "x25519",
    async unwrap(stanzas) {
      for (const st of stanzas) {
        if (st.args[0] !== "X25519") continue;
        const share = stanzaShare(st, "X25519", 32);
        if (st.body.length !== 32) throw new VaultError("HEADER_FAILURE", "invalid X25519 stanza: body is not 32 bytes");
        let fileKey: Uint8Array | null;
        try {
          fileKey = unwrapper.unwrap(share, st.body);
        } catch (cause) {
          throw new VaultError("HEADER_FAILURE", "X25519 share is a low-order point", { cause });
        }
        if (fileKey !== null) return fileKey;
      }
      return null;
    },
  };
}

function hybridIdentity(s: string): Identity {
  try {
    const { prefix, bytes } = bech32.decodeToBytes(s);
    if (prefix.toUpperCase() !== "AGE-SECRET-KEY-PQ-" || bytes.length !== 32) throw new Error("invalid identity");
  } catch (cause) {
    throw new VaultError("INVALID_KEY", "malformed age identity", { cause });
  }
  return {
    kind: "hybrid",
    async unwrap(stanzas) {
      const mine = stanzas.filter((st) => st.args[0] === "mlkem768x25519");
      if (mine.length === 0) return null;
      for (const st of mine) await rejectLowOrderShare(stanzaShare(st, "mlkem768x25519", HYBRID_SHARE_BYTES));
      try {
        return await new (await hybridLib()).HybridIdentity(s).unwrapFileKey(mine);
      } catch (cause) {
        throw new VaultError("HEADER_FAILURE", "invalid mlkem768x25519 stanza", { cause });
      }
    },
  };
}

/** The stanza's one argument, decoded: its ephemeral share, of the type's fixed size. */
function stanzaShare(st: Stanza, type: string, size: number): Uint8Array {
  const arg = st.args[1];
  if (arg === undefined || st.args.length !== 2)
    throw new VaultError("HEADER_FAILURE", `invalid ${type} stanza: wrong number of arguments`);
  const share = decodeBase64NoPad(arg, "stanza share");
  if (share.length !== size) throw new VaultError("HEADER_FAILURE", `invalid ${type} stanza: share is not ${size} bytes`);
  return share;
}

/**
 * A hybrid share whose X25519 part is of small order makes that shared secret all zeros, which
 * the age spec forbids. Multiplying by any clamped scalar (a multiple of the cofactor) yields
 * zero exactly for those points, so one multiplication by a random scalar tells, without a
 * hand-kept list. (The X25519 type gets the same check from OpenSSL.)
 */
async function rejectLowOrderShare(share: Uint8Array): Promise<void> {
  const { x25519 } = await import("@noble/curves/ed25519.js");
  let zero = true;
  try {
    zero = x25519.scalarMult(crypto.getRandomValues(new Uint8Array(32)), share.subarray(share.length - 32)).every((b) => b === 0);
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
  if (options.pq !== true) return { ...newX25519Identity(), kind: "x25519" };
  const lib = await hybridLib();
  const identity = await lib.generateHybridIdentity();
  return { identity, recipient: await lib.identityToRecipient(identity), kind: "hybrid" };
}

export async function recipientOf(identity: string): Promise<string> {
  const s = identity.trim();
  try {
    if (s.startsWith("AGE-SECRET-KEY-PQ-1")) return await (await hybridLib()).identityToRecipient(s);
    const scalar = decodeX25519Identity(s);
    try {
      return x25519RecipientOf(scalar);
    } finally {
      scalar.fill(0);
    }
  } catch (cause) {
    throw new VaultError("INVALID_KEY", "malformed age identity", { cause });
  }
}

/** The identity file text age-keygen writes: a creation comment, the public key, the secret. */
export function formatIdentityFile(key: GeneratedKey, created = new Date()): string {
  return `# created: ${created.toISOString().replace(/\.\d{3}Z$/, "Z")}\n# public key: ${key.recipient}\n${key.identity}\n`;
}
