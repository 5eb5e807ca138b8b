// @ts-check
/**
 * The privacy officer's view (role `privacy`): find a file by id or name, erase it with a reason
 * after an explicit confirmation, keep the erasure certificate; and the audit trail.
 */

import { asApiError } from "./api.js";
import { createAuditTrail } from "./audit.js";
import { announce, fill, h, heading, showError, viewFrame } from "./dom.js";
import { createFileCard, receiptButton } from "./filecard.js";
import { newestFirst } from "./filelist.js";
import { fileName, formatBytes, formatTime } from "./format.js";
import { saveJson } from "./save.js";

/** @typedef {import("./api.js").Api} Api */
/** @typedef {import("./api.js").FileView} FileView */
/** @typedef {import("./api.js").Me} Me */
/** @typedef {import("./filecard.js").Card} Card */

const SHOWN = 25;

/**
 * @param {string} term
 * @param {FileView} file
 */
function matches(term, file) {
  if (term === "") return true;
  const t = term.toLowerCase();
  return file.id.toLowerCase() === t || file.id.toLowerCase().startsWith(t) || (file.name ?? "").toLowerCase().includes(t);
}

/**
 * @param {Api} api
 * @param {Me} me
 */
export function privacyView(api, me) {
  const title = heading("h1", "view-title", "Erasure and audit");
  /** principal id → name, from what the vault lets this role see (grants name their recipients). */
  const names = new Map([[me.id, `${me.name} (you)`]]);
  const trail = createAuditTrail(api, { names });

  // --- find ----------------------------------------------------------------------------------
  const term = h("input", { id: "find-term", type: "search", autocomplete: "off", spellcheck: "false", "aria-describedby": "find-hint" });
  const findError = h("p", { class: "error", role: "alert" });
  const results = h("ul", { class: "files", "aria-label": "Matching files" });
  const summary = h("p", { class: "muted", "aria-live": "polite" });
  const findForm = h(
    "form",
    { class: "find", role: "search", novalidate: true },
    h(
      "div",
      { class: "field field-grow" },
      h("label", { for: "find-term" }, "File id or name"),
      term,
      h("p", { id: "find-hint", class: "hint" }, "Part of a name, or the id (f_…) from the request. Empty shows the newest files."),
    ),
    h("div", { class: "form-actions" }, h("button", { type: "submit", class: "button button-primary" }, "Find")),
  );

  /** @param {FileView} file */
  function makeCard(file) {
    for (const g of file.grants) names.set(g.recipientId, g.recipient);
    return createFileCard(file, {
      grants: true,
      actions: (card) => {
        const erase = h("button", { type: "button", class: "button button-danger" }, "Erase…");
        erase.addEventListener("click", () => openErase(card));
        const events = h("button", { type: "button", class: "button" }, "Audit events");
        events.addEventListener("click", () => void trail.showFile(card.file.id));
        const receipt = receiptButton(api, card);
        // Both need the file alive: an erased file has no receipt and nothing left to erase.
        erase.dataset.live = "";
        receipt.dataset.live = "";
        return [erase, receipt, events];
      },
      onUpdate: (card) => {
        const erased = card.file.state === "erased";
        for (const b of card.el.querySelectorAll(".actions [data-live]")) b.toggleAttribute("disabled", erased);
      },
    });
  }

  async function find() {
    showError(findError, null);
    const t = term.value.trim();
    try {
      let found = newestFirst(await api.listFiles()).filter((f) => matches(t, f));
      // An exact id beyond the listing window still resolves.
      if (found.length === 0 && /^f_[A-Za-z0-9_-]+$/.test(t)) found = [await api.getFile(t)];
      fill(
        results,
        found.slice(0, SHOWN).map((f) => makeCard(f).el),
      );
      summary.textContent =
        found.length === 0
          ? "No file matches."
          : found.length > SHOWN
            ? `Showing ${SHOWN} of ${found.length} matching files; narrow the search to see others.`
            : `${found.length} matching ${found.length === 1 ? "file" : "files"}.`;
    } catch (e) {
      const err = asApiError(e);
      fill(results);
      summary.textContent = "";
      showError(findError, err.code === "NOT_FOUND" ? { code: "NOT_FOUND" } : err);
    }
  }
  findForm.addEventListener("submit", (e) => {
    e.preventDefault();
    void find();
  });

  // --- erase, with a confirmation step ----------------------------------------------------------
  const reason = h("textarea", {
    id: "erase-reason",
    rows: "3",
    required: true,
    maxlength: "1000",
    "aria-describedby": "erase-reason-hint",
  });
  const confirm = h("input", { id: "erase-confirm", type: "checkbox" });
  const eraseError = h("p", { class: "error", role: "alert" });
  const eraseTarget = h("dl", { class: "meta meta-compact" });
  const eraseSubmit = h("button", { type: "submit", class: "button button-danger" }, "Erase permanently");
  const cancel = h("button", { type: "button", class: "button button-quiet" }, "Cancel");
  const dialog = h(
    "dialog",
    { class: "dialog", "aria-labelledby": "erase-title", "aria-describedby": "erase-warning" },
    h(
      "form",
      { method: "dialog", novalidate: true },
      h("h2", { id: "erase-title" }, "Erase this file?"),
      h(
        "p",
        { id: "erase-warning", class: "warning" },
        "Every key to this file is destroyed and its encrypted blocks are deleted. Nobody, including the vault, can read it again. This cannot be undone.",
      ),
      eraseTarget,
      h(
        "div",
        { class: "field" },
        h("label", { for: "erase-reason" }, "Reason"),
        reason,
        h(
          "p",
          { id: "erase-reason-hint", class: "hint" },
          "For example the request reference (GDPR Art. 17 request #4711). It goes into the certificate and the audit trail; do not put patient details here.",
        ),
      ),
      h(
        "div",
        { class: "check-field" },
        confirm,
        h("label", { for: "erase-confirm" }, "I understand that this file can never be recovered"),
      ),
      eraseError,
      h("div", { class: "form-actions" }, cancel, eraseSubmit),
    ),
  );
  /** @type {{ card: Card } | undefined} */
  let erasing;

  /** @param {Card} card */
  function openErase(card) {
    erasing = { card };
    reason.value = "";
    confirm.checked = false;
    reason.removeAttribute("aria-invalid");
    showError(eraseError, null);
    const f = card.file;
    fill(
      eraseTarget,
      h("div", { class: "meta-item" }, h("dt", null, "File"), h("dd", null, fileName(f))),
      h("div", { class: "meta-item" }, h("dt", null, "Id"), h("dd", null, h("code", null, f.id))),
      h("div", { class: "meta-item" }, h("dt", null, "Size"), h("dd", null, formatBytes(f.size))),
      h("div", { class: "meta-item" }, h("dt", null, "Recipients"), h("dd", null, f.grants.map((g) => g.recipient).join(", ") || "none")),
    );
    dialog.showModal();
    reason.focus();
  }
  // Closing the dialog returns focus to the button that opened it (the browser does this).
  cancel.addEventListener("click", () => dialog.close());

  dialog.querySelector("form")?.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (erasing === undefined) return;
    showError(eraseError, null);
    if (reason.value.trim() === "") {
      reason.setAttribute("aria-invalid", "true");
      showError(eraseError, { code: "BAD_REQUEST", detail: "give the reason for the erasure" });
      reason.focus();
      return;
    }
    if (!confirm.checked) {
      showError(eraseError, { code: "BAD_REQUEST", detail: "tick the box to confirm that the erasure is final" });
      confirm.focus();
      return;
    }
    const { card } = erasing;
    // The name goes with the keys; the page keeps it only to say what was just erased.
    const erasedName = fileName(card.file);
    eraseSubmit.disabled = true;
    try {
      const certificate = await api.erase(card.file.id, reason.value.trim());
      erasing = undefined;
      dialog.close();
      try {
        card.update(await api.getFile(card.file.id));
      } catch {
        card.update({ ...card.file, state: "erased" });
      }
      showCertificate(certificate, erasedName);
      announce("File erased. The erasure certificate is shown.");
      if (trail.el.querySelector("tbody")?.childElementCount) void trail.load();
    } catch (err) {
      showError(eraseError, asApiError(err));
    } finally {
      eraseSubmit.disabled = false;
    }
  });

  // --- certificate -------------------------------------------------------------------------------
  const certHeading = heading("h2", "cert-title", "Erasure certificate");
  const certBody = h("div");
  const certSection = h(
    "section",
    { class: "card card-certificate", "aria-labelledby": "cert-title", hidden: true },
    certHeading,
    certBody,
  );

  /**
   * @param {Record<string, any>} c
   * @param {string} shownName
   */
  function showCertificate(c, shownName) {
    const d = c.destroyed ?? {};
    const row = (/** @type {string} */ term, /** @type {import("./dom.js").Child} */ value) =>
      h("div", { class: "meta-item" }, h("dt", null, term), h("dd", null, value));
    fill(
      certBody,
      h(
        "dl",
        { class: "meta meta-wide" },
        row("File", [h("code", null, String(c.fileId)), h("span", { class: "muted" }, ` (was ${shownName})`)]),
        row("Erased", h("time", { datetime: String(c.erasedAt) }, formatTime(String(c.erasedAt)))),
        row("By", String(c.by?.name ?? c.by?.id ?? "")),
        row("Reason", String(c.reason ?? "")),
        row(
          "Destroyed",
          `${d.headers ?? 0} key headers, ${d.grants ?? 0} grants, the salt, the name and the SHA-256; payload unpinned, ${c.collectedBlocks ?? 0} blocks deleted`,
        ),
        row("Audit event", h("code", { class: "hash", title: String(c.event?.hash ?? "") }, String(c.event?.id ?? ""))),
        row(
          "Signature",
          c.signature ? ["signed by ", h("code", { class: "hash" }, String(c.signer ?? ""))] : "not signed (no anchorer key configured)",
        ),
      ),
      h("pre", { class: "json", tabindex: "0", "aria-label": "Certificate JSON" }, JSON.stringify(c, null, 2)),
      h(
        "div",
        { class: "form-actions" },
        h("button", { type: "button", class: "button", onclick: () => saveJson(c, `erasure-${c.fileId}.json`) }, "Save certificate"),
      ),
    );
    certSection.hidden = false;
    certHeading.focus();
  }

  const el = viewFrame(
    title,
    "Erasure destroys every copy of a file's key (crypto-shredding) and anchors a proof that it happened.",
    h(
      "section",
      { class: "card", "aria-labelledby": "find-title" },
      h("h2", { id: "find-title" }, "Find a file"),
      findForm,
      findError,
      summary,
      results,
    ),
    certSection,
    trail.el,
    dialog,
  );
  void find().then(() => trail.load());
  return { el, focus: () => title.focus(), dispose() {} };
}
