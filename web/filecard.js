// @ts-check
/**
 * One file as a card, shared by every role's list: name, anchoring badge, metadata, recipients,
 * the role's buttons and an output area. Polling calls `update`, which redraws only the parts
 * whose data changed, so a keyboard user's focus inside a card survives a refresh.
 */

import { asApiError } from "./api.js";
import { fill, h, showError } from "./dom.js";
import { fileName, formatBytes, formatTime, kindOf, shortHash } from "./format.js";
import { safeName, saveJson } from "./save.js";

/** @typedef {import("./api.js").FileView} FileView */
/** @typedef {import("./api.js").Api} Api */

/** @param {FileView} file */
export function statusOf(file) {
  return file.state === "erased" ? "erased" : file.anchor.status;
}

const STATUS_HELP = {
  pending: "waiting for the next anchoring batch",
  anchored: "its commitment is in a batch on chain",
  final: "anchored, with enough confirmations",
  erased: "keys destroyed; it can never be read again",
};

/** @param {FileView} file */
export function statusBadge(file) {
  const status = statusOf(file);
  return h("span", { class: "badge", "data-status": status, title: STATUS_HELP[status] }, status);
}

/** @param {FileView} file */
function anchorDetails(file) {
  const a = file.anchor;
  if (file.state === "erased") return "—";
  if (a.status === "pending") return "Waiting for the next batch";
  return [
    a.batchId === undefined ? null : `Batch ${a.batchId}`,
    a.blockNumber === undefined ? null : ` · block ${a.blockNumber}`,
    a.txHash === undefined ? null : [" · tx ", h("code", { class: "hash", title: a.txHash }, shortHash(a.txHash))],
  ];
}

/**
 * @param {string} term
 * @param {import("./dom.js").Child} value
 * @param {boolean} [wide]
 */
function item(term, value, wide = false) {
  return h("div", { class: wide ? "meta-item meta-item-wide" : "meta-item" }, h("dt", null, term), h("dd", null, value));
}

/** @param {FileView} file */
function metaList(file) {
  return h(
    "dl",
    { class: "meta" },
    item("Kind", [kindOf(file.mediaType), h("span", { class: "muted" }, ` ${file.mediaType}`)]),
    item("Size", formatBytes(file.size)),
    item("SHA-256", file.sha256 === null ? "destroyed" : h("code", { class: "hash", title: file.sha256 }, shortHash(file.sha256))),
    item("Uploaded", h("time", { datetime: file.createdAt }, formatTime(file.createdAt))),
    file.expiresAt === null ? null : item("Access until", h("time", { datetime: file.expiresAt }, formatTime(file.expiresAt))),
    file.erasedAt === null ? null : item("Erased", h("time", { datetime: file.erasedAt }, formatTime(file.erasedAt))),
    item("Anchor", anchorDetails(file), true),
  );
}

/**
 * @param {FileView} file
 * @param {((recipient: string) => void) | undefined} onRevoke
 */
function grantList(file, onRevoke) {
  if (file.grants.length === 0) return h("p", { class: "muted" }, "No recipients.");
  return h(
    "ul",
    { class: "grants" },
    file.grants.map((g) => {
      const live = g.revokedAt === null && (g.expiresAt === null || new Date(g.expiresAt) > new Date());
      const when =
        g.revokedAt !== null
          ? ["revoked ", h("time", { datetime: g.revokedAt }, formatTime(g.revokedAt))]
          : g.expiresAt === null
            ? "no expiry"
            : [live ? "until " : "expired ", h("time", { datetime: g.expiresAt }, formatTime(g.expiresAt))];
      return h(
        "li",
        { class: live ? "grant" : "grant grant-ended" },
        h("span", { class: "grant-name" }, g.recipient),
        h("span", { class: "grant-when" }, when),
        onRevoke !== undefined && live && file.state === "active"
          ? h(
              "button",
              {
                type: "button",
                class: "button button-small button-quiet",
                "aria-label": `Revoke ${g.recipient}`,
                onclick: () => onRevoke(g.recipient),
              },
              "Revoke",
            )
          : null,
      );
    }),
  );
}

