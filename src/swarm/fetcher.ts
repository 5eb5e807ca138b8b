/**
 * Asking peers for blocks over bitswap, around the asking side of a flaw in
 * `@helia/bitswap` 4.0.19: a want that ends (block received, or aborted) stays in its
 * wantlist, marked cancelled, until the next round of wantlist messages has gone out; a new
 * want of the same block made meanwhile joins that dead entry, is never sent, and waits
 * forever. So here:
 *
 * - one bitswap want per block at a time, shared by every caller, and aborted only when the
 *   last caller gives up;
 * - blocks received in the last `RECENT_MS` are answered from memory (a copy each time: the
 *   caller owns what it gets), so reading a file twice in a row never wants a block again
 *   while its previous want is still being cleared;
 * - after an aborted want, the same block is not wanted again for `COOLDOWN_MS`.
 */

import type { CID } from "multiformats/cid";
import { abortable, sleep } from "../abort.ts";
import type { BlockBroker } from "./bitswap.ts";

const RECENT_MS = 2_000;
const RECENT_MAX_BYTES = 16 * 1024 * 1024;
const COOLDOWN_MS = 250;

export interface BlockFetcher {
  /** The block, from memory if received lately, else from peers; rejects with `signal`'s reason. */
  fetch(cid: CID, options: { signal: AbortSignal }): Promise<Uint8Array>;
}

interface Want {
  promise: Promise<Uint8Array>;
  controller: AbortController;
  waiters: number;
  settled: boolean;
}

export function createBlockFetcher(broker: Pick<BlockBroker, "retrieve">): BlockFetcher {
  const wants = new Map<string, Want>();
  const recent = new Map<string, { bytes: Uint8Array; at: number }>();
  let recentBytes = 0;
  const cooling = new Map<string, number>();

  function remember(key: string, bytes: Uint8Array): void {
    const now = Date.now();
    // Oldest first (insertion order): drop what is too old or over the budget.
    for (const [old, entry] of recent) {
      if (now - entry.at < RECENT_MS && recentBytes + bytes.byteLength <= RECENT_MAX_BYTES) break;
      recent.delete(old);
      recentBytes -= entry.bytes.byteLength;
    }
    if (bytes.byteLength > RECENT_MAX_BYTES) return;
    recent.delete(key);
    recent.set(key, { bytes: new Uint8Array(bytes), at: now });
    recentBytes += bytes.byteLength;
  }

  function recall(key: string): Uint8Array | undefined {
    const entry = recent.get(key);
    if (entry === undefined || Date.now() - entry.at >= RECENT_MS) return undefined;
    return new Uint8Array(entry.bytes);
  }

  async function start(cid: CID, key: string, signal: AbortSignal): Promise<Want> {
    const until = cooling.get(key);
    if (until !== undefined) {
      cooling.delete(key);
      if (until > Date.now()) await sleep(until - Date.now(), signal);
    }
    // Another caller may have started it while this one waited.
    const running = wants.get(key);
    if (running !== undefined) return running;
    const controller = new AbortController();
    const want: Want = { promise: broker.retrieve(cid, { signal: controller.signal }), controller, waiters: 0, settled: false };
    wants.set(key, want);
    want.promise.then(
      (bytes) => {
        want.settled = true;
        wants.delete(key);
        remember(key, bytes);
      },
      () => {
        want.settled = true;
        wants.delete(key);
        cooling.set(key, Date.now() + COOLDOWN_MS);
      },
    );
    return want;
  }

  return {
    async fetch(cid, { signal }) {
      signal.throwIfAborted();
      const key = Buffer.from(cid.multihash.bytes).toString("base64");
      const known = recall(key);
      if (known !== undefined) return known;
      const want = wants.get(key) ?? (await start(cid, key, signal));
      want.waiters++;
      try {
        const bytes = await abortable(want.promise, signal);
        // Every caller owns its buffer: the last one to get it takes the original.
        return want.waiters === 1 ? bytes : new Uint8Array(bytes);
      } finally {
        want.waiters--;
        if (want.waiters === 0 && !want.settled) want.controller.abort(signal.reason);
      }
    },
  };
}
