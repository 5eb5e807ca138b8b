/**
 * The real parts for the web page tests: `startServer` in-process on 127.0.0.1 (free port, temp
 * data dir, known admin token, the page from web/), Debian's Chromium driven by playwright-core,
 * and a page wrapper that collects console errors and page errors.
 */

import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";
import { generateKey } from "../../src/crypto/index.ts";
import { loadConfig, startServer } from "../../src/server.ts";

export const CHROMIUM = "/usr/bin/chromium";

export type Role = "uploader" | "recipient" | "privacy" | "admin";
export type Principal = { id: string; name: string; role: Role; token: string };
export type Vault = { url: string; adminToken: string; close(): Promise<void> };

/** A vault with fast anchoring batches; `close` stops it and removes its data dir. */
export async function startVault(): Promise<Vault> {
  const dataDir = mkdtempSync(join(tmpdir(), "medvault-web-"));
  const adminToken = `mvt_${randomBytes(32).toString("base64url")}`;
  // Short batches, so "anchored" shows within seconds. The anchoring reads its settings from the
  // environment (this test file runs in its own worker) or from the config, so both get them.
  const fast = { MEDVAULT_BATCH_MAX_MS: "500", MEDVAULT_CONFIRMATIONS: "1" };
  for (const [k, v] of Object.entries(fast)) process.env[k] ??= v;
  const base = loadConfig({ ...process.env, ...fast });
  const running = await startServer({
    ...base,
    dataDir,
    host: "127.0.0.1",
    port: 0,
    adminToken,
    webDir: resolve(import.meta.dirname, "../../web"),
    logLevel: "silent",
  });
  return {
    url: running.url,
    adminToken,
    async close() {
      await running.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** A principal made through the API; recipients get a fresh X25519 age key. */
export async function addPrincipal(vault: Vault, role: Role, name: string): Promise<Principal> {
  const key = role === "recipient" ? await generateKey() : undefined;
  const res = await fetch(`${vault.url}/v1/principals`, {
    method: "POST",
    headers: { authorization: `Bearer ${vault.adminToken}`, "content-type": "application/json" },
    body: JSON.stringify({ name, role, ...(key === undefined ? {} : { ageRecipient: key.recipient }) }),
  });
  if (res.status !== 201) throw new Error(`creating ${role}: HTTP ${res.status}`);
  return (await res.json()) as Principal;
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
      "--disable-quic",
    ],
  });
}

export type Tab = {
  context: BrowserContext;
  page: Page;
  /** Console errors and uncaught page errors, in order. */
  problems: string[];
};

/** A fresh browser context (own sessionStorage, downloads accepted) with one page. */
export async function openTab(browser: Browser, url: string, viewport = { width: 1280, height: 900 }): Promise<Tab> {
  const context = await browser.newContext({ acceptDownloads: true, viewport, locale: "en-GB", timezoneId: "Europe/Berlin" });
  const page = await context.newPage();
  const problems: string[] = [];
  page.on("console", (m) => {
    if (m.type() === "error") problems.push(m.text());
  });
  page.on("pageerror", (e) => problems.push(`pageerror: ${e.message}`));
  await page.goto(url);
  return { context, page, problems };
}

/**
 * The problems left once the network lines for statuses a test provoked on purpose are set
 * aside (Chromium logs every 4xx/5xx fetch as a console error; a 410 after an erasure is the
 * point of the test, not a fault of the page).
 */
export function unexpectedProblems(problems: string[], provokedStatuses: number[] = []): string[] {
  return problems.filter((p) => {
    const m = /^Failed to load resource: the server responded with a status of (\d{3})/.exec(p);
    return m === null || !provokedStatuses.includes(Number(m[1]));
  });
}

export async function signIn(page: Page, token: string): Promise<void> {
  await page.getByLabel("Access token").fill(token);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.locator("#view-title").waitFor();
}

/** Every form control has an accessible name (a label, aria-label or aria-labelledby). */
export function unlabelledControls(page: Page): Promise<string[]> {
  return page.evaluate(() =>
    Array.from(document.querySelectorAll("input, select, textarea, button, progress"))
      .filter((el) => {
        const e = el as HTMLInputElement;
        if (e.type === "hidden" || e.closest("[hidden]") !== null) return false;
        const named =
          (e.labels !== null && e.labels.length > 0) ||
          e.getAttribute("aria-label") ||
          e.getAttribute("aria-labelledby") ||
          (e.tagName === "BUTTON" && (e.textContent ?? "").trim() !== "");
        return !named;
      })
      .map((e) => e.outerHTML.slice(0, 120)),
  );
}
