/**
 * The vault's own age identity: made on first start in the data dir (mode 0600), a recipient
 * of every file, so the vault can verify reads and re-wrap keys for new grants. It never
 * leaves the process: no endpoint, log or error carries it.
 */

import { chmod, open, readFile } from "node:fs/promises";
import { join } from "node:path";
import {
  formatIdentityFile,
  generateKey,
  type Identity,
  parseIdentityFile,
  parseRecipient,
  type Recipient,
  recipientOf,
} from "../crypto/index.ts";
import { VaultError } from "../errors.ts";

export type VaultKey = { identity: Identity; recipient: Recipient };

export const IDENTITY_FILE = "vault-identity.txt";

/**
 * The identity in `given` (MEDVAULT_VAULT_IDENTITY: several instances sharing one catalog must
 * share it, from a secret mount; it is read, never created or re-moded), or else the data dir's
 * own, made on first start.
 */
export async function loadOrCreateVaultKey(dataDir: string, given?: string): Promise<VaultKey> {
  if (given !== undefined) {
    let text: string;
    try {
      text = await readFile(given, "utf8");
    } catch (error) {
      throw new VaultError("IO_ERROR", "MEDVAULT_VAULT_IDENTITY: cannot read the vault identity file", { cause: error });
    }
    return parseVaultKey(text);
  }
  const path = join(dataDir, IDENTITY_FILE);
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    if ((error as { code?: string }).code !== "ENOENT")
      throw new VaultError("IO_ERROR", "cannot read the vault identity", { cause: error });
    const key = await generateKey({ pq: true });
    const fh = await open(path, "wx", 0o600);
    try {
      await fh.writeFile(formatIdentityFile(key));
      await fh.sync();
    } finally {
      await fh.close();
    }
    text = formatIdentityFile(key);
  }
  await chmod(path, 0o600);
  return parseVaultKey(text);
}

async function parseVaultKey(text: string): Promise<VaultKey> {
  const line = text.split("\n").find((l) => l.startsWith("AGE-SECRET-KEY-"));
  if (line === undefined) throw new VaultError("INVALID_KEY", "the vault identity file holds no identity");
  const [identity] = parseIdentityFile(line);
  return { identity: identity as Identity, recipient: parseRecipient(await recipientOf(line)) };
}
