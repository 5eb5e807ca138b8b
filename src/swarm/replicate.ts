/**
 * The asking side of replication: which peers hold a new upload, and erasing everywhere.
 *
 * `replicate` asks connected peers, in random order, `copies` at a time, until `copies` of
 * them confirm a durable pin; a peer that fails or goes silent is replaced by the next. If
 * the peers run out first, every peer asked is told to unpin (best effort: a confirmed pin
 * must not outlive a failed upload) and the upload fails with `REPLICATION_FAILED`.
 */

import type { Libp2p, PeerId } from "@libp2p/interface";
import type { CID } from "multiformats/cid";
import { VaultError } from "../errors.ts";
import { askPeer } from "./protocol.ts";

export interface AskOptions {
  /** How long a peer may stay silent. */
  replyTimeoutMs: number;
  signal?: AbortSignal;
}

export interface UnpinReport {
  /** Connected peers asked to unpin. */
  peersAsked: number;
  /** Peers that answered that they no longer pin it. */
  peersConfirmed: number;
}

/** Resolves with the peer ids that now hold `root`, `copies` of them. */
export async function replicate(libp2p: Libp2p, root: CID, copies: number, options: AskOptions): Promise<string[]> {
  if (copies <= 0) return [];
  const candidates = shuffle(connectedPeers(libp2p));
  const confirmed: string[] = [];
  const asked: PeerId[] = [];
  const failures: unknown[] = [];
  let next = 0;
  let inFlight = 0;
  const worker = async () => {
    while (confirmed.length + inFlight < copies && next < candidates.length && options.signal?.aborted !== true) {
      const peer = candidates[next++] as PeerId;
      asked.push(peer);
      inFlight++;
      try {
        await askPeer(libp2p, peer, "pin", root, options);
        confirmed.push(peer.toString());
      } catch (error) {
        failures.push(error);
      } finally {
        inFlight--;
      }
    }
  };
  await Promise.all(Array.from({ length: copies }, worker));
  if (confirmed.length >= copies && options.signal?.aborted !== true) return confirmed;

  // Peers that failed may still have pinned (an answer lost, a deadline passed as it pinned).
  const rollback = { replyTimeoutMs: options.replyTimeoutMs };
  await Promise.allSettled(asked.map((peer) => askPeer(libp2p, peer, "unpin", root, rollback)));
  options.signal?.throwIfAborted();
  throw new VaultError(
    "REPLICATION_FAILED",
    `${root}: ${confirmed.length} of the ${copies} replicas needed confirmed (${candidates.length} peers connected)`,
    { cause: new AggregateError(failures, "replica requests that failed") },
  );
}

/** Asks every connected peer to drop its pins of `root`; counts the confirmations. */
export async function unpinOnPeers(libp2p: Libp2p, root: CID, options: AskOptions): Promise<UnpinReport> {
  const peers = connectedPeers(libp2p);
  const results = await Promise.allSettled(peers.map((peer) => askPeer(libp2p, peer, "unpin", root, options)));
  return { peersAsked: peers.length, peersConfirmed: results.filter((result) => result.status === "fulfilled").length };
}

/** One entry per peer with an open connection, whichever side dialled. */
export function connectedPeers(libp2p: Libp2p): PeerId[] {
  const peers = new Map<string, PeerId>();
  for (const connection of libp2p.getConnections()) {
    if (connection.status === "open") peers.set(connection.remotePeer.toString(), connection.remotePeer);
  }
  return [...peers.values()];
}

function shuffle<T>(items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [items[i], items[j]] = [items[j] as T, items[i] as T];
  }
  return items;
}
