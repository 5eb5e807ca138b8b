// @ts-check
/**
 * A list of file cards kept in step with the vault: new files go on top, known ones are updated
 * in place (never moved, so focus inside them survives), and a change of anchoring status is
 * announced to screen readers.
 */

import { announce, h } from "./dom.js";
import { statusOf } from "./filecard.js";
import { fileName } from "./format.js";

/** @typedef {import("./api.js").FileView} FileView */
/** @typedef {import("./filecard.js").Card} Card */

/**
 * @param {{ label: string, empty: string, makeCard: (file: FileView) => Card }} options
 */
export function createFileList(options) {
  const list = h("ul", { class: "files", "aria-label": options.label });
  const empty = h("p", { class: "empty" }, options.empty);
  const el = h("div", null, empty, list);
  /** @type {Map<string, Card>} */
  const cards = new Map();

  /** @param {FileView[]} files newest first */
  function show(files) {
    const fresh = [];
    for (const file of files) {
      const card = cards.get(file.id);
      if (card === undefined) {
        const created = options.makeCard(file);
        cards.set(file.id, created);
        fresh.push(created.el);
        continue;
      }
      const before = statusOf(card.file);
      card.update(file);
      const after = statusOf(file);
      if (before !== after) announce(statusSentence(file, after));
    }
    list.prepend(...fresh);
    empty.hidden = cards.size > 0;
  }

  /** @param {string} id */
  function remove(id) {
    cards.get(id)?.el.remove();
    cards.delete(id);
    empty.hidden = cards.size > 0;
  }

  return { el, show, remove, cards };
}

/**
 * @param {FileView} file
 * @param {string} status
 */
function statusSentence(file, status) {
  const name = fileName(file);
  if (status === "anchored") return `${name} is anchored in batch ${file.anchor.batchId ?? "?"}.`;
  if (status === "final") return `${name} is final: its batch has enough confirmations.`;
  if (status === "erased") return `${name} was erased.`;
  return `${name} is ${status}.`;
}

/** Newest first, by upload time. */
export function newestFirst(/** @type {FileView[]} */ files) {
  return [...files].sort((a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : a.id < b.id ? 1 : -1));
}
