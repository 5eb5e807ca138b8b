// @ts-check
/**
 * The operator's view (role `admin`): create principals (the token is shown once, here only)
 * and read the audit trail. Running the service stays on the command line.
 */

import { asApiError } from "./api.js";
import { createAuditTrail } from "./audit.js";
import { announce, fill, h, heading, showError, viewFrame } from "./dom.js";

/** @typedef {import("./api.js").Api} Api */
/** @typedef {import("./api.js").Me} Me */

const ROLES = [
  ["uploader", "Platform (uploader)"],
  ["recipient", "Specialist (recipient)"],
  ["privacy", "Privacy officer"],
  ["admin", "Operator (admin)"],
];

/**
 * @param {Api} api
 * @param {Me} me
 */
export function adminView(api, me) {
  const title = heading("h1", "view-title", "Principals and audit");
  const names = new Map([[me.id, `${me.name} (you)`]]);
  const trail = createAuditTrail(api, { names });

  const name = h("input", { id: "p-name", type: "text", autocomplete: "off", spellcheck: "false", required: true, maxlength: "100" });
  const role = h(
    "select",
    { id: "p-role" },
    ROLES.map(([value, label]) => h("option", { value }, label)),
  );
  const key = h("input", { id: "p-key", type: "text", autocomplete: "off", spellcheck: "false", "aria-describedby": "p-key-hint" });
  const keyField = h(
    "div",
    { class: "field field-grow", hidden: true },
    h("label", { for: "p-key" }, "age recipient"),
    key,
    h(
      "p",
      { id: "p-key-hint", class: "hint" },
      "The specialist's public key (age1… or age1pq1…), from ",
      h("code", null, "medvault keygen"),
      ".",
    ),
  );
  role.addEventListener("change", () => {
    keyField.hidden = role.value !== "recipient";
  });
  const error = h("p", { class: "error", role: "alert" });
  // Focus moves to the new token; a live region would read it aloud.
  const created = h("div");
  const form = h(
    "form",
    { class: "principal-form", novalidate: true },
    h(
      "div",
      { class: "fields" },
      h("div", { class: "field" }, h("label", { for: "p-name" }, "Name"), name),
      h("div", { class: "field" }, h("label", { for: "p-role" }, "Role"), role),
      keyField,
    ),
    error,
    h("div", { class: "form-actions" }, h("button", { type: "submit", class: "button button-primary" }, "Create principal")),
    created,
  );

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    showError(error, null);
    if (name.value.trim() === "") {
      showError(error, { code: "BAD_REQUEST", detail: "give a name" });
      name.focus();
      return;
    }
    try {
      const p = await api.createPrincipal({
        name: name.value.trim(),
        role: role.value,
        ...(role.value === "recipient" && key.value.trim() !== "" ? { ageRecipient: key.value.trim() } : {}),
      });
      names.set(p.id, p.name);
      const token = h("code", { class: "token", tabindex: "0", "aria-label": `Token for ${p.name}` }, p.token);
      const copy = h("button", { type: "button", class: "button button-small" }, "Copy token");
      copy.addEventListener("click", async () => {
        try {
          await navigator.clipboard.writeText(p.token);
          announce("Token copied.");
        } catch {
          getSelection()?.selectAllChildren(token);
          announce("Token selected: copy it with your keyboard.");
        }
      });
      fill(
        created,
        h(
          "div",
          { class: "result result-ok" },
          h("p", null, h("strong", null, `${p.name} created`), ` as ${p.role}, id `, h("code", null, p.id), "."),
          h("p", { class: "warning" }, "This token is shown once. Hand it over securely; the vault keeps only its hash."),
          h("p", { class: "token-line" }, token, copy),
        ),
      );
      name.value = "";
      key.value = "";
      token.focus();
    } catch (err) {
      showError(error, asApiError(err));
    }
  });

  const el = viewFrame(
    title,
    "Create the tokens for platforms, specialists and privacy officers.",
    h("section", { class: "card", "aria-labelledby": "principal-title" }, h("h2", { id: "principal-title" }, "New principal"), form),
    trail.el,
  );
  void trail.load();
  return { el, focus: () => title.focus(), dispose() {} };
}
