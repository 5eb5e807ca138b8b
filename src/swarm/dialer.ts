/**
 * Keeping the configured peers connected: dialled at start, then every `redialMs` while
 * their connection is down (a peer that restarts, or starts after this node). An address
 * without `/p2p/<peerId>` is tied to the peer id its first successful dial met. A node's own
 * addresses are skipped, so every node may be given the same list.
 */

import type { Libp2p } from "@libp2p/interface";
import type { Multiaddr } from "@multiformats/multiaddr";
import { multiaddr } from "@multiformats/multiaddr";
import { VaultError } from "../errors.ts";

const DIAL_TIMEOUT_MS = 10_000;

export interface Dialer {
  /** Dials every configured peer that is not connected; failures are left to the next round. */
  connect(): Promise<void>;
  /** Dials one address; resolves with the peer id that answered. */
  dial(address: string, options?: { signal?: AbortSignal }): Promise<string>;
  stop(): void;
}

interface Target {
  address: Multiaddr;
  /** From `/p2p/…`, or learned on the first successful dial. */
  peerId: string | undefined;
}

export function createDialer(libp2p: Libp2p, addresses: readonly string[], redialMs: number): Dialer {
  const log = libp2p.logger.forComponent("medvault:swarm:dialer");
  const targets: Target[] = addresses.map((address) => {
    const parsed = multiaddr(address);
    return { address: parsed, peerId: parsed.getComponents().find((c) => c.name === "p2p")?.value };
  });
  let round: Promise<void> | undefined;
  let stopped = false;

  function isSelf(target: Target): boolean {
    const self = libp2p.peerId.toString();
    if (target.peerId !== undefined) return target.peerId === self;
    const address = target.address.toString();
    return libp2p.getMultiaddrs().some((own) => own.toString() === address || own.toString().startsWith(`${address}/p2p/`));
  }

  function isConnected(target: Target): boolean {
    if (target.peerId === undefined) return false;
    return libp2p.getConnections().some((c) => c.status === "open" && c.remotePeer.toString() === target.peerId);
  }

  async function dialTarget(target: Target): Promise<void> {
    try {
      const connection = await libp2p.dial(target.address, { signal: AbortSignal.timeout(DIAL_TIMEOUT_MS) });
      target.peerId ??= connection.remotePeer.toString();
    } catch (error) {
      log("could not dial %s - %e", target.address.toString(), error);
    }
  }

  const connect = () => {
    // One round at a time; a call during a round waits for it.
    round ??= Promise.all(targets.filter((t) => !stopped && !isSelf(t) && !isConnected(t)).map(dialTarget)).then(() => {
      round = undefined;
    });
    return round;
  };

  const timer = setInterval(() => {
    if (!stopped) void connect();
  }, redialMs);
  timer.unref();

  return {
    connect,
    async dial(address, options = {}) {
      let parsed: Multiaddr;
      try {
        parsed = multiaddr(address);
      } catch (error) {
        throw new VaultError("BAD_REQUEST", `${JSON.stringify(address)} is not a multiaddr`, { cause: error });
      }
      try {
        const signal = AbortSignal.any([AbortSignal.timeout(DIAL_TIMEOUT_MS), ...(options.signal === undefined ? [] : [options.signal])]);
        const connection = await libp2p.dial(parsed, { signal });
        return connection.remotePeer.toString();
      } catch (error) {
        throw new VaultError("IO_ERROR", `could not connect to ${address}`, { cause: error });
      }
    },
    stop() {
      stopped = true;
      clearInterval(timer);
    },
  };
}
