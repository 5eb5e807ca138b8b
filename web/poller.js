// @ts-check
/**
 * Refreshes a file list while anchoring is under way: every 2 s while a file is pending, every
 * 10 s while one is anchored but not final, not at all once everything is settled. A refresh
 * already running is never doubled, and `stop` ends it for good (sign-out).
 */

/** @typedef {import("./api.js").FileView} FileView */

/** @param {FileView[]} files */
export function pollDelayMs(files) {
  const active = files.filter((f) => f.state === "active");
  if (active.some((f) => f.anchor.status === "pending")) return 2_000;
  if (active.some((f) => f.anchor.status === "anchored")) return 10_000;
  return undefined;
}

/**
 * @param {() => Promise<FileView[] | undefined>} refresh resolves to the files now shown (undefined after an error)
 */
export function createPoller(refresh) {
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let timer;
  let running = false;
  let stopped = false;
  const delayAfterErrorMs = 10_000;

  async function run() {
    if (stopped || running) return;
    clearTimeout(timer);
    running = true;
    let files;
    try {
      files = await refresh();
    } finally {
      running = false;
    }
    if (stopped) return;
    const delay = files === undefined ? delayAfterErrorMs : pollDelayMs(files);
    if (delay !== undefined) timer = setTimeout(run, delay);
  }

  return {
    /** Refreshes now, then keeps polling as long as something is under way. */
    now: run,
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
