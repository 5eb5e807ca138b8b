// @ts-check
/**
 * Handing bytes to the browser's download manager through an object URL. Downloads need the
 * bearer header, so a plain link cannot fetch them; the page fetches, checks, then saves.
 */

/**
 * @param {Blob} blob
 * @param {string} name
 */
export function saveBlob(blob, name) {
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  a.hidden = true;
  document.body.append(a);
  a.click();
  a.remove();
  // The download manager has its own reference once the click is handled.
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

/**
 * @param {unknown} value
 * @param {string} name
 */
export function saveJson(value, name) {
  saveBlob(new Blob([`${JSON.stringify(value, null, 2)}\n`], { type: "application/json" }), name);
}

/** A file name without path separators or control characters, for what the vault calls the file. */
export function safeName(/** @type {string} */ name) {
  const clean = name.replace(/[\\/:*?"<>|\p{Cc}]/gu, "_").trim();
  return clean === "" ? "download" : clean;
}
