/**
 * The node's libp2p identity: an Ed25519 private key made on first start, kept in the data
 * dir (mode 0600) in libp2p's protobuf encoding (`PrivateKey` message, as Kubo's config holds
 * it in base64), so the peer id that other nodes may name in `/p2p/…` stays the same across
 * restarts. Written to a temporary file, fsynced and renamed: a crash never leaves half a key.
 */

import { chmod, open, readFile, rename, rm } from "node:fs/promises";
import { dirname } from "node:path";
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from "@libp2p/crypto/keys";
import type { PrivateKey } from "@libp2p/interface";
import { VaultError } from "../errors.ts";
import { errorCode, fsyncDir } from "../store/disk.ts";

export async function loadOrCreatePeerKey(path: string): Promise<PrivateKey> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (error) {
    if (errorCode(error) !== "ENOENT") throw new VaultError("IO_ERROR", "cannot read the peer key", { cause: error });
    return createPeerKey(path);
  }
  await chmod(path, 0o600);
  try {
    return privateKeyFromProtobuf(bytes);
  } catch {
    // No cause: a decoder's message could quote key bytes.
    throw new VaultError("INVALID_KEY", "the peer key file holds no libp2p private key");
  }
}

async function createPeerKey(path: string): Promise<PrivateKey> {
  const key = await generateKeyPair("Ed25519");
  const temp = `${path}.${process.pid}.tmp`;
  try {
    const handle = await open(temp, "wx", 0o600);
    try {
      await handle.writeFile(privateKeyToProtobuf(key));
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, path);
    await fsyncDir(dirname(path));
  } catch (error) {
    await rm(temp, { force: true }).catch(() => {});
    throw new VaultError("IO_ERROR", "cannot write the peer key", { cause: error });
  }
  return key;
}
