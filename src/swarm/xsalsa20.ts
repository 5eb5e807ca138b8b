/**
 * A fix for xsalsa20 1.2.0, the cipher under `@libp2p/pnet` 3.0.27 (the private network's
 * stream encryption), imported for its side effect before the first libp2p node is made.
 *
 * - All ciphers of the process share one WebAssembly memory (10 pages, at most 1000), grown
 *   when one `update` needs more room (a 1 MiB bitswap block does). Growing detaches every
 *   other cipher's view of it; a cipher with a detached view sees "no room" and grows it
 *   again on its next update, detaching the others in turn. Inbound and outbound ciphers of a
 *   connection alternate, so after one large message the memory grows on nearly every
 *   update until it hits its cap: `RangeError: WebAssembly.Memory.grow(): Maximum memory size
 *   exceeded`, and the connection dies. The fix upstream (libp2p/js-libp2p#3585) is in no
 *   release we can install.
 * - pnet never calls `finalize()`, so each connection keeps its two 64-byte cipher slots for
 *   good, and the data area above the slots creeps up until updates no longer fit and the
 *   first bullet follows (a few thousand connections: a peer redialled every few seconds
 *   with the wrong swarm key gets there in hours). `finalize()` also wipes the key.
 *
 * So `update` runs in pieces of 64 KiB, which never need a larger memory, and a cipher's
 * slot is handed back (and its key wiped) once the cipher is garbage collected. The check
 * below runs at import: pieces must give the XSalsa20 stream itself (compared with
 * @noble/ciphers), and a 2 MiB update must leave the memory as it was; otherwise the swarm
 * refuses to start rather than drop connections under load.
 */

import { createRequire } from "node:module";
import { xsalsa20 as referenceXsalsa20 } from "@noble/ciphers/salsa.js";

const PIECE_BYTES = 64 * 1024;

interface Cipher {
  update(input: Uint8Array, output?: Uint8Array): Uint8Array;
  finalize(): void;
  _xor?: { finalize(): void; _memory?: Uint8Array } | null;
}

type CipherFactory = ((nonce: Uint8Array, key: Uint8Array) => Cipher) & { prototype: Cipher };

/** The very module instance `@libp2p/pnet` loads (a CommonJS module: one copy per path). */
const XSalsa20 = createRequire(import.meta.resolve("@libp2p/pnet"))("xsalsa20") as CipherFactory;

function patch(proto: Cipher): void {
  const update = proto.update;
  const finalize = proto.finalize;
  const released = new FinalizationRegistry<{ finalize(): void }>((xor) => xor.finalize());
  const registered = new WeakSet<Cipher>();
  proto.update = function (this: Cipher, input: Uint8Array, output: Uint8Array = new Uint8Array(input.length)): Uint8Array {
    if (!registered.has(this) && this._xor != null) {
      registered.add(this);
      // Held: the WebAssembly slot object, which does not reference the cipher.
      released.register(this, this._xor, this);
    }
    for (let start = 0; start < input.length; start += PIECE_BYTES) {
      update.call(this, input.subarray(start, start + PIECE_BYTES), output.subarray(start, start + PIECE_BYTES));
    }
    return output;
  };
  proto.finalize = function (this: Cipher): void {
    released.unregister(this);
    finalize.call(this);
  };
}

/** Why the cipher is unfit, or undefined. */
export function xsalsa20Problem(): string | undefined {
  const key = new Uint8Array(32).fill(7);
  const nonce = new Uint8Array(24).fill(9);
  const input = new Uint8Array(2 * 1024 * 1024 + 13);
  for (let i = 0; i < input.length; i++) input[i] = i & 0xff;
  const cipher = XSalsa20(nonce, key);
  try {
    const memoryBytes = () => cipher._xor?._memory?.buffer.byteLength;
    const before = memoryBytes();
    // Uneven pieces, as a socket delivers them, across 64-byte block boundaries.
    const output = new Uint8Array(input.length);
    output.set(cipher.update(input.subarray(0, 100)), 0);
    output.set(cipher.update(input.subarray(100)), 100);
    if (memoryBytes() !== before) return "a large update grew its WebAssembly memory";
    const expected = referenceXsalsa20(key, nonce, input);
    if (!Buffer.from(output).equals(expected)) return "its output is not the XSalsa20 stream";
    return undefined;
  } finally {
    cipher.finalize();
  }
}

patch(XSalsa20.prototype);
const problem = xsalsa20Problem();
if (problem !== undefined) {
  throw new Error(`xsalsa20 under @libp2p/pnet is unfit (${problem}) and the fix did not take: refusing to start the swarm`);
}
