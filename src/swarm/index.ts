/**
 * The private swarm: vault nodes that hold each other's payloads. libp2p 3 over TCP in a
 * private network (pre-shared swarm key), noise, yamux; bitswap moves blocks; our own
 * `/medvault/replicate/1.0.0` asks peers to pin or unpin a root.
 *
 * The blob store is its only user: `createBlobStore({ dir, swarm: await loadSwarmConfig(env) })`.
 */

export type { SwarmConfig } from "./config.ts";
export { checkSwarmConfig, loadSwarmConfig } from "./config.ts";
export { formatSwarmKey, generateSwarmKey, parseSwarmKey, readSwarmKey } from "./key.ts";
export type { ReplicaHost } from "./protocol.ts";
export { REPLICATE_PROTOCOL } from "./protocol.ts";
export type { UnpinReport } from "./replicate.ts";
export type { Swarm, SwarmInit, SwarmView } from "./swarm.ts";
export { startSwarm } from "./swarm.ts";
