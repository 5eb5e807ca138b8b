/**
 * Bitswap 1.2.0 (`@helia/bitswap` 4) between vault nodes, over a blockstore of our choosing.
 *
 * `@helia/bitswap` 4 exports only `withBitswap(helia)`, a Helia mixin that builds its block
 * broker from the node's components. Giving it the store's Helia would make that Helia's
 * blockstore fetch from the network on every miss and write what it fetched without the
 * store's collect guards. So the mixin runs here against a small host holding exactly what
 * the broker reads: libp2p, a logger, the hashers, a routing that finds no providers (every
 * want goes to the connected peers, which is the whole swarm), and the blocks to serve:
 * local ones only, each verified as it is read (the store's `VerifiedBlockstore`).
 *
 * Serving side of a flaw in 4.0.19: its wantlist never sends CANCEL (`WantList.sendMessages`
 * skips cancelled entries), so a peer's want of a block we sent stays in our ledger as
 * "sent", and the same peer's next want of that block merges into it and is never answered.
 * Here a ledger forgets a block once it is sent: `doNotResendBlockWindow: 0` makes a sent
 * entry expire at once, and shortly after every block read for a peer (and every second),
 * `Bitswap.getPeerWantlist` is asked for each connected peer, which drops expired entries
 * on the spot (an `announce` would do it through the ledger's send queue, whose overflow
 * drops real requests). The asking side is in `fetcher.ts`.
 *
 * Blocks are at most 1 MiB (the store's largest chunk), under bitswap's 2 MiB message limit.
 */

import { withBitswap } from "@helia/bitswap";
import type { Libp2p, PeerId } from "@libp2p/interface";
import type { Blockstore } from "interface-blockstore";
import type { CID } from "multiformats/cid";
import { identity } from "multiformats/hashes/identity";
import { sha256 } from "multiformats/hashes/sha2";

/** What the bitswap engine serves to peers: local blocks, never a network fetch. */
export type LocalBlocks = Pick<Blockstore, "has" | "get">;

/** The broker `withBitswap` builds (`BitswapBlockBroker`), through the `BlockBroker` interface. */
export interface BlockBroker {
  /** A block from whichever connected peer sends it first; rejects when `signal` aborts. */
  retrieve(cid: CID, options: { signal: AbortSignal }): Promise<Uint8Array>;
  stop(): Promise<void>;
}

/** `BitswapBlockBroker.bitswap` (a field its type calls private), as far as we use it. */
interface BrokerInternals {
  bitswap?: { getPeerWantlist?(peer: PeerId): unknown };
}

interface Mixin {
  start?(host: unknown): Promise<void> | void;
}

/** After a block is read for a peer: long enough for the ledger to have marked it sent. */
const FORGET_AFTER_MS = 5;
const SWEEP_MS = 1_000;

export async function startBitswap(libp2p: Libp2p, blocks: LocalBlocks): Promise<BlockBroker> {
  let mixin: Mixin | undefined;
  let broker: BlockBroker | undefined;
  let forgetTimer: NodeJS.Timeout | undefined;

  /** Drops the sent (so expired) entries of every peer's ledger. */
  const forgetSent = () => {
    forgetTimer = undefined;
    const bitswap = (broker as BrokerInternals | undefined)?.bitswap;
    if (typeof bitswap?.getPeerWantlist !== "function") return;
    const seen = new Set<string>();
    for (const connection of libp2p.getConnections()) {
      const peer = connection.remotePeer;
      if (seen.has(peer.toString())) continue;
      seen.add(peer.toString());
      bitswap.getPeerWantlist(peer);
    }
  };
  const forgetSoon = () => {
    forgetTimer ??= setTimeout(forgetSent, FORGET_AFTER_MS);
    forgetTimer.unref();
  };
  const sweep = setInterval(forgetSent, SWEEP_MS);
  sweep.unref();

  const served: LocalBlocks = {
    has: (cid, options) => blocks.has(cid, options),
    // Only the ledger reads through here, right before it marks the block sent.
    get: (cid, options) =>
      (async function* () {
        try {
          yield* blocks.get(cid, options);
        } finally {
          forgetSoon();
        }
      })(),
  };

  const host = {
    // What `withBitswap`'s mixin checks and calls.
    status: "starting",
    addMixin: (added: Mixin) => {
      mixin = added;
    },
    hasBlockBroker: () => false,
    addBlockBroker: (added: BlockBroker) => {
      broker = added;
    },
    // What the broker reads (`BitswapComponents`).
    libp2p,
    blockstore: served,
    logger: libp2p.logger,
    routing: { findProviders: async function* () {} },
    getHasher: (code: number) => {
      if (code === sha256.code) return sha256;
      if (code === identity.code) return identity;
      throw new Error(`hash 0x${code.toString(16)} is not supported`);
    },
  };
  withBitswap(host as unknown as Parameters<typeof withBitswap>[0], { doNotResendBlockWindow: 0 });
  const stopTimers = () => {
    clearInterval(sweep);
    clearTimeout(forgetTimer);
  };
  await Promise.resolve(mixin?.start?.(host)).catch((error: unknown) => {
    stopTimers();
    throw error;
  });
  const started = broker;
  if (started === undefined) {
    stopTimers();
    throw new Error("@helia/bitswap did not create its block broker");
  }
  if (typeof (started as BrokerInternals).bitswap?.getPeerWantlist !== "function") {
    libp2p.logger
      .forComponent("medvault:swarm:bitswap")
      .error("@helia/bitswap changed: sent blocks stay in ledgers, repeated reads may stall");
  }
  return {
    retrieve: (cid, options) => started.retrieve(cid, options),
    async stop() {
      stopTimers();
      await started.stop();
    },
  };
}
