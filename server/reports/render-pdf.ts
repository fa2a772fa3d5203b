/**
 * The report as PDF: the HTML report (render-html.ts) printed by Chromium (Debian's `chromium`
 * package, driven by playwright-core; no browser is downloaded). When no Chromium is installed
 * the PDF format is refused with a clear error (HTTP 501) — the HTML prints the same from any
 * browser. The executable: `KYOKA_CHROMIUM`, else /usr/bin/chromium, else /usr/bin/chromium-browser.
 * Chromium runs headless, offline (the page has no outside resource), one process per PDF.
 */
import { existsSync } from "node:fs";
import { NotImplementedError } from "../errors.js";

export function chromiumPath(): string | undefined {
  const candidates = [process.env.KYOKA_CHROMIUM, "/usr/bin/chromium", "/usr/bin/chromium-browser"];
  return candidates.find((p): p is string => typeof p === "string" && p !== "" && existsSync(p));
}

export const CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
  "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"];

export async function renderPdf(html: Buffer): Promise<Buffer> {
  const exe = chromiumPath();
  if (!exe) {
    throw new NotImplementedError("PDF needs Chromium on the server (apt-get install chromium, or KYOKA_CHROMIUM=/path); ask for format=html and print it instead / PDF出力にはサーバに Chromium が必要です");
  }
  let chromium: typeof import("playwright-core").chromium;
  try {
    ({ chromium } = await import("playwright-core"));
  } catch {
    throw new NotImplementedError("PDF needs the playwright-core package on the server (npm install playwright-core)");
  }
  const browser = await chromium.launch({ executablePath: exe, headless: true, args: CHROMIUM_ARGS });
  try {
    const page = await browser.newPage();
    // nothing outside the page may load (the report has no outside resource)
    await page.route("**/*", (route) => (route.request().url().startsWith("data:") ? route.continue() : route.abort()));
    await page.setContent(html.toString("utf8"), { waitUntil: "load" });
    const pdf = await page.pdf({
      format: "A4", printBackground: true, preferCSSPageSize: true, displayHeaderFooter: true,
      headerTemplate: "<span></span>",
      footerTemplate: `<div style="font-size:8px;width:100%;text-align:center;color:#555">kyoka 実施状況報告書 — <span class="pageNumber"></span> / <span class="totalPages"></span></div>`,
    });
    return Buffer.from(pdf);
  } finally {
    await browser.close();
  }
}
