// @ts-check
/** How sizes, times, hashes and media types read on the page. */

const UNITS = ["bytes", "KiB", "MiB", "GiB", "TiB"];

/** @param {number} n */
export function formatBytes(n) {
  if (n < 1024) return `${n} ${n === 1 ? "byte" : "bytes"}`;
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${UNITS[unit]}`;
}

const dateTime = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

/** @param {string} iso */
export function formatTime(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : dateTime.format(d);
}

/** First 12 hex digits: enough to tell files apart at a glance; the full hash is one click away. */
export function shortHash(/** @type {string | null | undefined} */ hex) {
  if (!hex) return "—";
  const plain = hex.startsWith("0x") ? hex.slice(2) : hex;
  return `${hex.startsWith("0x") ? "0x" : ""}${plain.slice(0, 12)}…`;
}

/** @param {string} mediaType */
export function kindOf(mediaType) {
  if (mediaType === "application/dicom") return "DICOM image";
  if (mediaType === "application/pdf") return "PDF document";
  if (mediaType.startsWith("video/")) return "Video recording";
  if (mediaType.startsWith("audio/")) return "Audio recording";
  if (mediaType.startsWith("image/")) return "Image";
  return "Other file";
}

/** @param {Uint8Array} bytes */
export function toHex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** @param {Uint8Array} bytes */
export function toBase64(bytes) {
  let s = "";
  for (const b of bytes) s += String.fromCharCode(b);
  return btoa(s);
}

/**
 * A `datetime-local` value (local time, no zone) as an ISO 8601 instant, or undefined when empty.
 * @param {string} value
 */
export function localToIso(value) {
  if (value.trim() === "") return undefined;
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
}

/** The display name of a file: erased files have lost theirs with their keys. */
export function fileName(/** @type {{ id: string, name: string | null }} */ file) {
  return file.name ?? `Erased file ${file.id}`;
}
