/**
 * A pull reader over an async byte source, for the few places that must look ahead (the age
 * header, armor detection) before handing the rest of the stream on untouched.
 */

export class Reader {
  private readonly it: AsyncIterator<Uint8Array> | Iterator<Uint8Array>;
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;
  private done = false;

  constructor(source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>) {
    this.it = Symbol.asyncIterator in source ? source[Symbol.asyncIterator]() : source[Symbol.iterator]();
  }

  get buffered(): number {
    return this.pendingBytes;
  }

  get ended(): boolean {
    return this.done;
  }

  /** Pulls one more piece from the source; false at its end. */
  async pull(): Promise<boolean> {
    if (this.done) return false;
    const r = await this.it.next();
    if (r.done === true) {
      this.done = true;
      return false;
    }
    if (r.value.length > 0) {
      this.pending.push(r.value);
      this.pendingBytes += r.value.length;
    }
    return true;
  }

  /** The buffered bytes as one array (copies only when there is more than one piece). */
  peek(): Uint8Array {
    if (this.pending.length === 0) return new Uint8Array(0);
    if (this.pending.length > 1) this.pending = [Buffer.concat(this.pending)];
    return this.pending[0] as Uint8Array;
  }

  /** Removes and returns the first `n` buffered bytes. */
  take(n: number): Uint8Array {
    const all = this.peek();
    const head = all.subarray(0, n);
    const tail = all.subarray(n);
    this.pending = tail.length > 0 ? [tail] : [];
    this.pendingBytes = tail.length;
    return head;
  }

  /** Everything not yet taken: buffered bytes first, then the rest of the source. */
  async *rest(): AsyncGenerator<Uint8Array> {
    const first = this.pending;
    this.pending = [];
    this.pendingBytes = 0;
    yield* first;
    while (!this.done) {
      const r = await this.it.next();
      if (r.done === true) this.done = true;
      else yield r.value;
    }
  }

  async close(): Promise<void> {
    if (!this.done) await this.it.return?.();
    this.done = true;
  }
}
