/** The fix for pnet's cipher (src/swarm/xsalsa20.ts): large messages and many connections. */

import { createRequire } from "node:module";
import { describe, expect, it } from "vitest";
import { xsalsa20Problem } from "../../src/swarm/xsalsa20.ts";

type Cipher = { update(input: Uint8Array): Uint8Array; finalize(): void };
const xsalsa20 = createRequire(import.meta.resolve("@libp2p/pnet"))("xsalsa20") as (nonce: Uint8Array, key: Uint8Array) => Cipher;

describe("xsalsa20 under @libp2p/pnet", () => {
  it("passes its own check: the XSalsa20 stream, in pieces that never grow the memory", () => {
    expect(xsalsa20Problem()).toBeUndefined();
  });

  it("survives a 3 MiB message followed by many small ones on two ciphers (the shape that killed connections)", () => {
    const key = new Uint8Array(32).fill(1);
    const inbound = xsalsa20(new Uint8Array(24).fill(2), key);
    const outbound = xsalsa20(new Uint8Array(24).fill(3), key);
    try {
      inbound.update(new Uint8Array(3 * 1024 * 1024));
      for (let i = 0; i < 2000; i++) {
        outbound.update(new Uint8Array(1500));
        inbound.update(new Uint8Array(i % 7 === 0 ? 1024 * 1024 : 200));
      }
    } finally {
      inbound.finalize();
      outbound.finalize();
    }
  });
});
