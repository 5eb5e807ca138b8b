import { describe, expect, it } from "vitest";
import { createWriteQueue } from "../../src/store/writer.ts";

function deferred(): { promise: Promise<void>; resolve: () => void; reject: (e: Error) => void } {
  let resolve!: () => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe("write queue", () => {
  it("keeps at most `limit` writes in flight across sessions, and flush waits for a session's own", async () => {
    const queue = createWriteQueue(2);
    const a = queue.session();
    const b = queue.session();
    const first = deferred();
    const second = deferred();
    await a.write(() => first.promise);
    await b.write(() => second.promise);
    let thirdStarted = false;
    const third = a.write(async () => {
      thirdStarted = true;
    });
    await tick();
    expect(thirdStarted).toBe(false);
    second.resolve();
    await third;
    expect(thirdStarted).toBe(true);
    await b.flush();
    let flushed = false;
    const flushing = a.flush().then(() => {
      flushed = true;
    });
    await tick();
    expect(flushed).toBe(false);
    first.resolve();
    await flushing;
  });

  it("fails a session's later calls after a failed write, not other sessions'", async () => {
    const queue = createWriteQueue(4);
    const a = queue.session();
    const b = queue.session();
    await a.write(async () => {
      throw new Error("disk full");
    });
    await tick();
    await expect(a.write(async () => {})).rejects.toThrow("disk full");
    await expect(a.flush()).rejects.toThrow("disk full");
    await a.settle();
    await b.write(async () => {});
    await b.flush();
  });
});
