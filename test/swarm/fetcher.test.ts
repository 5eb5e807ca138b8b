/** The bitswap asking side (src/swarm/fetcher.ts) against a fake broker. */

import { CID } from "multiformats/cid";
import * as raw from "multiformats/codecs/raw";
import { sha256 } from "multiformats/hashes/sha2";
import { describe, expect, it } from "vitest";
import { createBlockFetcher } from "../../src/swarm/fetcher.ts";

/** A block, and a copy of its bytes to compare with (the fetcher may hand out the original). */
async function block(n: number): Promise<{ cid: CID; bytes: Uint8Array; expected: Uint8Array }> {
  const bytes = new Uint8Array(1000).fill(n);
  return { cid: CID.createV1(raw.code, await sha256.digest(bytes)), bytes, expected: new Uint8Array(bytes) };
}

/** A broker whose wants the test settles by hand. */
function fakeBroker() {
  const wants: { cid: CID; signal: AbortSignal; resolve(bytes: Uint8Array): void }[] = [];
  return {
    wants,
    retrieve(cid: CID, { signal }: { signal: AbortSignal }): Promise<Uint8Array> {
      return new Promise((resolve, reject) => {
        wants.push({ cid, signal, resolve });
        signal.addEventListener("abort", () => reject(signal.reason), { once: true });
      });
    },
  };
}

const never = () => new AbortController().signal;

describe("block fetcher", () => {
  it("shares one want between callers and gives each its own buffer", async () => {
    const { cid, bytes, expected } = await block(1);
    const broker = fakeBroker();
    const fetcher = createBlockFetcher(broker);
    const first = fetcher.fetch(cid, { signal: never() });
    const second = fetcher.fetch(cid, { signal: never() });
    await Promise.resolve();
    expect(broker.wants).toHaveLength(1);
    broker.wants[0]?.resolve(bytes);
    const [a, b] = await Promise.all([first, second]);
    expect(a).toEqual(expected);
    expect(b).toEqual(expected);
    a.fill(0);
    expect(b).toEqual(expected);
  });

  it("answers a block received just now from memory, a copy each time", async () => {
    const { cid, bytes, expected } = await block(2);
    const broker = fakeBroker();
    const fetcher = createBlockFetcher(broker);
    const first = fetcher.fetch(cid, { signal: never() });
    await Promise.resolve();
    broker.wants[0]?.resolve(bytes);
    (await first).fill(0);
    const again = await fetcher.fetch(cid, { signal: never() });
    expect(again).toEqual(expected);
    again.fill(0);
    expect(await fetcher.fetch(cid, { signal: never() })).toEqual(expected);
    expect(broker.wants).toHaveLength(1);
  });

  it("keeps the want while one caller still waits, and drops it when the last one gives up", async () => {
    const { cid, bytes, expected } = await block(3);
    const broker = fakeBroker();
    const fetcher = createBlockFetcher(broker);
    const impatient = new AbortController();
    const patient = new AbortController();
    const gaveUp = fetcher.fetch(cid, { signal: impatient.signal });
    const waits = fetcher.fetch(cid, { signal: patient.signal });
    await Promise.resolve();
    impatient.abort(new Error("client went away"));
    await expect(gaveUp).rejects.toThrow("client went away");
    expect(broker.wants[0]?.signal.aborted).toBe(false);
    broker.wants[0]?.resolve(bytes);
    expect(await waits).toEqual(expected);

    const other = await block(4);
    const alone = new AbortController();
    const lonely = fetcher.fetch(other.cid, { signal: alone.signal });
    await Promise.resolve();
    alone.abort(new Error("timeout"));
    await expect(lonely).rejects.toThrow("timeout");
    expect(broker.wants[1]?.signal.aborted).toBe(true);
  });

  it("waits a moment before wanting again a block whose want was just aborted, then wants it afresh", async () => {
    const { cid, bytes, expected } = await block(5);
    const broker = fakeBroker();
    const fetcher = createBlockFetcher(broker);
    const first = new AbortController();
    const attempt = fetcher.fetch(cid, { signal: first.signal });
    await Promise.resolve();
    first.abort(new Error("timeout"));
    await expect(attempt).rejects.toThrow("timeout");
    const retry = fetcher.fetch(cid, { signal: never() });
    await Promise.resolve();
    expect(broker.wants).toHaveLength(1);
    while (broker.wants.length < 2) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(broker.wants[1]?.signal.aborted).toBe(false);
    broker.wants[1]?.resolve(bytes);
    expect(await retry).toEqual(expected);
  });
});
