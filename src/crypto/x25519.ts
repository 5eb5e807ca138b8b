/**
 * The age X25519 recipient type (C2SP age v1, "X25519 recipient stanza") on node:crypto.
 *
 * OpenSSL does the X25519 exchange, HKDF-SHA-256 and ChaCha20-Poly1305 of the stanza; only the
 * composition the spec fixes is here. Why not typage's X25519Recipient: loading `age-encryption`
 * pulls in noble's curves, ML-KEM and scrypt (about 50 ms of start-up measured here), which
 * `medvault encrypt` to an age1… recipient never uses. typage still handles the hybrid type
 * (keys.ts) and stays the reference: the envelope tests wrap with one and unwrap with the other.
 *
 * OpenSSL refuses a shared secret of all zeros (a low-order share), as the spec requires.
 */

import {
  createCipheriv,
  createDecipheriv,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  hkdfSync,
  type KeyObject,
} from "node:crypto";
import { bech32 } from "@scure/base";
import { encodeBase64NoPad, type Stanza } from "./format.ts";

const LABEL = "age-encryption.org/v1/X25519";
const ZERO_NONCE = new Uint8Array(12);
/** PKCS #8 wrapping of a raw X25519 private key (RFC 8410): a fixed prefix before the 32 bytes. */
const PKCS8_PREFIX = Buffer.from("302e020100300506032b656e04220420", "hex");

function publicKeyObject(raw: Uint8Array): KeyObject {
  return createPublicKey({ key: { kty: "OKP", crv: "X25519", x: Buffer.from(raw).toString("base64url") }, format: "jwk" });
}

function rawPublic(key: KeyObject): Buffer {
  const jwk = key.export({ format: "jwk" });
  return Buffer.from(jwk.x as string, "base64url");
}

/** An OpenSSL key for the scalar; the DER copy of the secret is wiped once OpenSSL has it. */
function privateKeyObject(scalar: Uint8Array): KeyObject {
  const der = Buffer.concat([PKCS8_PREFIX, scalar]);
  try {
    return createPrivateKey({ key: der, format: "der", type: "pkcs8" });
  } finally {
    der.fill(0);
  }
}

/** The stanza's wrapping key; the shared secret is wiped once derived from. */
function wrapKey(secret: Buffer, share: Uint8Array, recipient: Uint8Array): Buffer {
  try {
    return Buffer.from(hkdfSync("sha256", secret, Buffer.concat([share, recipient]), LABEL, 32));
  } finally {
    secret.fill(0);
  }
}

/**
 * Throws unless `recipient` can be wrapped to: a point of small order yields an all-zero shared
 * secret, which OpenSSL refuses. Checked when a recipient is parsed, so a bad key is refused
 * where it is given (say, when a principal is created), not at its first upload.
 */
export function checkX25519Recipient(recipient: Uint8Array): void {
  diffieHellman({ privateKey: generateKeyPairSync("x25519").privateKey, publicKey: publicKeyObject(recipient) }).fill(0);
}

/** The 32 bytes of an `age1…` recipient; throws on anything else. */
export function decodeX25519Recipient(text: string): Uint8Array {
  const { prefix, bytes } = bech32.decodeToBytes(text);
  if (!text.startsWith("age1") || prefix.toLowerCase() !== "age" || bytes.length !== 32) throw new Error("invalid recipient");
  return bytes;
}

/** The 32-byte scalar of an `AGE-SECRET-KEY-1…` identity; throws on anything else. */
export function decodeX25519Identity(text: string): Uint8Array {
  const { prefix, bytes } = bech32.decodeToBytes(text);
  if (!text.startsWith("AGE-SECRET-KEY-1") || prefix.toUpperCase() !== "AGE-SECRET-KEY-" || bytes.length !== 32) {
    throw new Error("invalid identity");
  }
  return bytes;
}

/** A new identity (`AGE-SECRET-KEY-1…`) and its recipient (`age1…`), from an OpenSSL key pair. */
export function newX25519Identity(): { identity: string; recipient: string } {
  const { privateKey, publicKey } = generateKeyPairSync("x25519");
  const scalar = Buffer.from(privateKey.export({ format: "jwk" }).d as string, "base64url");
  try {
    return {
      identity: bech32.encodeFromBytes("AGE-SECRET-KEY-", scalar).toUpperCase(),
      recipient: bech32.encodeFromBytes("age", rawPublic(publicKey)),
    };
  } finally {
    scalar.fill(0);
  }
}

export function x25519RecipientOf(scalar: Uint8Array): string {
  return bech32.encodeFromBytes("age", rawPublic(createPublicKey(privateKeyObject(scalar))));
}

/** One X25519 stanza wrapping `fileKey` for `recipient` (32 bytes), with a fresh ephemeral key. */
export function wrapX25519(fileKey: Uint8Array, recipient: Uint8Array): Stanza {
  const ephemeral = generateKeyPairSync("x25519");
  const share = rawPublic(ephemeral.publicKey);
  const secret = diffieHellman({ privateKey: ephemeral.privateKey, publicKey: publicKeyObject(recipient) });
  const key = wrapKey(secret, share, recipient);
  const cipher = createCipheriv("chacha20-poly1305", key, ZERO_NONCE, { authTagLength: 16 });
  key.fill(0);
  const body = Buffer.concat([cipher.update(fileKey), cipher.final(), cipher.getAuthTag()]);
  return { args: ["X25519", encodeBase64NoPad(share)], body };
}

/** The identity side: a holder of the scalar, tried against each X25519 stanza in turn. */
export class X25519Unwrapper {
  readonly #key: KeyObject;
  readonly #recipient: Buffer;

  constructor(scalar: Uint8Array) {
    this.#key = privateKeyObject(scalar);
    this.#recipient = rawPublic(createPublicKey(this.#key));
  }

  /**
   * The file key in one stanza (its decoded 32-byte share and its 32-byte body), or null when
   * the stanza is not addressed to this identity. Throws on a low-order share (OpenSSL derives
   * no all-zero secret).
   */
  unwrap(share: Uint8Array, body: Uint8Array): Uint8Array | null {
    const secret = diffieHellman({ privateKey: this.#key, publicKey: publicKeyObject(share) });
    const key = wrapKey(secret, share, this.#recipient);
    const decipher = createDecipheriv("chacha20-poly1305", key, ZERO_NONCE, { authTagLength: 16 });
    key.fill(0);
    decipher.setAuthTag(body.subarray(16));
    try {
      return Buffer.concat([decipher.update(body.subarray(0, 16)), decipher.final()]);
    } catch {
      return null;
    }
  }
}
