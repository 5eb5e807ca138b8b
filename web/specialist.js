// @ts-check
/**
 * The specialist's view (role `recipient`): the files granted to them, each with "Download
 * verified" (the vault's checks and the browser's own SHA-256, then saved), its receipt and the
 * age file. A file erased while the page is open turns `erased` (GONE) rather than vanishing.
 */

import { asApiError } from "./api.js";
import { announce, fill, h, heading, showError, viewFrame } from "./dom.js";
import { createFileCard, receiptButton } from "./filecard.js";
import { createFileList, newestFirst } from "./filelist.js";
import { fileName, formatBytes } from "./format.js";
import { sentenceFor } from "./messages.js";
import { createPoller } from "./poller.js";
import { safeName, saveBlob } from "./save.js";
import { downloadAge, downloadVerified } from "./verify.js";

/** @typedef {import("./api.js").Api} Api */
/** @typedef {import("./api.js").FileView} FileView */
/** @typedef {import("./filecard.js").Card} Card */
/** @typedef {import("./verify.js").Check} Check */

/** @type {Record<string, [string, string]>} */
const MARK = { true: ["✓", "passed"], false: ["✗", "failed"], null: ["–", "not applicable"] };

/** @param {Check} check */
function checkItem(check) {
  const [symbol, word] = MARK[String(check.ok)] ?? ["–", "not applicable"];
  return h(
    "li",
    { class: "check", "data-ok": String(check.ok) },
    h("span", { class: "check-mark", "aria-hidden": "true" }, symbol),
    h("span", { class: "visually-hidden" }, `${word}: `),
    h("span", null, check.label, check.note ? h("span", { class: "muted" }, ` (${check.note})`) : null),
  );
}

/**
 * A progress bar in the card's output while bytes arrive.
 * @param {Card} card
 * @param {string} what
 */
function progressIn(card, what) {
  const bar = h("progress", { max: "100", value: "0", "aria-label": `${what} of ${fileName(card.file)}` });
  const text = h("span", { class: "muted" }, "starting…");
  fill(card.output, h("div", { class: "download-progress" }, bar, text));
  return (/** @type {number} */ received, /** @type {number} */ total) => {
    const pct = Number.isFinite(total) && total > 0 ? Math.floor((received / total) * 100) : 0;
    bar.value = pct;
    text.textContent = `${formatBytes(received)} of ${formatBytes(total)}`;
  };
}

/**
 * @param {Api} api
 */
