/**
 * The web page in a real Chromium against a real vault (issue 5): a platform uploads a 5 MiB
 * recording (and two more files, one dropped) through the page and sees it anchored; a
 * specialist downloads it verified and its SHA-256 matches; the privacy officer erases it with
 * a reason and gets the certificate; the specialist's page then shows it erased. No console
 * errors on the way. Screenshots go to test-artifacts/web/ and, with MEDVAULT_UPDATE_SCREENSHOTS=1,
 * to docs/screenshots/ for the README.
 */

import { createHash, randomBytes } from "node:crypto";
import { copyFileSync, mkdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  addPrincipal,
  launchChromium,
  openTab,
  type Principal,
  signIn,
  startVault,
  type Tab,
  unexpectedProblems,
  unlabelledControls,
  type Vault,
} from "./harness.ts";

const ROOT = resolve(import.meta.dirname, "../..");
const ARTIFACTS = join(ROOT, "test-artifacts/web");
const DOCS = join(ROOT, "docs/screenshots");
const MiB = 1024 * 1024;
const ANCHOR_WAIT_MS = 30_000;

/** A 5 MiB "recording": an MP4 `ftyp` box (so the vault sniffs video/mp4), then random bytes. */
function recording(): Buffer {
  const data = randomBytes(5 * MiB);
  data.write("\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2", 0, "latin1");
  return data;
}

/** A small DICOM file: 128-byte preamble, then "DICM". */
function dicom(): Buffer {
  const data = randomBytes(96 * 1024);
  data.fill(0, 0, 128);
  data.write("DICM", 128, "latin1");
  return data;
}

const sha256 = (data: Uint8Array) => createHash("sha256").update(data).digest("hex");

async function shoot(page: Page, name: string, docsName?: string, fullPage = true): Promise<void> {
  const path = join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path, fullPage });
  // The README's screenshots are refreshed on request only, so a test run leaves the tree clean.
  if (docsName !== undefined && process.env.MEDVAULT_UPDATE_SCREENSHOTS === "1") copyFileSync(path, join(DOCS, `${docsName}.png`));
}

const card = (page: Page, fileId: string) => page.locator(`li.file[data-file-id="${fileId}"]`);

let vault: Vault;
let browser: Browser;
let clinic: Principal;
let doctor: Principal;
let dpo: Principal;
let platformTab: Tab;
let specialistTab: Tab;
const video = recording();
const videoName = "session-2024-05-14.mp4";
let videoId = "";

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  mkdirSync(DOCS, { recursive: true });
  vault = await startVault();
  clinic = await addPrincipal(vault, "uploader", "northside-telehealth");
  doctor = await addPrincipal(vault, "recipient", "dr-okafor");
  dpo = await addPrincipal(vault, "privacy", "privacy-office");
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await vault?.close();
});

