/**
 * `/medvault/replicate/1.0.0`: one request per stream, asking a peer to hold a root (`pin`:
 * fetch the missing blocks over bitswap, durably, then pin) or to drop it (`unpin`). Messages
 * are JSON lines (`wire.ts`):
 *
 *     → {"op":"pin","cid":"bafy…"}
 *     ← {"progress":12}               zero or more, while blocks arrive (at most one a second)
 *     ← {"ok":true}  |  {"ok":false,"code":"NOT_FOUND","message":"…"}
 *
 * The asker's deadline runs from the last message, not the request, so a large file keeps
 * its replica request alive as long as blocks flow. A stream the asker aborts aborts the
 * work it asked for. Anyone holding the swarm key may ask: the key is the trust boundary.
 */

import type { Libp2p, PeerId, Stream } from "@libp2p/interface";
import { CID } from "multiformats/cid";
import { isVaultError, VaultError } from "../errors.ts";
import { MessageStream } from "./wire.ts";

export const REPLICATE_PROTOCOL = "/medvault/replicate/1.0.0";

export type ReplicaOp = "pin" | "unpin";

/** What a node does when a peer asks: the blob store implements it. */
export interface ReplicaHost {
  /** Fetches every block of `root` it lacks (verified, durable), then pins `root` as a replica. */
  pinReplica(root: CID, options: { signal: AbortSignal; onProgress: (blocks: number) => void }): Promise<void>;
  /** Unpins `root` here, durably (and stops fetching it, if it was). */
  unpin(root: CID, options: { signal: AbortSignal }): Promise<void>;
}

/** The request must arrive this soon after the stream opens. */
const REQUEST_TIMEOUT_MS = 10_000;
const PROGRESS_INTERVAL_MS = 1_000;
const CLOSE_TIMEOUT_MS = 5_000;

export interface ReplicaService {
  /** Stops taking requests, aborts the ones running and waits for them. */
  stop(): Promise<void>;
}

export async function serveReplicas(libp2p: Libp2p, host: ReplicaHost): Promise<ReplicaService> {
  const log = libp2p.logger.forComponent("medvault:swarm:replicas");
  const stopping = new AbortController();
  const running = new Set<Promise<void>>();

  async function answer(stream: Stream): Promise<void> {
    const wire = new MessageStream(stream);
    const closed = new AbortController();
    const onClose = () => closed.abort(new Error("the asking peer went away"));
    stream.addEventListener("close", onClose);
    const signal = AbortSignal.any([closed.signal, stopping.signal]);
    try {
      const { op, root } = parseRequest(await wire.read(REQUEST_TIMEOUT_MS, { signal }));
      if (op === "pin") {
        let last = Date.now();
        const onProgress = (blocks: number) => {
          if (Date.now() - last < PROGRESS_INTERVAL_MS) return;
          last = Date.now();
          wire.write({ progress: blocks }).catch(() => {});
        };
        await host.pinReplica(root, { signal, onProgress });
      } else {
        await host.unpin(root, { signal });
      }
      await wire.write({ ok: true });
    } catch (error) {
      log("a request on stream %s failed - %e", stream.id, error);
      if (stream.status !== "open") return;
      const reply = isVaultError(error)
        ? { ok: false, code: error.code, message: error.message }
        : { ok: false, code: "INTERNAL", message: "the request failed" };
      await wire.write(reply).catch(() => {});
    } finally {
      stream.removeEventListener("close", onClose);
      await wire.close(CLOSE_TIMEOUT_MS);
    }
  }

  await libp2p.handle(REPLICATE_PROTOCOL, (stream) => {
    const task = answer(stream).catch(() => {});
    running.add(task);
    task.finally(() => running.delete(task));
  });

  return {
    async stop() {
      await libp2p.unhandle(REPLICATE_PROTOCOL).catch(() => {});
      stopping.abort(new Error("the node is stopping"));
      await Promise.allSettled([...running]);
    },
  };
}

/**
 * Sends one request to `peer` and waits for its final answer; rejects with the peer's
 * code (`REPLICATION_FAILED` wrapping it), or when `replyTimeoutMs` pass without a message.
 */
export async function askPeer(
  libp2p: Libp2p,
  peer: PeerId,
  op: ReplicaOp,
  root: CID,
  options: { replyTimeoutMs: number; signal?: AbortSignal },
): Promise<void> {
  const signal = options.signal;
  const stream = await libp2p.dialProtocol(peer, REPLICATE_PROTOCOL, signal === undefined ? {} : { signal });
  const wire = new MessageStream(stream);
  try {
    await wire.write({ op, cid: root.toString() }, signal === undefined ? {} : { signal });
    for (;;) {
      const reply = await wire.read(options.replyTimeoutMs, signal === undefined ? {} : { signal });
      if (reply === undefined) throw new VaultError("REPLICATION_FAILED", `peer ${peer} closed the stream without an answer`);
      if (typeof reply !== "object" || reply === null) throw new VaultError("REPLICATION_FAILED", `peer ${peer} sent a bad reply`);
      if ("progress" in reply) continue;
      if ("ok" in reply && reply.ok === true) break;
      const code = "code" in reply ? String(reply.code) : "UNKNOWN";
      const message = "message" in reply ? String(reply.message) : "";
      throw new VaultError("REPLICATION_FAILED", `peer ${peer} could not ${op} ${root}: ${code}: ${message}`);
    }
  } catch (error) {
    wire.abort(error);
    throw error;
  }
  await wire.close(CLOSE_TIMEOUT_MS);
}

function parseRequest(message: unknown): { op: ReplicaOp; root: CID } {
  if (typeof message !== "object" || message === null || !("op" in message) || !("cid" in message)) {
    throw new VaultError("BAD_REQUEST", "expected {op, cid}");
  }
  const { op, cid } = message;
  if (op !== "pin" && op !== "unpin") throw new VaultError("BAD_REQUEST", "op: expected pin or unpin");
  if (typeof cid !== "string") throw new VaultError("BAD_REQUEST", "cid: expected a string");
  try {
    return { op, root: CID.parse(cid) };
  } catch (error) {
    throw new VaultError("BAD_REQUEST", "cid: not a CID", { cause: error });
  }
}