export function specialistView(api) {
  const title = heading("h1", "view-title", "Files shared with you");
  const listError = h("p", { class: "error", role: "alert" });

  /**
   * A GONE answer means the file was erased since the list was drawn: show it as such.
   * @param {Card} card
   */
  async function markErased(card) {
    let file = card.file;
    try {
      file = await api.getFile(file.id);
    } catch {
      // Not visible any more: the local copy, marked, is all there is to show.
    }
    card.update(file.state === "erased" ? file : { ...file, state: "erased" });
  }

  /**
   * @param {Card} card
   * @param {unknown} error
   */
  async function failed(card, error) {
    const e = asApiError(error);
    fill(card.output);
    if (e.code === "GONE") await markErased(card);
    showError(card.error, e);
  }

  /** @param {Card} card */
  async function verifyAndSave(card, /** @type {HTMLButtonElement} */ button) {
    showError(card.error, null);
    button.disabled = true;
    try {
      const result = await downloadVerified(api, card.file, progressIn(card, "Download"));
      const headingId = `verified-${card.file.id}`;
      const head = h("h4", { id: headingId, tabindex: "-1" }, result.ok ? "Verified download" : "Verification failed: nothing saved");
      fill(
        card.output,
        h(
          "section",
          { class: result.ok ? "result result-ok" : "result result-bad", "aria-labelledby": headingId, "data-verified": String(result.ok) },
          head,
          h("ul", { class: "checks" }, result.checks.map(checkItem)),
          h(
            "p",
            { class: "sha-line" },
            "SHA-256 of the received file: ",
            h("code", { class: "hash hash-full", "data-sha256": result.sha256 }, result.sha256),
          ),
          result.ok ? h("p", { class: "muted" }, `Saved as ${safeName(fileName(card.file))} (${formatBytes(result.bytes)}).`) : null,
        ),
      );
      if (result.ok) {
        saveBlob(result.blob, safeName(fileName(card.file)));
        announce(`${fileName(card.file)} verified and saved.`);
      } else showError(card.error, { code: "HASH_MISMATCH_BROWSER" });
      head.focus();
    } catch (error) {
      await failed(card, error);
    } finally {
      button.disabled = false;
    }
  }

  /** @param {Card} card */
  async function saveAge(card, /** @type {HTMLButtonElement} */ button) {
    showError(card.error, null);
    button.disabled = true;
    try {
      const blob = await downloadAge(api, card.file.id, progressIn(card, "age file download"));
      const name = `${safeName(fileName(card.file))}.age`;
      saveBlob(blob, name);
      fill(
        card.output,
        h(
          "p",
          { class: "result" },
          `Saved ${name} (${formatBytes(blob.size)}). Decrypt it with your own key and any age tool: `,
          h("code", null, `age -d -i key.txt ${name}`),
        ),
      );
      announce(`${name} saved.`);
    } catch (error) {
      await failed(card, error);
    } finally {
      button.disabled = false;
    }
  }

  const list = createFileList({
    label: "Files shared with you",
    empty: "Nothing is shared with you yet.",
    makeCard: (file) =>
      createFileCard(file, {
        grants: true,
        actions: (card) => {
          const download = h("button", { type: "button", class: "button button-primary" }, "Download verified");
          download.addEventListener("click", () => void verifyAndSave(card, download));
          const age = h("button", { type: "button", class: "button" }, "age file");
          age.setAttribute("aria-label", "Download the age file");
          age.addEventListener("click", () => void saveAge(card, age));
          return [download, receiptButton(api, card), age];
        },
        onUpdate: (card) => {
          const erased = card.file.state === "erased";
          for (const b of card.el.querySelectorAll(".actions button")) b.toggleAttribute("disabled", erased);
          const note = card.el.querySelector(".gone-note");
          if (erased && note === null) card.el.querySelector(".actions")?.before(h("p", { class: "gone-note" }, sentenceFor("GONE")));
        },
      }),
  });

  const refreshButton = h("button", { type: "button", class: "button button-quiet" }, "Refresh");
  async function refresh() {
    try {
      const files = newestFirst(await api.listFiles());
      list.show(files);
      // Files gone from the list were erased or are no longer shared; ask which.
      const listed = new Set(files.map((f) => f.id));
      for (const [id, card] of list.cards) {
        if (listed.has(id) || card.file.state === "erased") continue;
        try {
          list.show([await api.getFile(id)]);
        } catch {
          list.remove(id);
          announce(`${fileName(card.file)} is no longer shared with you.`);
        }
      }
      showError(listError, null);
      return [...list.cards.values()].map((c) => c.file);
    } catch (e) {
      showError(listError, asApiError(e));
      return undefined;
    }
  }
  const poller = createPoller(refresh);
  refreshButton.addEventListener("click", () => void poller.now());
  const onVisible = () => {
    if (document.visibilityState === "visible") void poller.now();
  };
  document.addEventListener("visibilitychange", onVisible);

  const el = viewFrame(
    title,
    "Every download is checked twice: by the vault against the chain, and by this browser against the file's SHA-256.",
    h(
      "section",
      { class: "card", "aria-labelledby": "files-title" },
      h("div", { class: "section-head" }, h("h2", { id: "files-title" }, "Your files"), refreshButton),
      listError,
      list.el,
    ),
  );
  void poller.now();
  return {
    el,
    focus: () => title.focus(),
    dispose() {
      poller.stop();
      document.removeEventListener("visibilitychange", onVisible);
    },
  };
}