describe("the web page", () => {
  it("explains a wrong token and has a sentence for every error code of the vault", async () => {
    const tab = await openTab(browser, vault.url);
    const { page } = tab;
    await page.getByLabel("Access token").fill("mvt_not-a-real-token-at-all");
    await page.getByRole("button", { name: "Sign in" }).click();
    await expect.poll(() => page.locator("#signin-error").textContent()).toContain("This token was not accepted");
    expect(await page.getByLabel("Access token").getAttribute("aria-invalid")).toBe("true");

    const codes = [...readFileSync(join(ROOT, "src/errors.ts"), "utf8").matchAll(/\|\s*"([A-Z_]+)"/g)].map((m) => m[1]);
    expect(codes.length).toBeGreaterThan(10);
    // A string, so that vitest leaves the browser's own dynamic import alone.
    const known = (await page.evaluate("import('/messages.js').then((m) => Object.keys(m.SENTENCES))")) as string[];
    const missing = codes.filter((c) => !known.includes(c as string));
    expect(missing).toEqual([]);
    expect(unexpectedProblems(tab.problems, [401])).toEqual([]);
    await tab.context.close();
  });

  it("lets the platform upload several files with progress bars, the 5 MiB recording among them", async () => {
    platformTab = await openTab(browser, vault.url);
    const { page } = platformTab;
    await signIn(page, clinic.token);
    expect(await page.locator(".who").textContent()).toContain("northside-telehealth");
    expect(await page.locator("#view-title").textContent()).toBe("Upload and share");

    await page.setInputFiles("#up-files", [
      { name: videoName, mimeType: "video/mp4", buffer: video },
      { name: "ct-chest-series-3.dcm", mimeType: "application/dicom", buffer: dicom() },
    ]);
    // The third one is dropped on the drop zone.
    await page.evaluate(() => {
      const dt = new DataTransfer();
      dt.items.add(new File(["%PDF-1.7\n% lab results\n"], "lab-panel-cbc.pdf", { type: "application/pdf" }));
      document.querySelector(".dropzone")?.dispatchEvent(new DragEvent("drop", { dataTransfer: dt, bubbles: true, cancelable: true }));
    });
    await expect.poll(() => page.locator(".queue-item").count()).toBe(3);

    // No recipient yet: the page says so and does not send anything.
    await page.getByRole("button", { name: "Upload", exact: true }).click();
    await expect.poll(() => page.locator("#upload-error").textContent()).toContain("name at least one recipient");

    await page.getByLabel("Recipients", { exact: true }).fill(doctor.name);
    // Sample the first bar (the recording) while it uploads.
    await page.evaluate(() => {
      const w = window as unknown as { seen: number[] };
      w.seen = [];
      const bar = document.querySelector(".queue-item progress") as HTMLProgressElement;
      const timer = setInterval(() => {
        w.seen.push(bar.value);
        if (bar.closest('[data-state="done"]') !== null) clearInterval(timer);
      }, 10);
    });
    await page.getByRole("button", { name: "Upload", exact: true }).click();
    await page.locator('.queue-item[data-state="done"]').nth(2).waitFor({ timeout: 30_000 });
    expect(await page.locator('.queue-item[data-state="failed"]').count()).toBe(0);
    const seen = await page.evaluate(() => (window as unknown as { seen: number[] }).seen);
    expect(seen.at(-1)).toBe(100);
    expect(await page.locator(".queue-item").first().locator(".queue-status").textContent()).toBe(
      `stored · sha256 ${sha256(video).slice(0, 12)}…`,
    );

    // The list shows the recording with its kind, size, short hash and recipient.
    const row = page.locator("li.file", { hasText: videoName });
    await row.waitFor();
    videoId = (await row.getAttribute("data-file-id")) ?? "";
    expect(videoId).toMatch(/^f_/);
    const text = (await row.textContent()) ?? "";
    expect(text).toContain("Video recording");
    expect(text).toContain("5.0 MiB");
    expect(text).toContain(sha256(video).slice(0, 12));
    expect(text).toContain(doctor.name);
    expect(await page.locator("li.file", { hasText: "ct-chest-series-3.dcm" }).textContent()).toContain("DICOM image");
    expect(await page.locator("li.file", { hasText: "lab-panel-cbc.pdf" }).textContent()).toContain("PDF document");
    expect(await unlabelledControls(page)).toEqual([]);
    await shoot(page, "platform-uploaded");
    expect(unexpectedProblems(platformTab.problems)).toEqual([]);
  });

  it(
    "shows the recording turn anchored (polling), with batch, block and transaction",
    async () => {
      const { page } = platformTab;
      const before = platformTab.problems.length;
      const badge = card(page, videoId).locator(".badge");
      await expect.poll(() => badge.textContent(), { timeout: ANCHOR_WAIT_MS, interval: 250 }).toMatch(/^(anchored|final)$/);
      const text = (await card(page, videoId).textContent()) ?? "";
      expect(text).toMatch(/Batch \d+ · block \d+ · tx 0x[0-9a-f]{12}…/);
      // Wait for all three, for the picture.
      await expect.poll(() => page.locator('li.file[data-status="pending"]').count(), { timeout: ANCHOR_WAIT_MS, interval: 250 }).toBe(0);
      await shoot(page, "platform", "platform");
      expect(unexpectedProblems(platformTab.problems.slice(before))).toEqual([]);
    },
    ANCHOR_WAIT_MS + 15_000,
  );

  it("polls while a file is pending and shows it turn anchored, with batch, block and transaction (API stubbed)", async () => {
    // The page alone, against canned answers: the same transition as above without waiting for a chain.
    const tab = await openTab(browser, vault.url);
    const { page } = tab;
    let listings = 0;
    const file = {
      id: "f_stubbedfile0000000000000000",
      name: "stub-echo.mp4",
      size: 1234,
      sha256: "ab".repeat(32),
      cid: "bafkreistub",
      mediaType: "video/mp4",
      state: "active",
      createdAt: new Date().toISOString(),
      expiresAt: null,
      erasedAt: null,
      grants: [],
    };
    const anchored = { status: "anchored", batchId: 7, blockNumber: 42, txHash: `0x${"cd".repeat(32)}` };
    await page.route("**/v1/me", (route) => route.fulfill({ json: { id: "p_stub", name: "stub-clinic", role: "uploader" } }));
    await page.route("**/v1/files?limit=1000", (route) => {
      listings++;
      return route.fulfill({ json: { files: [{ ...file, anchor: listings < 2 ? { status: "pending" } : anchored }] } });
    });
    await signIn(page, "mvt_stubbed-token-never-sent-to-the-vault");
    const badge = card(page, file.id).locator(".badge");
    expect(await badge.textContent()).toBe("pending");
    await expect.poll(() => badge.textContent(), { timeout: 5_000 }).toBe("anchored");
    expect(await card(page, file.id).textContent()).toContain(`Batch 7 · block 42 · tx 0x${"cd".repeat(6)}…`);
    await expect.poll(() => page.locator("#announcer").textContent()).toBe("stub-echo.mp4 is anchored in batch 7.");
    expect(listings).toBe(2);
    expect(unexpectedProblems(tab.problems)).toEqual([]);
    await tab.context.close();
  });

  it("lets the specialist download the recording verified: the saved bytes and the page's SHA-256 match", async () => {
    specialistTab = await openTab(browser, vault.url);
    const { page } = specialistTab;
    await signIn(page, doctor.token);
    expect(await page.locator("#view-title").textContent()).toBe("Files shared with you");
    await card(page, videoId).waitFor();
    expect(await page.locator("li.file").count()).toBe(3);

    const [download] = await Promise.all([
      page.waitForEvent("download"),
      card(page, videoId).getByRole("button", { name: "Download verified" }).click(),
    ]);
    expect(download.suggestedFilename()).toBe(videoName);
    const saved = readFileSync(await download.path());
    expect(saved.length).toBe(video.length);
    expect(sha256(saved)).toBe(sha256(video));

    const result = card(page, videoId).locator(".result");
    await expect.poll(() => result.getAttribute("data-verified")).toBe("true");
    expect(await result.locator("[data-sha256]").getAttribute("data-sha256")).toBe(sha256(video));
    expect(await result.locator('.check[data-ok="false"]').count()).toBe(0);
    const checks = (await result.locator(".checks").textContent()) ?? "";
    for (const what of ["Blocks", "64 KiB encrypted chunk", "SHA-256 of the plaintext", "on the anchoring chain", "Repr-Digest"])
      expect(checks).toContain(what);
    // Focus went to the result, for screen readers and keyboards.
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe("Verified download");
    await shoot(page, "specialist", "specialist");
    expect(await unlabelledControls(page)).toEqual([]);
    expect(unexpectedProblems(specialistTab.problems)).toEqual([]);
  });

  it("hands the specialist the age file", async () => {
    const { page } = specialistTab;
    const before = specialistTab.problems.length;
    const [age] = await Promise.all([
      page.waitForEvent("download"),
      card(page, videoId).getByRole("button", { name: "Download the age file" }).click(),
    ]);
    expect(age.suggestedFilename()).toBe(`${videoName}.age`);
    const bytes = readFileSync(await age.path());
    expect(bytes.subarray(0, 21).toString()).toBe("age-encryption.org/v1");
    expect(bytes.length).toBeGreaterThan(video.length);
    expect(unexpectedProblems(specialistTab.problems.slice(before))).toEqual([]);
  });

  it("shows the specialist the receipt of the anchored recording", async () => {
    const { page } = specialistTab;
    const before = specialistTab.problems.length;
    await card(page, videoId).getByRole("button", { name: "Receipt", exact: true }).click();
    const json = card(page, videoId).locator("pre.json");
    await json.waitFor({ timeout: 5_000 });
    const receipt = JSON.parse((await json.textContent()) ?? "{}") as Record<string, unknown>;
    expect(receipt.type).toBe("medvault.receipt/v1");
    expect(receipt.fileId).toBe(videoId);
    expect(receipt.plaintextSha256).toBe(sha256(video));
    expect(unexpectedProblems(specialistTab.problems.slice(before))).toEqual([]);
  });

  it("lets the privacy officer find the recording, erase it after a confirmation, and keep the certificate", async () => {
    const tab = await openTab(browser, vault.url);
    const { page } = tab;
    await signIn(page, dpo.token);
    expect(await page.locator("#view-title").textContent()).toBe("Erasure and audit");
    await page.getByLabel("File id or name").fill("session-2024");
    await page.getByRole("button", { name: "Find", exact: true }).click();
    await expect.poll(() => page.locator("li.file").count()).toBe(1);
    await card(page, videoId).getByRole("button", { name: "Erase…" }).click();

    const dialog = page.getByRole("dialog", { name: "Erase this file?" });
    await dialog.waitFor();
    expect(await page.evaluate(() => document.activeElement?.id)).toBe("erase-reason");
    // Neither a missing reason nor a missing confirmation gets through.
    await dialog.getByRole("button", { name: "Erase permanently" }).click();
    await expect.poll(() => dialog.locator(".error").textContent()).toContain("give the reason");
    await dialog.getByLabel("Reason").fill("GDPR Art. 17 request #4711");
    await dialog.getByRole("button", { name: "Erase permanently" }).click();
    await expect.poll(() => dialog.locator(".error").textContent()).toContain("tick the box");
    expect(await card(page, videoId).locator(".badge").textContent()).not.toBe("erased");
    await dialog.getByLabel("I understand that this file can never be recovered").check();
    await dialog.getByRole("button", { name: "Erase permanently" }).click();

    const certificate = page.locator("section.card-certificate");
    await certificate.waitFor();
    expect(await page.evaluate(() => document.activeElement?.id)).toBe("cert-title");
    const cert = JSON.parse((await certificate.locator("pre.json").textContent()) ?? "{}") as Record<string, unknown>;
    expect(cert.type).toBe("medvault.erasure/v1");
    expect(cert.fileId).toBe(videoId);
    expect(cert.reason).toBe("GDPR Art. 17 request #4711");
    await expect.poll(() => card(page, videoId).locator(".badge").textContent()).toBe("erased");

    // The audit trail, filtered to this file, has the erasure.
    await card(page, videoId).getByRole("button", { name: "Audit events" }).click();
    await expect.poll(() => page.locator("table.audit caption").textContent()).toContain(`for file ${videoId}`);
    expect(await page.locator('table.audit tr[data-action="file.erase"]').count()).toBe(1);
    expect(await page.locator('table.audit tbody tr:not([data-action="file.erase"])').count()).toBeGreaterThan(0);
    // And by action across files.
    await page.getByLabel("File id", { exact: true }).fill("");
    await page.getByLabel("Action", { exact: true }).fill("file.upload");
    await page.getByRole("button", { name: "Show events" }).click();
    await expect.poll(() => page.locator('table.audit tbody tr[data-action="file.upload"]').count()).toBe(3);
    await page.getByLabel("Action", { exact: true }).fill("");
    await page.getByLabel("Principal id").fill(dpo.id);
    await page.getByRole("button", { name: "Show events" }).click();
    await expect.poll(() => page.locator('table.audit tbody tr[data-action="file.erase"]').count()).toBe(1);
    await page.getByRole("button", { name: "Clear filters" }).click();
    await expect.poll(() => page.locator("table.audit tbody tr").count()).toBeGreaterThan(5);
    expect(await unlabelledControls(page)).toEqual([]);

    await page.locator("#view-title").focus();
    await shoot(page, "privacy", "privacy");
    expect(unexpectedProblems(tab.problems)).toEqual([]);
    await tab.context.close();
  });

  it("shows the specialist the recording as erased on the page left open, and the vault answers 410", async () => {
    const { page } = specialistTab;
    const before = specialistTab.problems.length;
    await page.getByRole("button", { name: "Refresh", exact: true }).click();
    await expect.poll(() => card(page, videoId).locator(".badge").textContent()).toBe("erased");
    expect(await card(page, videoId).locator(".gone-note").textContent()).toContain("This file was erased");
    expect(await card(page, videoId).getByRole("button", { name: "Download verified" }).isDisabled()).toBe(true);
    // What the button would have met: content and age file are gone.
    const statuses = await page.evaluate(async (id) => {
      const headers = { authorization: `Bearer ${sessionStorage.getItem("medvault.token")}` };
      const content = await fetch(`/v1/files/${id}/content`, { headers });
      const age = await fetch(`/v1/files/${id}/age`, { headers });
      return [content.status, ((await content.json()) as { error: { code: string } }).error.code, age.status];
    }, videoId);
    expect(statuses).toEqual([410, "GONE", 410]);
    // The other two files are untouched.
    expect(await page.locator('li.file:not([data-status="erased"])').count()).toBe(2);
    await shoot(page, "specialist-erased");
    expect(unexpectedProblems(specialistTab.problems.slice(before), [410])).toEqual([]);
  });

  it("lets the operator create a principal and shows its token once", async () => {
    const tab = await openTab(browser, vault.url);
    const { page } = tab;
    await signIn(page, vault.adminToken);
    expect(await page.locator("#view-title").textContent()).toBe("Principals and audit");
    await page.getByLabel("Name", { exact: true }).fill("eastside-clinic");
    await page.getByLabel("Role", { exact: true }).selectOption("uploader");
    await page.getByRole("button", { name: "Create principal" }).click();
    const token = page.locator("code.token");
    await token.waitFor();
    expect(await token.textContent()).toMatch(/^mvt_/);
    expect(await page.evaluate(() => document.activeElement?.classList.contains("token"))).toBe(true);
    expect(await unlabelledControls(page)).toEqual([]);
    await shoot(page, "admin");
    expect(unexpectedProblems(tab.problems)).toEqual([]);
    await tab.context.close();
  });

  it("works on a narrow screen: nothing wider than the viewport", async () => {
    const tab = await openTab(browser, vault.url, { width: 375, height: 740 });
    const { page } = tab;
    await signIn(page, clinic.token);
    await page.locator("li.file").first().waitFor();
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    await shoot(page, "platform-narrow");
    await page.getByRole("button", { name: "Sign out" }).click();
    await signIn(page, dpo.token);
    await page.locator("table.audit tbody tr").first().waitFor();
    expect(await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth)).toBeLessThanOrEqual(0);
    await shoot(page, "privacy-narrow", undefined, false);
    expect(unexpectedProblems(tab.problems)).toEqual([]);
    await tab.context.close();
  });

  it("keeps the token for the tab only, and signs out cleanly", async () => {
    const { page, context } = platformTab;
    const before = platformTab.problems.length;
    expect(await page.evaluate(() => sessionStorage.getItem("medvault.token"))).toBe(clinic.token);
    expect(await page.evaluate(() => localStorage.length)).toBe(0);
    expect((await context.cookies()).length).toBe(0);
    await page.reload();
    await page.locator("#view-title").waitFor();
    await page.getByRole("button", { name: "Sign out" }).click();
    expect(await page.evaluate(() => sessionStorage.getItem("medvault.token"))).toBeNull();
    expect(await page.evaluate(() => document.activeElement?.id)).toBe("token");
    // A new tab (a new session) starts signed out.
    const other = await context.newPage();
    await other.goto(vault.url);
    await other.getByLabel("Access token").waitFor();
    expect(await other.locator("#view").textContent()).toBe("");
    expect(unexpectedProblems(platformTab.problems.slice(before))).toEqual([]);
    await platformTab.context.close();
    await specialistTab.context.close();
  });
});
