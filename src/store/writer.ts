/**
 * Write-behind for block writes during imports.
 *
 * The UnixFS importer writes leaves in strict batches of `blockWriteConcurrency` and reads
 * no input until a whole batch is written, so each fsync'ed write would stall the producer
 * (the encryption stream upstream) too. Here a write returns as soon as it has started, and
 * `flush` waits for an import's writes before the upload is made durable and pinned.
 *
 * Memory stays bounded: at most `limit` writes are in flight for the whole store, whatever
 * the number of concurrent imports (first come, first served), and an import waits for a
 * slot before its next block is taken. The first failure of an import fails its later calls.
 */

export interface WriteSession {
  /** Resolves when the write has started; throws an earlier write's failure. */
  write(task: () => Promise<unknown>): Promise<void>;
  /** Waits for this session's writes; throws the first failure. */
  flush(): Promise<void>;
  /** Waits for this session's writes, ignoring failures: nothing is left running. */
  settle(): Promise<void>;
}

export interface WriteQueue {
  session(): WriteSession;
}

export function createWriteQueue(limit: number): WriteQueue {
  let inUse = 0;
  const waiters: (() => void)[] = [];

  function acquire(): Promise<void> | undefined {
    if (inUse < limit) {
      inUse++;
      return undefined;
    }
    return new Promise((resolve) => waiters.push(resolve));
  }

  function release(): void {
    const next = waiters.shift();
    // The slot passes straight to the next waiter.
    if (next !== undefined) next();
    else inUse--;
  }

  return {
    session() {
      const pending = new Set<Promise<void>>();
      let failure: { error: unknown } | undefined;
      const check = () => {
        if (failure !== undefined) throw failure.error;
      };
      return {
        async write(task) {
          check();
          const waiting = acquire();
          if (waiting !== undefined) await waiting;
          if (failure !== undefined) {
            release();
            throw failure.error;
          }
          const running: Promise<void> = task().then(
            () => {
              pending.delete(running);
              release();
            },
            (error: unknown) => {
              pending.delete(running);
              release();
              failure ??= { error };
            },
          );
          pending.add(running);
        },
        async flush() {
          await Promise.all(pending);
          check();
        },
        async settle() {
          await Promise.all(pending);
        },
      };
    },
  };
}
