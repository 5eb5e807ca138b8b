/**
 * The swarm's settings, from the environment (`loadSwarmConfig`) or from code, and the checks
 * both go through. Without `MEDVAULT_SWARM_KEY` there is no swarm: the store runs offline.
 *
 * - `MEDVAULT_SWARM_KEY`: 64 hex digits, or the path of a `swarm.key` file (`key.ts`).
 * - `MEDVAULT_IPFS_LISTEN`: comma-separated TCP multiaddrs to listen on
 *   (default `/ip4/127.0.0.1/tcp/4001`; `/ip4/0.0.0.0/tcp/4001` for other hosts).
 * - `MEDVAULT_IPFS_PEERS`: comma-separated TCP multiaddrs of other nodes, with or without
 *   `/p2p/<peerId>`. With it, the dial succeeds only if that peer answers; without it, any
 *   node holding the swarm key at that address is accepted (the key is the membership
 *   check). The same list may be given to every node: a node skips its own addresses.
 * - `MEDVAULT_REPLICATION`: how many nodes, this one included, must hold an upload before
 *   `add` resolves (default 1: no replicas).
 */

import { multiaddr } from "@multiformats/multiaddr";
import { base58btc } from "multiformats/bases/base58";
import * as Digest from "multiformats/hashes/digest";
import { VaultError } from "../errors.ts";
import { readSwarmKey, SWARM_KEY_BYTES } from "./key.ts";

export interface SwarmConfig {
  /** The 32-byte pre-shared key. Nodes with another key (or none) cannot connect. */
  swarmKey: Uint8Array;
  /** TCP multiaddrs to listen on; port 0 picks a free port. May be empty (dial out only). */
  listen: string[];
  /** TCP multiaddrs of other nodes, dialled at start and again while disconnected. */
  peers: string[];
  /** Nodes that must hold each upload, this one included. */
  replication: number;
  /** How long a block may take to come from peers (reads of missing blocks, replica fetches). */
  fetchTimeoutMs?: number;
  /** How long a peer asked for a replica may stay silent before the upload gives up on it. */
  replicationTimeoutMs?: number;
  /** How often peers of `peers` that are not connected are dialled again. */
  redialMs?: number;
}

export const DEFAULT_LISTEN = "/ip4/127.0.0.1/tcp/4001";
export const DEFAULT_FETCH_TIMEOUT_MS = 15_000;
/** Above the fetch timeout: a replica that cannot get a block says so before this runs out. */
export const DEFAULT_REPLICATION_TIMEOUT_MS = 30_000;
export const DEFAULT_REDIAL_MS = 5_000;
const MAX_REPLICATION = 64;

/** The swarm settings of `env`, or undefined when `MEDVAULT_SWARM_KEY` is not set. */
export async function loadSwarmConfig(env: NodeJS.ProcessEnv = process.env): Promise<SwarmConfig | undefined> {
  const keySetting = env.MEDVAULT_SWARM_KEY;
  const listenSetting = env.MEDVAULT_IPFS_LISTEN;
  const peersSetting = env.MEDVAULT_IPFS_PEERS;
  const replication = parseReplication(env.MEDVAULT_REPLICATION);
  if (keySetting === undefined || keySetting.trim() === "") {
    if (listenSetting !== undefined || peersSetting !== undefined || replication > 1) {
      throw new VaultError("BAD_REQUEST", "MEDVAULT_IPFS_LISTEN, MEDVAULT_IPFS_PEERS and MEDVAULT_REPLICATION need MEDVAULT_SWARM_KEY");
    }
    return undefined;
  }
  const config: SwarmConfig = {
    swarmKey: await readSwarmKey(keySetting),
    listen: listenSetting === undefined ? [DEFAULT_LISTEN] : splitList(listenSetting),
    peers: peersSetting === undefined ? [] : splitList(peersSetting),
    replication,
  };
  return checkSwarmConfig(config, { listen: "MEDVAULT_IPFS_LISTEN", peers: "MEDVAULT_IPFS_PEERS" });
}

/** Throws `BAD_REQUEST` on the first bad setting; returns the config unchanged. */
export function checkSwarmConfig(config: SwarmConfig, names = { listen: "listen", peers: "peers" }): SwarmConfig {
  if (!(config.swarmKey instanceof Uint8Array) || config.swarmKey.byteLength !== SWARM_KEY_BYTES) {
    throw new VaultError("BAD_REQUEST", `swarmKey: expected ${SWARM_KEY_BYTES} bytes`);
  }
  for (const address of config.listen) checkTcpAddress(address, names.listen, false);
  for (const address of config.peers) checkTcpAddress(address, names.peers, true);
  if (!Number.isSafeInteger(config.replication) || config.replication < 1 || config.replication > MAX_REPLICATION) {
    throw new VaultError("BAD_REQUEST", `replication: expected an integer from 1 to ${MAX_REPLICATION}`);
  }
  for (const name of ["fetchTimeoutMs", "replicationTimeoutMs", "redialMs"] as const) {
    const value = config[name];
    if (value !== undefined && (!Number.isSafeInteger(value) || value <= 0)) {
      throw new VaultError("BAD_REQUEST", `${name}: expected a positive integer`);
    }
  }
  return config;
}

function parseReplication(value: string | undefined): number {
  if (value === undefined || value.trim() === "") return 1;
  if (!/^\d+$/.test(value.trim())) throw new VaultError("BAD_REQUEST", "MEDVAULT_REPLICATION: expected a positive integer");
  return Number(value.trim());
}

function splitList(value: string): string[] {
  return value
    .split(",")
    .map((item) => item.trim())
    .filter((item) => item !== "");
}

/** A TCP multiaddr (`/ip4|ip6|dns|dns4|dns6/…/tcp/<port>`), with `/p2p/<peerId>` where allowed. */
function checkTcpAddress(address: string, name: string, peerIdAllowed: boolean): void {
  let components: { name: string; value?: string }[];
  try {
    components = multiaddr(address).getComponents();
  } catch (error) {
    throw new VaultError("BAD_REQUEST", `${name}: ${JSON.stringify(address)} is not a multiaddr`, { cause: error });
  }
  const [host, tcp, p2p, ...rest] = components;
  const hostOk = host !== undefined && ["ip4", "ip6", "dns", "dns4", "dns6"].includes(host.name);
  const tcpOk = tcp?.name === "tcp";
  const p2pOk = p2p === undefined || (peerIdAllowed && p2p.name === "p2p" && isPeerId(p2p.value));
  if (!hostOk || !tcpOk || !p2pOk || rest.length > 0) {
    const shape = peerIdAllowed ? "/ip4/<address>/tcp/<port>[/p2p/<peerId>]" : "/ip4/<address>/tcp/<port>";
    throw new VaultError("BAD_REQUEST", `${name}: ${JSON.stringify(address)} is not ${shape} (or ip6, dns4, dns6)`);
  }
}

/** A peer id as libp2p prints it: a base58btc multihash (12D3KooW… for Ed25519 keys). */
function isPeerId(value: string | undefined): boolean {
  if (value === undefined) return false;
  try {
    Digest.decode(base58btc.baseDecode(value));
    return true;
  } catch {
    return false;
  }
}
