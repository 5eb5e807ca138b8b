/**
 * The libp2p 3 node of a vault: TCP, a private network (`@libp2p/pnet`: XSalsa20 under the
 * pre-shared swarm key, below everything else, so a node without the key fails before the
 * noise handshake; its cipher fixed by `xsalsa20.ts`), noise, yamux, and identify (bitswap learns from it which peers speak
 * bitswap). Nothing else: no DHT, no relay, no discovery, no public bootstrap; the configured
 * peers are the swarm.
 */

import { identify } from "@libp2p/identify";
import type { Libp2p, PrivateKey } from "@libp2p/interface";
import { noise } from "@libp2p/noise";
import { preSharedKey } from "@libp2p/pnet";
import { tcp } from "@libp2p/tcp";
import { yamux } from "@libp2p/yamux";
import { createLibp2p } from "libp2p";
import type { SwarmConfig } from "./config.ts";
import { pskText } from "./key.ts";
import "./xsalsa20.ts"; // fixes pnet's cipher, which drops connections after a large message (see there)

/** Not started: handlers are registered before the first peer can connect. */
export function createNode(config: SwarmConfig, privateKey: PrivateKey): Promise<Libp2p> {
  return createLibp2p({
    start: false,
    privateKey,
    addresses: { listen: config.listen },
    transports: [tcp()],
    connectionProtector: preSharedKey({ psk: pskText(config.swarmKey) }),
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: { identify: identify() },
    // A ping that misses its deadline while the host is busy fsyncing is no reason to drop a
    // peer that a replica fetch is using; a dead peer's TCP connection ends on its own.
    connectionMonitor: { abortConnectionOnPingFailure: false },
  });
}
