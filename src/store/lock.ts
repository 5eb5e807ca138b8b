/**
 * A small read/write lock. Block writes and existence checks hold it shared, for one block
 * at a time; collect holds it exclusively while it deletes a batch. A waiting exclusive
 * holder stops new shared holders, so collect cannot starve under a steady stream of
 * uploads, and since shared holds last one block write, it waits milliseconds, not uploads.
 */

type Release = () => void;

interface Waiter {
  exclusive: boolean;
  grant: () => void;
}

export interface RwLock {
  shared(): Promise<Release>;
  exclusive(): Promise<Release>;
}

export function createRwLock(): RwLock {
  let readers = 0;
  let writer = false;
  const queue: Waiter[] = [];

  function drain(): void {
    while (queue.length > 0) {
      const head = queue[0] as Waiter;
      if (head.exclusive) {
        if (writer || readers > 0) return;
        queue.shift();
        writer = true;
        head.grant();
        return;
      }
      if (writer) return;
      queue.shift();
      readers++;
      head.grant();
    }
  }

  function releaseShared(): void {
    readers--;
    drain();
  }

  function releaseExclusive(): void {
    writer = false;
    drain();
  }

  return {
    shared() {
      if (!writer && queue.length === 0) {
        readers++;
        return Promise.resolve(once(releaseShared));
      }
      return new Promise((resolve) => {
        queue.push({ exclusive: false, grant: () => resolve(once(releaseShared)) });
      });
    },
    exclusive() {
      if (!writer && readers === 0 && queue.length === 0) {
        writer = true;
        return Promise.resolve(once(releaseExclusive));
      }
      return new Promise((resolve) => {
        queue.push({ exclusive: true, grant: () => resolve(once(releaseExclusive)) });
      });
    },
  };
}

function once(release: Release): Release {
  let done = false;
  return () => {
    if (done) return;
    done = true;
    release();
  };
}
