/**
 * Erasure certificates are signed by the vault's anchorer key (DESIGN.md, "Crypto-shredding"):
 * EIP-191 personal messages (`"\x19Ethereum Signed Message:\n" ‖ length ‖ message`, keccak-256,
 * secp256k1), so anyone can check one with ethers, viem, `cast wallet verify` or a wallet, and
 * tie it to the account that anchors the vault's batches on chain.
 *
 * The message is the certificate's canonical JSON (catalog/canonical.ts) exactly as given; the
 * signer never sees or returns the key.
 */

import { verifyMessage, Wallet } from "ethers";
import { VaultError } from "../errors.ts";

export interface CertificateSignature {
  /** 65-byte r ‖ s ‖ v signature, 0x hex. */
  signature: string;
  /** EIP-55 address of the anchorer account. */
  signer: string;
}

export interface CertificateSigner {
  readonly address: string;
  signCertificate(canonicalJson: string): Promise<CertificateSignature>;
}

/** A key as 0x hex or bare hex (as key files often hold it); never echoed in errors. */
export function parsePrivateKey(text: string, title = "anchorer key"): string {
  const key = text.trim();
  if (/^0x[0-9a-fA-F]{64}$/.test(key)) return key.toLowerCase();
  if (/^[0-9a-fA-F]{64}$/.test(key)) return `0x${key.toLowerCase()}`;
  throw new VaultError("INVALID_KEY", `${title}: expected 32 bytes of hex`);
}

export function createCertificateSigner(privateKey: string): CertificateSigner {
  let wallet: Wallet;
  try {
    wallet = new Wallet(parsePrivateKey(privateKey));
  } catch {
    throw new VaultError("INVALID_KEY", "anchorer key: not a valid secp256k1 key");
  }
  return {
    address: wallet.address,
    async signCertificate(canonicalJson) {
      if (typeof canonicalJson !== "string" || canonicalJson.length === 0) {
        throw new VaultError("BAD_REQUEST", "certificate: expected canonical JSON text");
      }
      return { signature: await wallet.signMessage(canonicalJson), signer: wallet.address };
    },
  };
}

/** The address that signed `canonicalJson`, or null for a malformed signature. */
export function recoverCertificateSigner(canonicalJson: string, signature: string): string | null {
  try {
    return verifyMessage(canonicalJson, signature);
  } catch {
    return null;
  }
}

/** Whether `signature` over `canonicalJson` was made by `signer` (any address case). */
export function verifyCertificate(canonicalJson: string, signature: string, signer: string): boolean {
  const recovered = recoverCertificateSigner(canonicalJson, signature);
  return recovered !== null && recovered.toLowerCase() === signer.toLowerCase();
}
