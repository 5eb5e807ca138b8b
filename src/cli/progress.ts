/**
 * Transfer progress on standard error: a redrawn bar (bytes, %, MB/s, time left) when it is a
 * terminal, one plain summary line when it is not (a log, a pipe, CI). Units are SI (1 MB =
 * 10⁶ bytes), like the speeds network tools print.
 */

export type Progress = {
  /** Counts `bytes` more as done. */
  add(bytes: number): void;
  /** The transfer succeeded: the final bar or summary line. */
  end(): void;
  /** The transfer failed: leaves the bar on its own line so the error starts on a fresh one. */
  stop(): void;
};

export type ProgressStream = { isTTY?: boolean; columns?: number; write(text: string): unknown };

export type ProgressOptions = {
  /** Where to draw; standard error by default. */
  stream?: ProgressStream;
  /** false for --quiet: nothing at all. */
  enabled?: boolean;
  /** Milliseconds; injectable for tests. */
  now?: () => number;
};

const REDRAW_MS = 100;

export function createProgress(label: string, totalBytes: number | undefined, options: ProgressOptions = {}): Progress {
  const stream = options.stream ?? process.stderr;
  const now = options.now ?? (() => performance.now());
  const enabled = options.enabled !== false;
  const tty = stream.isTTY === true;
  const started = now();
  let done = 0;
  let drawn = Number.NEGATIVE_INFINITY;
  let finished = false;

  const draw = (final: boolean) => {
    const t = now();
    if (!final && t - drawn < REDRAW_MS) return;
    drawn = t;
    stream.write(`\r${barLine(label, done, totalBytes, t - started, stream.columns ?? 80)}\x1b[K${final ? "\n" : ""}`);
  };

  return {
    add(bytes) {
      done += bytes;
      if (enabled && tty && !finished) draw(false);
    },
    end() {
      if (!enabled || finished) return;
      finished = true;
      if (tty) draw(true);
      else stream.write(`${summaryLine(label, done, now() - started)}\n`);
    },
    stop() {
      if (!enabled || finished) return;
      finished = true;
      if (tty && drawn > Number.NEGATIVE_INFINITY) stream.write("\n");
    },
  };
}

/** `label  [#####-----]  45%  12.6 MB / 28.0 MB  34.5 MB/s  0:01`, fitted to `columns`. */
export function barLine(label: string, doneBytes: number, totalBytes: number | undefined, elapsedMs: number, columns: number): string {
  const rate = elapsedMs > 0 ? (doneBytes * 1000) / elapsedMs : 0;
  const name = shorten(label, Math.max(8, Math.floor(columns / 4)));
  if (totalBytes === undefined) return clip(`${name}  ${formatBytes(doneBytes)}  ${formatRate(rate)}`, columns);
  const fraction = totalBytes === 0 ? 1 : Math.min(1, doneBytes / totalBytes);
  // Fixed-width figures, so the bar does not jitter as numbers grow.
  const left = rate > 0 && fraction < 1 ? formatDuration(((totalBytes - doneBytes) / rate) * 1000) : "";
  const figures = `${`${Math.floor(fraction * 100)}%`.padStart(4)}  ${formatBytes(doneBytes).padStart(8)} / ${formatBytes(totalBytes)}  ${formatRate(rate).padStart(11)}  ${left.padStart(7)}`;
  const width = columns - name.length - figures.length - 7; // one column spare: a full-width line wraps on some terminals
  if (width < 10) return clip(`${name}  ${figures.trim()}`, columns);
  const full = Math.round(fraction * width);
  return `${name}  [${"#".repeat(full)}${"-".repeat(width - full)}]  ${figures}`.trimEnd();
}

/** `label: 28.0 MB in 0.8 s, 34.5 MB/s`. */
export function summaryLine(label: string, doneBytes: number, elapsedMs: number): string {
  const rate = elapsedMs > 0 ? (doneBytes * 1000) / elapsedMs : 0;
  return `${label}: ${formatBytes(doneBytes)} in ${(elapsedMs / 1000).toFixed(1)} s, ${formatRate(rate)}`;
}

export function formatBytes(bytes: number): string {
  if (bytes < 1000) return `${bytes} B`;
  const units = ["kB", "MB", "GB", "TB", "PB"];
  let value = bytes / 1000;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}

function formatRate(bytesPerSecond: number): string {
  return `${(bytesPerSecond / 1e6).toFixed(1)} MB/s`;
}

function formatDuration(ms: number): string {
  const s = Math.ceil(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const mm = h > 0 ? String(m).padStart(2, "0") : String(m);
  return `${h > 0 ? `${h}:` : ""}${mm}:${String(s % 60).padStart(2, "0")}`;
}

/** Keeps the end of a long name (the extension tells most). */
function shorten(text: string, max: number): string {
  return text.length <= max ? text : `…${text.slice(text.length - max + 1)}`;
}

function clip(text: string, columns: number): string {
  return text.length < columns ? text : text.slice(0, Math.max(0, columns - 1));
}