/**
 * @typedef {{ el: HTMLLIElement, file: FileView, output: HTMLElement, error: HTMLElement, update(file: FileView): void }} Card
 */

/**
 * @param {FileView} initial
 * @param {{ grants?: boolean, onRevoke?: (card: Card, recipient: string) => void, actions?: (card: Card) => import("./dom.js").Child,
 *   onUpdate?: (card: Card) => void }} options
 * @returns {Card}
 */
export function createFileCard(initial, options = {}) {
  const titleId = `file-${initial.id}-name`;
  const name = h("h3", { class: "file-name", id: titleId }, fileName(initial));
  const badgeSlot = h("span", { class: "badge-slot" });
  const metaSlot = h("div");
  const grantsSlot = h("div", { class: "grants-slot" });
  // Not a live region: results can be long (a receipt); focus moves to their heading instead.
  const output = h("div", { class: "output" });
  const error = h("p", { class: "error", role: "alert" });
  const actionsSlot = h("div", { class: "actions" });
  const el = h(
    "li",
    { class: "file", "data-file-id": initial.id },
    h(
      "article",
      { "aria-labelledby": titleId },
      h("div", { class: "file-head" }, name, badgeSlot),
      metaSlot,
      options.grants === true ? h("div", { class: "recipients" }, h("h4", null, "Recipients"), grantsSlot) : null,
      actionsSlot,
      error,
      output,
    ),
  );
  let seen = { head: "", meta: "", grants: "" };

  /** @type {Card} */
  const card = {
    el,
    file: initial,
    output,
    error,
    update(file) {
      card.file = file;
      const next = {
        head: JSON.stringify([file.name, statusOf(file)]),
        meta: JSON.stringify([file.mediaType, file.size, file.sha256, file.expiresAt, file.erasedAt, file.anchor]),
        grants: JSON.stringify([file.state, file.grants]),
      };
      if (next.head !== seen.head) {
        // Results shown for the file before its erasure (a receipt, a verification) no longer hold.
        if (seen.head !== "" && statusOf(file) === "erased" && el.dataset.status !== "erased") {
          fill(output);
          showError(error, null);
        }
        name.textContent = fileName(file);
        fill(badgeSlot, statusBadge(file));
        el.dataset.status = statusOf(file);
      }
      if (next.meta !== seen.meta) fill(metaSlot, metaList(file));
      if (options.grants === true && next.grants !== seen.grants) {
        const onRevoke = options.onRevoke;
        fill(grantsSlot, grantList(file, onRevoke === undefined ? undefined : (r) => onRevoke(card, r)));
      }
      seen = next;
      options.onUpdate?.(card);
    },
  };
  if (options.actions !== undefined) fill(actionsSlot, options.actions(card));
  card.update(initial);
  return card;
}

/**
 * The "Receipt" button: fetches the self-contained receipt and shows it with a save button.
 * @param {Api} api
 * @param {Card} card
 */
export function receiptButton(api, card) {
  const button = h("button", { type: "button", class: "button" }, "Receipt");
  button.addEventListener("click", async () => {
    showError(card.error, null);
    button.disabled = true;
    try {
      const receipt = /** @type {Record<string, unknown>} */ (await api.receipt(card.file.id));
      const headingId = `receipt-${card.file.id}`;
      const heading = h("h4", { id: headingId, tabindex: "-1" }, "Receipt");
      fill(
        card.output,
        h(
          "section",
          { class: "result", "aria-labelledby": headingId },
          heading,
          h(
            "p",
            { class: "muted" },
            "Self-contained: with the file and this JSON anyone can check the anchoring against the chain, without the vault (",
            h("code", null, "medvault verify FILE --receipt R"),
            ").",
          ),
          h("pre", { class: "json", tabindex: "0", "aria-label": "Receipt JSON" }, JSON.stringify(receipt, null, 2)),
          h(
            "button",
            { type: "button", class: "button", onclick: () => saveJson(receipt, `${safeName(fileName(card.file))}.receipt.json`) },
            "Save receipt",
          ),
        ),
      );
      heading.focus();
    } catch (e) {
      showError(card.error, asApiError(e));
    } finally {
      button.disabled = false;
    }
  });
  return button;
}
