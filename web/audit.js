// @ts-check
/**
 * The audit trail (privacy officer and operator): filters by file, principal and action, newest
 * events first. The API pages oldest first (`after` = last seq), so the trail walks the pages
 * and keeps the newest `keep` events.
 */

import { asApiError } from "./api.js";
import { fill, h, showError } from "./dom.js";
import { formatTime } from "./format.js";

/** @typedef {import("./api.js").Api} Api */
/** @typedef {import("./api.js").AuditEvent} AuditEvent */

const ACTIONS = [
  "file.upload",
  "file.list",
  "file.get",
  "file.read",
  "file.age",
  "file.grant",
  "file.revoke",
  "file.erase",
  "file.integrity",
  "principal.create",
  "principal.disable",
];
const PAGE = 1000;
const MAX_PAGES = 100;
const ROWS_PER_STEP = 25;

/** @param {Record<string, unknown>} detail */
function detailText(detail) {
  return Object.entries(detail ?? {})
    .map(([k, v]) => `${k}: ${typeof v === "string" ? v : JSON.stringify(v)}`)
    .join("\n");
}

/**
 * @param {Api} api
 * @param {{ names: Map<string, string>, keep?: number }} options names: principal id → display name, where known
 */
export function createAuditTrail(api, options) {
  const keep = options.keep ?? 500;
  const file = h("input", { id: "audit-file", name: "file", type: "text", autocomplete: "off", spellcheck: "false", placeholder: "f_…" });
  const actor = h("input", {
    id: "audit-actor",
    name: "actor",
    type: "text",
    autocomplete: "off",
    spellcheck: "false",
    placeholder: "p_…",
  });
  const action = h("input", {
    id: "audit-action",
    name: "action",
    type: "text",
    list: "audit-actions",
    autocomplete: "off",
    spellcheck: "false",
  });
  const actions = h(
    "datalist",
    { id: "audit-actions" },
    ACTIONS.map((a) => h("option", { value: a })),
  );
  // Every listing is audited, so an open page that polls writes one every few seconds: noise here.
  const hideLists = h("input", { id: "audit-hide-lists", type: "checkbox", checked: true });
  const error = h("p", { class: "error", role: "alert" });
  const caption = h("caption", null, "Audit events");
  const body = h("tbody");
  const table = h(
    "table",
    { class: "audit" },
    caption,
    h(
      "thead",
      null,
      h(
        "tr",
        null,
        ["#", "Time", "Principal", "Action", "File", "Outcome", "Detail", "Anchor"].map((t) => h("th", { scope: "col" }, t)),
      ),
    ),
    body,
  );
  const apply = h("button", { type: "submit", class: "button button-primary" }, "Show events");
  const clear = h("button", { type: "button", class: "button button-quiet" }, "Clear filters");
  const form = h(
    "form",
    { class: "filters", novalidate: true, "aria-label": "Audit filters" },
    h("div", { class: "field" }, h("label", { for: "audit-file" }, "File id"), file),
    h("div", { class: "field" }, h("label", { for: "audit-actor" }, "Principal id"), actor),
    h("div", { class: "field" }, h("label", { for: "audit-action" }, "Action"), action, actions),
    h("div", { class: "check-field check-field-inline" }, hideLists, h("label", { for: "audit-hide-lists" }, "Hide file listings")),
    h("div", { class: "form-actions" }, apply, clear),
  );
  const more = h("button", { type: "button", class: "button", hidden: true }, "Show more events");
  /** @type {AuditEvent[]} */
  let kept = [];
  let shown = 0;

  function showMore() {
    const next = kept.slice(shown, shown + ROWS_PER_STEP);
    if (shown === 0)
      fill(body, next.length === 0 ? h("tr", null, h("td", { colspan: "8", class: "empty" }, "No events match.")) : next.map(row));
    else body.append(...next.map(row));
    shown += next.length;
    more.hidden = shown >= kept.length;
  }
  more.addEventListener("click", () => {
    const first = shown;
    showMore();
    // Keyboard users continue where the new rows start.
    body.rows[first]?.querySelector("td")?.setAttribute("tabindex", "-1");
    /** @type {HTMLElement | null | undefined} */ (body.rows[first]?.querySelector("td"))?.focus();
  });

  /**
   * An id as a button that narrows the trail to it: the quickest way from one event to the rest.
   * @param {HTMLInputElement} input
   * @param {string} id
   * @param {string} kind
   * @param {string} [name]
   */
  function idFilter(input, id, kind, name) {
    const label = name ?? `${id.slice(0, 12)}…`;
    return h(
      "button",
      {
        type: "button",
        class: name === undefined ? "id-filter" : "id-filter id-name",
        title: id,
        "aria-label": `Show only the events of ${kind} ${name ?? id}`,
        onclick: () => {
          input.value = id;
          void load();
        },
      },
      label,
    );
  }

  /** @param {AuditEvent} e */
  function row(e) {
    const cell = (/** @type {string} */ label, /** @type {import("./dom.js").Child} */ value) => h("td", { "data-label": label }, value);
    return h(
      "tr",
      { "data-action": e.action, "data-outcome": e.outcome },
      cell("#", String(e.seq)),
      cell("Time", h("time", { datetime: e.at }, formatTime(e.at))),
      cell(
        "Principal",
        e.actorId === null
          ? h("span", { class: "muted" }, "system")
          : idFilter(actor, e.actorId, "principal", options.names.get(e.actorId)),
      ),
      cell("Action", h("code", null, e.action)),
      cell("File", e.fileId === null ? h("span", { class: "muted" }, "—") : idFilter(file, e.fileId, "file")),
      cell("Outcome", h("span", { class: "outcome", "data-outcome": e.outcome }, e.outcome)),
      cell("Detail", detailText(e.detail)),
      cell("Anchor", h("span", { class: "badge badge-small", "data-status": e.anchor.status }, e.anchor.status)),
    );
  }

  let loads = 0;

  async function load() {
    // Only the newest load may draw: an older one finishing late would show other filters' events.
    const ticket = ++loads;
    showError(error, null);
    apply.disabled = true;
    const filters = { file: file.value.trim(), actor: actor.value.trim(), action: action.value.trim() };
    const skipLists = hideLists.checked && filters.action === "";
    try {
      /** @type {AuditEvent[]} */
      let found = [];
      let total = 0;
      /** @type {number | undefined} */
      let after;
      for (let page = 0; page < MAX_PAGES; page++) {
        const events = await api.audit({ ...filters, limit: PAGE, ...(after === undefined ? {} : { after }) });
        if (ticket !== loads) return;
        const wanted = skipLists ? events.filter((e) => e.action !== "file.list") : events;
        total += wanted.length;
        found = found.concat(wanted).slice(-keep);
        const last = events.at(-1);
        if (events.length < PAGE || last === undefined) break;
        after = last.seq;
      }
      kept = found.reverse();
      shown = 0;
      showMore();
      const scope = [
        filters.file && `file ${filters.file}`,
        filters.actor && `principal ${filters.actor}`,
        filters.action && `action ${filters.action}`,
      ]
        .filter(Boolean)
        .join(", ");
      const count = `${total} ${total === 1 ? "event" : "events"}`;
      caption.textContent = `${count}${scope ? ` for ${scope}` : ""}, newest first${total > kept.length ? ` (the newest ${kept.length} can be shown)` : ""}${skipLists ? "; file listings hidden" : ""}`;
    } catch (e) {
      if (ticket === loads) showError(error, asApiError(e));
    } finally {
      if (ticket === loads) apply.disabled = false;
    }
  }

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    void load();
  });
  clear.addEventListener("click", () => {
    file.value = "";
    actor.value = "";
    action.value = "";
    hideLists.checked = true;
    void load();
  });

  const el = h(
    "section",
    { class: "card", "aria-labelledby": "audit-title" },
    h("h2", { id: "audit-title", tabindex: "-1" }, "Audit trail"),
    h("p", { class: "muted" }, "Every event is hash-chained to the one before it and anchored in the next batch."),
    form,
    error,
    h("div", { class: "table-wrap", role: "region", "aria-labelledby": "audit-title", tabindex: "0" }, table),
    h("div", { class: "form-actions" }, more),
  );

  return {
    el,
    load,
    /** Shows the events of one file and moves focus to the trail. */
    async showFile(/** @type {string} */ id) {
      file.value = id;
      actor.value = "";
      action.value = "";
      await load();
      el.querySelector("h2")?.focus();
    },
  };
}
