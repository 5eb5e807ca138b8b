/**
 * Messages on a libp2p 3 stream: one JSON object per line (UTF-8, `\n`-terminated), at most
 * `MAX_LINE_BYTES` each. The replication protocol's messages are a CID and a status, so
 * lines keep it readable in a packet capture without a schema compiler.
 *
 * Every read has a deadline: a peer that goes silent aborts the stream (and so any work the
 * other side runs for it) instead of holding a request open.
 */

import type { Stream } from "@libp2p/interface";
import { VaultError } from "../errors.ts";

const MAX_LINE_BYTES = 4096;
const NEWLINE = 0x0a;

export class MessageStream {
  readonly stream: Stream;
  readonly #chunks: AsyncIterator<{ subarray(): Uint8Array }>;
  #buffer: Uint8Array = new Uint8Array(0);

  constructor(stream: Stream) {
    this.stream = stream;
    this.#chunks = stream[Symbol.asyncIterator]();
  }

  /** Queues one message; waits while the stream's write buffer is full. */
  async write(message: object, options: { signal?: AbortSignal } = {}): Promise<void> {
    if (!this.stream.send(new TextEncoder().encode(`${JSON.stringify(message)}\n`))) await this.stream.onDrain(options);
  }

  /**
   * The next message, or undefined when the other side closed its end. Aborts the stream
   * and throws a `TimeoutError` after `timeoutMs` without a whole message.
   */
  async read(timeoutMs: number, options: { signal?: AbortSignal } = {}): Promise<unknown> {
    for (;;) {
      const end = this.#buffer.indexOf(NEWLINE);
      if (end >= 0) {
        const line = this.#buffer.subarray(0, end);
        this.#buffer = this.#buffer.subarray(end + 1);
        return parseLine(line);
      }
      if (this.#buffer.byteLength > MAX_LINE_BYTES) throw this.#fail(new VaultError("BAD_REQUEST", "peer message too long"));
      const next = await this.#nextChunk(timeoutMs, options.signal);
      if (next.done === true) {
        if (this.#buffer.byteLength > 0) throw new VaultError("BAD_REQUEST", "peer message cut short");
        return undefined;
      }
      const chunk = next.value.subarray();
      this.#buffer = this.#buffer.byteLength === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
    }
  }

  /** Closes our end gracefully, or aborts the stream if that takes longer than `timeoutMs`. */
  async close(timeoutMs: number): Promise<void> {
    try {
      await this.stream.close({ signal: AbortSignal.timeout(timeoutMs) });
    } catch (error) {
      this.stream.abort(error instanceof Error ? error : new Error(String(error)));
    }
  }

  abort(error: unknown): void {
    this.#fail(error);
  }

  #fail(error: unknown): unknown {
    if (this.stream.status === "open") this.stream.abort(error instanceof Error ? error : new Error(String(error)));
    return error;
  }

  #nextChunk(timeoutMs: number, signal: AbortSignal | undefined): Promise<IteratorResult<{ subarray(): Uint8Array }>> {
    signal?.throwIfAborted();
    return new Promise((resolve, reject) => {
      const stop = (error: unknown) => {
        cleanup();
        reject(this.#fail(error));
      };
      const onAbort = () => stop(signal?.reason);
      const timer = setTimeout(() => stop(new DOMException(`no message from the peer in ${timeoutMs} ms`, "TimeoutError")), timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#chunks.next().then(
        (result) => {
          cleanup();
          resolve(result);
        },
        (error: unknown) => {
          cleanup();
          reject(error);
        },
      );
    });
  }
}

function parseLine(line: Uint8Array): unknown {
  try {
    return JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(line));
  } catch (error) {
    throw new VaultError("BAD_REQUEST", "peer message is not JSON", { cause: error });
  }
}
