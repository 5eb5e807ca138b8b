/**
 * A vault node's part in the private swarm, as the blob store uses it: the libp2p node
 * (`node.ts`), its persistent identity (`identity.ts`), the configured peers kept connected
 * (`dialer.ts`), bitswap serving the store's local blocks (`bitswap.ts`) and asking peers for
 * missing ones (`fetcher.ts`), and the replication protocol both ways (`protocol.ts`,
 * `replicate.ts`).
 */

import type { Libp2p } from "@libp2p/interface";
import type { CID } from "multiformats/cid";
import { VaultError } from "../errors.ts";
import type { BlockBroker, LocalBlocks } from "./bitswap.ts";
import { startBitswap } from "./bitswap.ts";
import type { SwarmConfig } from "./config.ts";
import { checkSwarmConfig, DEFAULT_FETCH_TIMEOUT_MS, DEFAULT_REDIAL_MS, DEFAULT_REPLICATION_TIMEOUT_MS } from "./config.ts";
import type { Dialer } from "./dialer.ts";
import { createDialer } from "./dialer.ts";
import { createBlockFetcher } from "./fetcher.ts";
import { loadOrCreatePeerKey } from "./identity.ts";
import { createNode } from "./node.ts";
import type { ReplicaHost, ReplicaService } from "./protocol.ts";
import { serveReplicas } from "./protocol.ts";
import type { UnpinReport } from "./replicate.ts";
import { connectedPeers, replicate, unpinOnPeers } from "./replicate.ts";

/** What callers outside the store may see of the swarm: who this node is, whom it talks to. */
export interface SwarmView {
  /** This node's peer id (base58btc, `12D3KooW…`), the same across restarts. */
  readonly peerId: string;
  /** Nodes that must hold each upload, this one included. */
  readonly replication: number;
  /** The addresses peers can dial, each ending in `/p2p/<peerId>`. */
  multiaddrs(): string[];
  /** Peer ids of the nodes connected now. */
  peers(): string[];
  /** Connects to one more node; resolves with its peer id, `IO_ERROR` if it cannot. */
  dial(address: string, options?: { signal?: AbortSignal }): Promise<string>;
}

export interface Swarm {
  readonly view: SwarmView;
  /**
   * A block from a connected peer, checked by bitswap against its CID; `NOT_FOUND` when no
   * peer sends it within the fetch timeout.
   */
  fetch(cid: CID, options?: { signal?: AbortSignal }): Promise<Uint8Array>;
  /** Has `replication - 1` peers pin `root`; `REPLICATION_FAILED` (nothing left pinned on peers) otherwise. */
  replicate(root: CID, options?: { signal?: AbortSignal }): Promise<void>;
  /** Asks every connected peer to drop its pins of `root`. */
  unpinOnPeers(root: CID, options?: { signal?: AbortSignal }): Promise<UnpinReport>;
  stop(): Promise<void>;
}

export interface SwarmInit {
  config: SwarmConfig;
  /** Where the node's libp2p private key lives (created on first start, mode 0600). */
  peerKeyPath: string;
  /** The blocks this node serves to peers. */
  blocks: LocalBlocks;
  /** What this node does when a peer asks it to pin or unpin. */
  host: ReplicaHost;
}

export async function startSwarm(init: SwarmInit): Promise<Swarm> {
  const config = checkSwarmConfig(init.config);
  const fetchTimeoutMs = config.fetchTimeoutMs ?? DEFAULT_FETCH_TIMEOUT_MS;
  const replyTimeoutMs = config.replicationTimeoutMs ?? DEFAULT_REPLICATION_TIMEOUT_MS;
  const privateKey = await loadOrCreatePeerKey(init.peerKeyPath);
  let libp2p: Libp2p;
  try {
    libp2p = await createNode(config, privateKey);
  } catch (error) {
    throw new VaultError("BAD_REQUEST", "the swarm settings do not make a libp2p node", { cause: error });
  }
  let bitswap: BlockBroker | undefined;
  let replicas: ReplicaService | undefined;
  let dialer: Dialer | undefined;
  const stopAll = async () => {
    dialer?.stop();
    await replicas?.stop();
    await bitswap?.stop();
    await libp2p.stop();
  };
  try {
    bitswap = await startBitswap(libp2p, init.blocks);
    replicas = await serveReplicas(libp2p, init.host);
    await libp2p.start();
    dialer = createDialer(libp2p, config.peers, config.redialMs ?? DEFAULT_REDIAL_MS);
    await dialer.connect();
  } catch (error) {
    await stopAll().catch(() => {});
    throw new VaultError("IO_ERROR", `cannot start the swarm node (listening on ${config.listen.join(", ")})`, { cause: error });
  }
  const started = { dialer, fetcher: createBlockFetcher(bitswap) };
  const copies = config.replication - 1;

  return {
    view: {
      peerId: libp2p.peerId.toString(),
      replication: config.replication,
      multiaddrs: () => libp2p.getMultiaddrs().map((address) => address.toString()),
      peers: () => connectedPeers(libp2p).map((peer) => peer.toString()),
      dial: (address, options) => started.dialer.dial(address, options),
    },

    async fetch(cid, options = {}) {
      const timeout = AbortSignal.timeout(fetchTimeoutMs);
      const signal = options.signal === undefined ? timeout : AbortSignal.any([options.signal, timeout]);
      try {
        return await started.fetcher.fetch(cid, { signal });
      } catch (error) {
        options.signal?.throwIfAborted();
        if (timeout.aborted) {
          throw new VaultError("NOT_FOUND", `block ${cid} is not here and no peer sent it within ${fetchTimeoutMs} ms`, { cause: error });
        }
        throw new VaultError("IO_ERROR", `fetching block ${cid} from peers failed`, { cause: error });
      }
    },

    async replicate(root, options = {}) {
      if (copies <= 0) return;
      // A peer that restarted since the last redial round gets one more chance first.
      if (connectedPeers(libp2p).length < copies) await started.dialer.connect();
      await replicate(libp2p, root, copies, { replyTimeoutMs, ...options });
    },

    // Connected peers only: waiting for dials to a node that is down would hold up erasures.
    unpinOnPeers: (root, options = {}) => unpinOnPeers(libp2p, root, { replyTimeoutMs, ...options }),

    stop: stopAll,
  };
}
