import { describe, expect, it } from "vitest";
import { createRwLock } from "../../src/store/lock.ts";

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe("read/write lock", () => {
  it("shares among readers, excludes a writer, and lets a waiting writer go before new readers", async () => {
    const lock = createRwLock();
    const events: string[] = [];
    const r1 = await lock.shared();
    const r2 = await lock.shared();
    const writer = lock.exclusive().then((release) => {
      events.push("writer");
      return release;
    });
    const late = lock.shared().then((release) => {
      events.push("late reader");
      return release;
    });
    await tick();
    expect(events).toEqual([]);
    r1();
    r1(); // a second release is ignored
    await tick();
    expect(events).toEqual([]);
    r2();
    const w = await writer;
    await tick();
    expect(events).toEqual(["writer"]);
    w();
    (await late)();
    expect(events).toEqual(["writer", "late reader"]);
    (await lock.exclusive())();
  });
});
