// @ts-check
/**
 * Building the page without innerHTML: every name, hash and message from the vault goes in as
 * text, so nothing it returns can become markup. Plus the page's one polite live region and the
 * error box every view uses.
 */

import { sentenceFor } from "./messages.js";

/** @typedef {Node | string | number | null | undefined | false | ChildList} Child */
/** @typedef {Array<Child>} ChildList */

/**
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Record<string, unknown> | null} [attrs] `on*` functions become listeners; true/false toggle boolean attributes
 * @param {...Child} children
 * @returns {HTMLElementTagNameMap[K]}
 */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), /** @type {EventListener} */ (value));
    else if (key === "class") el.className = String(value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

/**
 * @param {Element} el
 * @param {Child[]} children
 */
export function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(typeof child === "number" ? String(child) : child);
  }
}

/**
 * Replaces an element's children.
 * @param {Element} el
 * @param {...Child} children
 */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
}

/**
 * Said by screen readers without moving focus. Cleared first, so the same sentence twice is read twice.
 * @param {string} text
 */
export function announce(text) {
  const region = document.getElementById("announcer");
  if (region === null) return;
  region.textContent = "";
  setTimeout(() => {
    region.textContent = text;
  }, 50);
}

/**
 * An error for the user: the sentence for its code, then the vault's detail if it adds something.
 * @param {Element} box an element with role="alert"
 * @param {{ code: string, detail?: string } | null} error null clears the box
 */
export function showError(box, error) {
  if (error === null) {
    fill(box);
    box.classList.remove("is-shown");
    return;
  }
  fill(
    box,
    h("strong", null, sentenceFor(error.code)),
    error.detail
      ? h("span", { class: "error-detail" }, ` (${error.code}: ${error.detail})`)
      : h("span", { class: "error-detail" }, ` (${error.code})`),
  );
  box.classList.add("is-shown");
}

/**
 * A heading that can take focus, for moving focus to a newly shown part of the page.
 * @param {"h1" | "h2" | "h3"} level
 * @param {string} id
 * @param {string} text
 */
export function heading(level, id, text) {
  return h(level, { id, tabindex: "-1" }, text);
}

/**
 * A role view's frame: its focusable title, a one-line lede under it, then its sections.
 * @param {HTMLElement} title
 * @param {string} lede
 * @param {...(Node | null | undefined)} sections
 */
export function viewFrame(title, lede, ...sections) {
  return h("div", { class: "view" }, h("div", { class: "view-head" }, title, h("p", { class: "lede" }, lede)), ...sections);
}
