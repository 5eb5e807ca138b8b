// @ts-check
/**
 * The medvault web page: sign in with a token (kept in sessionStorage, so for this tab only),
 * ask the vault who that is (`GET /v1/me`), and show the view for the role. Plain ES modules,
 * no build step; the server's CSP allows only scripts and styles from this folder.
 */

import { adminView } from "./admin.js";
import { ApiError, asApiError, createApi } from "./api.js";
import { fill, h, showError } from "./dom.js";
import { platformView } from "./platform.js";
import { privacyView } from "./privacy.js";
import { specialistView } from "./specialist.js";

const TOKEN_KEY = "medvault.token";
const ROLE_LABELS = { uploader: "Platform", recipient: "Specialist", privacy: "Privacy officer", admin: "Operator" };
const TITLES = { uploader: "Upload and share", recipient: "Shared files", privacy: "Erasure and audit", admin: "Principals" };

/** @typedef {{ el: HTMLElement, focus: () => void, dispose: () => void }} View */

const $ = (/** @type {string} */ id) => /** @type {HTMLElement} */ (document.getElementById(id));
const signin = $("signin");
const signinForm = /** @type {HTMLFormElement} */ ($("signin-form"));
const tokenInput = /** @type {HTMLInputElement} */ ($("token"));
const signinError = $("signin-error");
const session = $("session");
const who = $("who");
const viewRoot = $("view");

/** @type {View | undefined} */
let current;

/** @param {{ code: string, detail?: string } | null} [error] shown on the sign-in form */
function signOut(error = null) {
  sessionStorage.removeItem(TOKEN_KEY);
  current?.dispose();
  current = undefined;
  fill(viewRoot);
  session.hidden = true;
  signin.hidden = false;
  document.title = "Sign in · medvault";
  tokenInput.value = "";
  showError(signinError, error);
  tokenInput.toggleAttribute("aria-invalid", error !== null);
  tokenInput.focus();
}

/**
 * @param {string} token
 * @param {boolean} moveFocus
 */
async function start(token, moveFocus) {
  const api = createApi(token, {
    onUnauthorized: (e) => signOut({ code: e.code, detail: "the token is no longer valid; sign in again" }),
  });
  const me = await api.me();
  sessionStorage.setItem(TOKEN_KEY, token);
  current?.dispose();
  /** @type {View} */
  const view =
    me.role === "uploader"
      ? platformView(api)
      : me.role === "recipient"
        ? specialistView(api)
        : me.role === "privacy"
          ? privacyView(api, me)
          : adminView(api, me);
  current = view;
  signin.hidden = true;
  fill(who, h("span", { class: "who-name" }, me.name), h("span", { class: "role", "data-role": me.role }, ROLE_LABELS[me.role] ?? me.role));
  session.hidden = false;
  document.body.dataset.role = me.role;
  document.title = `${TITLES[me.role] ?? "medvault"} · medvault`;
  fill(viewRoot, view.el);
  if (moveFocus) view.focus();
}

signinForm.addEventListener("submit", async (e) => {
  e.preventDefault();
  const token = tokenInput.value.trim();
  showError(signinError, null);
  if (token === "") {
    showError(signinError, { code: "UNAUTHORIZED", detail: "enter your access token" });
    tokenInput.setAttribute("aria-invalid", "true");
    tokenInput.focus();
    return;
  }
  const button = signinForm.querySelector("button");
  if (button) button.disabled = true;
  try {
    await start(token, true);
    tokenInput.value = "";
    tokenInput.removeAttribute("aria-invalid");
  } catch (error) {
    const err = asApiError(error);
    showError(signinError, err);
    tokenInput.setAttribute("aria-invalid", "true");
    tokenInput.focus();
  } finally {
    if (button) button.disabled = false;
  }
});

$("signout").addEventListener("click", () => signOut());

// A token kept by this tab signs straight back in after a reload.
const kept = sessionStorage.getItem(TOKEN_KEY);
if (kept === null) signOut();
else
  start(kept, false).catch((error) => {
    const err = asApiError(error);
    signOut(err instanceof ApiError && err.code !== "UNAUTHORIZED" ? err : { code: "UNAUTHORIZED", detail: "sign in again" });
  });
