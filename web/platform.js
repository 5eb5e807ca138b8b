// @ts-check
/**
 * The telehealth platform's view (role `uploader`): drop or pick several files, name the
 * recipients and an optional expiry, watch each upload's progress; then the list of files with
 * their anchoring status, recipients and sharing.
 */

import { asApiError } from "./api.js";
import { announce, fill, h, heading, showError, viewFrame } from "./dom.js";
import { createFileCard, receiptButton } from "./filecard.js";
import { createFileList, newestFirst } from "./filelist.js";
import { fileName, formatBytes, localToIso, shortHash } from "./format.js";
import { createPoller } from "./poller.js";

/** @typedef {import("./api.js").Api} Api */
/** @typedef {import("./api.js").FileView} FileView */
/** @typedef {import("./filecard.js").Card} Card */

/**
 * @typedef {{ file: File, li: HTMLLIElement, bar: HTMLProgressElement, status: HTMLElement, button: HTMLButtonElement,
 *   state: "ready" | "uploading" | "done" | "failed", abort?: () => void }} Queued
 */

/** A minimum expiry for the date picker: now, in local time, to the minute. */
function nowLocal() {
  const d = new Date();
  d.setSeconds(0, 0);
  return new Date(d.getTime() - d.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
}

/**
 * @param {Api} api
 */
export function platformView(api) {
  const title = heading("h1", "view-title", "Upload and share");
  const formError = h("p", { class: "error", role: "alert", id: "upload-error" });

  // --- choosing files ------------------------------------------------------------------------
  const input = h("input", { id: "up-files", class: "file-input", type: "file", multiple: true, "aria-describedby": "up-files-hint" });
  const drop = h(
    "div",
    { class: "dropzone" },
    input,
    h(
      "label",
      { for: "up-files", class: "dropzone-label" },
      h("span", { class: "dropzone-title" }, "Drop files here or ", h("span", { class: "link" }, "choose files")),
      h("span", { id: "up-files-hint", class: "hint" }, "DICOM images, session recordings, lab PDFs. Several at once."),
    ),
  );
  const queueList = h("ul", { class: "queue", "aria-label": "Files to upload" });
  /** @type {Queued[]} */
  let queue = [];

  /** @param {Iterable<File>} files */
  function addFiles(files) {
    // Finished rows make way for a new selection.
    for (const q of queue.filter((q) => q.state === "done")) q.li.remove();
    queue = queue.filter((q) => q.state !== "done");
    let added = 0;
    for (const file of files) {
      const bar = h("progress", { max: "100", value: "0", "aria-label": `Upload progress of ${file.name}` });
      const status = h("span", { class: "queue-status" }, `${formatBytes(file.size)} · ready`);
      const button = h(
        "button",
        { type: "button", class: "button button-small button-quiet", "aria-label": `Remove ${file.name}` },
        "Remove",
      );
      const li = h(
        "li",
        { class: "queue-item", "data-state": "ready" },
        h("span", { class: "queue-name" }, file.name),
        status,
        bar,
        button,
      );
      /** @type {Queued} */
      const q = { file, li, bar, status, button, state: "ready" };
      button.addEventListener("click", () => {
        if (q.state === "uploading") q.abort?.();
        else {
          li.remove();
          queue = queue.filter((x) => x !== q);
          input.focus();
        }
      });
      queue.push(q);
      queueList.append(li);
      added++;
    }
    if (added > 0) {
      showError(formError, null);
      announce(`${added} ${added === 1 ? "file" : "files"} ready to upload.`);
    }
  }

  input.addEventListener("change", () => {
    addFiles(input.files ?? []);
    input.value = "";
  });
  for (const type of ["dragenter", "dragover"])
    drop.addEventListener(type, (e) => {
      e.preventDefault();
      drop.classList.add("is-dragging");
    });
  drop.addEventListener("dragleave", () => drop.classList.remove("is-dragging"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("is-dragging");
    addFiles(e.dataTransfer?.files ?? []);
  });
  // A file dropped next to the zone would make the browser navigate away from the page.
  const swallow = (/** @type {DragEvent} */ e) => e.preventDefault();
  window.addEventListener("dragover", swallow);
  window.addEventListener("drop", swallow);

  // --- recipients, expiry, upload --------------------------------------------------------------
  const recipients = h("input", {
    id: "up-recipients",
    name: "recipients",
    type: "text",
    autocomplete: "off",
    spellcheck: "false",
    required: true,
    "aria-describedby": "up-recipients-hint",
  });
  const expires = h("input", {
    id: "up-expires",
    name: "expiresAt",
    type: "datetime-local",
    min: nowLocal(),
    "aria-describedby": "up-expires-hint",
  });
  const submit = h("button", { type: "submit", class: "button button-primary" }, "Upload");
  const form = h(
    "form",
    { class: "upload-form", novalidate: true },
    drop,
    queueList,
    h(
      "div",
      { class: "fields" },
      h(
        "div",
        { class: "field" },
        h("label", { for: "up-recipients" }, "Recipients"),
        recipients,
        h("p", { id: "up-recipients-hint", class: "hint" }, "Specialists' names, separated by commas."),
      ),
      h(
        "div",
        { class: "field" },
        h("label", { for: "up-expires" }, "Access expires ", h("span", { class: "muted" }, "(optional)")),
        expires,
        h("p", { id: "up-expires-hint", class: "hint" }, "After this time recipients can no longer download the file."),
      ),
    ),
    formError,
    h("div", { class: "form-actions" }, submit),
  );

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    showError(formError, null);
    recipients.removeAttribute("aria-invalid");
    const names = recipients.value
      .split(",")
      .map((s) => s.trim())
      .filter((s) => s !== "");
    const ready = queue.filter((q) => q.state === "ready" || q.state === "failed");
    if (ready.length === 0) {
      showError(formError, { code: "BAD_REQUEST", detail: "choose at least one file" });
      input.focus();
      return;
    }
    if (names.length === 0) {
      recipients.setAttribute("aria-invalid", "true");
      showError(formError, { code: "BAD_REQUEST", detail: "name at least one recipient" });
      recipients.focus();
      return;
    }
    const expiresAt = localToIso(expires.value);
    submit.disabled = true;
    let stored = 0;
    for (const q of ready) if (await uploadOne(q, names, expiresAt)) stored++;
    submit.disabled = false;
    announce(`${stored} of ${ready.length} ${ready.length === 1 ? "file" : "files"} uploaded.`);
  });

  /**
   * @param {Queued} q
   * @param {string[]} names
   * @param {string | undefined} expiresAt
   */
  async function uploadOne(q, names, expiresAt) {
    const setState = (/** @type {Queued["state"]} */ state) => {
      q.state = state;
      q.li.dataset.state = state;
    };
    setState("uploading");
    q.button.textContent = "Cancel";
    q.button.setAttribute("aria-label", `Cancel upload of ${q.file.name}`);
    q.status.textContent = "starting…";
    const { done, abort } = api.upload(q.file, { recipients: names, ...(expiresAt === undefined ? {} : { expiresAt }) }, (sent, total) => {
      const pct = total > 0 ? Math.min(100, Math.floor((sent / total) * 100)) : 0;
      q.bar.value = pct;
      q.status.textContent = sent >= total ? "encrypting and pinning…" : `${pct}% · ${formatBytes(sent)} of ${formatBytes(total)}`;
    });
    q.abort = abort;
    try {
      const file = await done;
      setState("done");
      q.bar.value = 100;
      q.status.textContent = `stored · sha256 ${shortHash(file.sha256)}`;
      q.button.remove();
      list.show([file]);
      void poller.now();
      return true;
    } catch (error) {
      const e = asApiError(error);
      setState("failed");
      q.bar.value = 0;
      fill(q.status, h("span", { class: "error-inline" }, e.code === "ABORTED" ? "cancelled" : `failed: ${e.message}`));
      q.button.textContent = "Remove";
      q.button.setAttribute("aria-label", `Remove ${q.file.name}`);
      if (e.code !== "ABORTED") showError(formError, e);
      return false;
    }
  }

  // --- the files -------------------------------------------------------------------------------
  const listError = h("p", { class: "error", role: "alert" });
  const list = createFileList({
    label: "Your files",
    empty: "No files yet. Upload one above.",
    makeCard: (file) =>
      createFileCard(file, {
        grants: true,
        onRevoke: (card, recipient) => void revoke(card, recipient),
        actions: (card) => [shareForm(card), receiptButton(api, card)],
        onUpdate: (card) => {
          // An erased file has nothing left to share or prove.
          for (const part of card.el.querySelectorAll(".actions > *")) part.toggleAttribute("hidden", card.file.state === "erased");
        },
      }),
  });

  /**
   * @param {Card} card
   * @param {string} recipient
   */
  async function revoke(card, recipient) {
    showError(card.error, null);
    try {
      card.update(await api.revoke(card.file.id, recipient));
      announce(`${recipient} can no longer download ${fileName(card.file)}.`);
      card.el.querySelector("summary")?.focus();
    } catch (e) {
      showError(card.error, asApiError(e));
    }
  }

  /** @param {Card} card */
  function shareForm(card) {
    const id = card.file.id;
    const who = h("input", { id: `share-${id}-who`, type: "text", autocomplete: "off", spellcheck: "false", required: true });
    const until = h("input", { id: `share-${id}-until`, type: "datetime-local", min: nowLocal() });
    const details = h(
      "details",
      { class: "share" },
      h("summary", { class: "button" }, "Share…"),
      h(
        "form",
        { class: "share-form", novalidate: true },
        h("div", { class: "field" }, h("label", { for: who.id }, "Recipient name"), who),
        h("div", { class: "field" }, h("label", { for: until.id }, "Until ", h("span", { class: "muted" }, "(optional)")), until),
        h("button", { type: "submit", class: "button button-primary" }, "Share"),
      ),
    );
    details.addEventListener("toggle", () => {
      if (details.open) who.focus();
    });
    details.querySelector("form")?.addEventListener("submit", async (e) => {
      e.preventDefault();
      showError(card.error, null);
      if (who.value.trim() === "") {
        showError(card.error, { code: "BAD_REQUEST", detail: "name the recipient" });
        who.focus();
        return;
      }
      try {
        card.update(await api.grant(id, who.value.trim(), localToIso(until.value)));
        announce(`${who.value.trim()} can now download ${fileName(card.file)}.`);
        who.value = "";
        until.value = "";
        details.open = false;
        details.querySelector("summary")?.focus();
      } catch (error) {
        showError(card.error, asApiError(error));
      }
    });
    return details;
  }

  const refreshButton = h("button", { type: "button", class: "button button-quiet" }, "Refresh");
  async function refresh() {
    try {
      const files = newestFirst(await api.listFiles());
      list.show(files);
      showError(listError, null);
      return files;
    } catch (e) {
      showError(listError, asApiError(e));
      return undefined;
    }
  }
  const poller = createPoller(refresh);
  refreshButton.addEventListener("click", () => void poller.now());

  const el = viewFrame(
    title,
    "Each file is encrypted with its own key for the recipients you name, then anchored on chain.",
    h("section", { class: "card", "aria-labelledby": "upload-title" }, h("h2", { id: "upload-title" }, "Upload files"), form),
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
      for (const q of queue) q.abort?.();
      window.removeEventListener("dragover", swallow);
      window.removeEventListener("drop", swallow);
    },
  };
}
