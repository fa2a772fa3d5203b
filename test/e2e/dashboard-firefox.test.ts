/**
 * The desk's dashboard in Firefox: Debian's firefox-esr driven by puppeteer-core over WebDriver
 * BiDi (test/helpers/firefox.ts: headless, a fresh profile, nothing leaves 127.0.0.1), against the
 * real server and a real agent as child processes, as the Chromium tests (dashboard.test.ts) do:
 * a password login; the alert list with its events; a real `dpkg -i` appearing live without a
 * reload; the language toggle; and every page (alerts, event detail, requests, PCs, a PC's page,
 * ledgers, compliance, audit) showing its main content with no page error, no console error and
 * no request outside the server — each screenshotted at 1366×768 (test-artifacts/dashboard/firefox-*.png).
 * Microsoft Edge is Chromium: dashboard.test.ts covers its engine; Edge itself is not installable here.
 * Needs root (dpkg) and firefox-esr (scripts/setup.sh --test installs it); fails, not skips, without them.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { Browser, Page } from "puppeteer-core";
import { buildDeb, dpkg, purge, requireRoot, uniquePackageName } from "../helpers/dpkg.js";
import { launchFirefox, screenshotFirefox, watchPage, type PageTrouble } from "../helpers/firefox.js";
import { removeDir, showLogsOnFailure, startAgent, startServer, tempDir, waitFor, type Proc, type ServerProc } from "../helpers/kyoka.js";

const procs: Proc[] = [];
const dirs: string[] = [];
const dir = (): string => {
  const d = tempDir("kyoka-e2e-dashff-");
  dirs.push(d);
  return d;
};
const pkg = uniquePackageName("kyoka-ff");
const PASSWORD = "correct horse battery";
let server: ServerProc;
let browser: Browser;
let agentId: string;
let hostname: string;

interface Opened { page: Page; trouble: PageTrouble }

/** a page in a context of its own (its own cookies and storage), as each test's user would have */
async function newPage(): Promise<Opened> {
  const page = await (await browser.createBrowserContext()).newPage();
  await page.setViewport({ width: 1366, height: 768 });
  page.setDefaultTimeout(30_000);
  return { page, trouble: watchPage(page, server.url) };
}

async function text(page: Page, selector: string): Promise<string> {
  return page.$eval(selector, (el) => el.textContent ?? "");
}

async function login(page: Page, id: string): Promise<void> {
  await page.goto(server.url + "/");
  await page.waitForSelector("input[name=login]");
  await page.type("input[name=login]", id);
  await page.type("input[name=password]", PASSWORD);
  await page.click("form button[type=submit]");
  await page.waitForSelector("header.top");
  await page.waitForSelector("main h1");
}

/** a hash route of the page, until its heading is there */
async function go(page: Page, hash: string): Promise<void> {
  await page.goto(`${server.url}/#/${hash}`);
  await page.waitForSelector("main h1");
}

function noTrouble(t: PageTrouble, where: string): void {
  expect(t.errors, `${where}: page or console errors`).toEqual([]);
  expect(t.outside, `${where}: requests outside the server`).toEqual([]);
  expect(t.inside, `${where}: the page's requests to the server were seen`).toBeGreaterThan(0);
}

beforeAll(async () => {
  requireRoot("test/e2e/dashboard-firefox.test.ts");
  server = await startServer({ dataDir: dir() });
  procs.push(server, startAgent({ server: server.wsUrl, stateDir: dir(), enrollToken: server.enrollToken, extra: ["--collectors", "software"] }));
  const agent = await waitFor(async () => (await server.api<Array<{ id: string; hostname: string }>>("/api/agents")).body[0], "the agent to enroll");
  agentId = agent.id;
  hostname = agent.hostname;
  await waitFor(async () => (await server.api<unknown[]>(`/api/events?type=software.inventory&agent=${agentId}`)).body.length === 1,
    "the baseline software.inventory");
  // 甲's administrator logs in with a password (a session cookie and its CSRF token, in Firefox)
  const u = await server.api("/api/users", { method: "POST", body: { login: "ff-admin", role: "admin", password: PASSWORD } });
  expect(u.status, JSON.stringify(u.body)).toBe(201);
  // a pending 申請, so the requests page has a row
  const r = await server.api("/api/requests", {
    method: "POST",
    body: { control: "software", match: { name: `${pkg}-wanted` }, agents: [agentId], validUntil: new Date(Date.now() + 30 * 86_400_000).toISOString(), reason: "Firefox test" },
  });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  browser = await launchFirefox();
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await Promise.all(procs.map((p) => p.kill("SIGTERM")));
  await purge(pkg).catch(() => undefined);
  dirs.forEach(removeDir);
});

describe("dashboard in Firefox (firefox-esr, WebDriver BiDi)", () => {
  beforeEach(() => showLogsOnFailure(procs));

  it("logs in with a password; the alert list shows the stored events; a real dpkg -i appears live without a reload", async () => {
    const { page, trouble } = await newPage();
    await login(page, "ff-admin");
    await page.waitForSelector("table.events tbody tr");
    await page.waitForSelector(".live.up");
    expect(await text(page, ".who")).toContain("ff-admin");
    // the baseline inventory is in the list, and the counts are drawn from the API
    expect(await page.$$eval("table.events tbody tr", (rows) => rows.map((r) => r.getAttribute("data-type")))).toContain("software.inventory");
    const infoCount = await page.waitForFunction(() => {
      const n = document.querySelector("[data-count=info]")?.textContent ?? "…";
      return n !== "…" && Number(n.replace(/,/g, "")) > 0 ? n : false;
    });
    expect(Number(String(await infoCount.jsonValue()).replace(/,/g, ""))).toBeGreaterThan(0);

    // a marker on the window: a reload or a navigation would drop it
    await page.evaluate(() => { (window as unknown as { kyokaMark: number }).kyokaMark = 1; });
    await dpkg(["-i", await buildDeb(dir(), { name: pkg, version: "1.0" })]);
    const row = `tr[data-type="software.installed"]`;
    await page.waitForFunction((sel, name) => [...document.querySelectorAll(sel)].some((r) => r.textContent?.includes(name)), { timeout: 30_000 }, row, pkg);
    expect(await page.evaluate(() => (window as unknown as { kyokaMark?: number }).kyokaMark)).toBe(1);
    const cells = await page.$$eval(row, (rows, name) => {
      const r = rows.find((x) => x.textContent?.includes(name))!;
      return { clause: r.querySelector(".clause")?.textContent ?? "", badge: r.querySelector(".badge")?.textContent ?? "" };
    }, pkg);
    expect(cells.clause).toContain("別記2 第10");
    expect(cells.badge).toContain("甲許可待ち");
    await screenshotFirefox(page, "alerts-live");
    noTrouble(trouble, "alerts");
    await page.browserContext().close();
  });

  it("the language toggle changes the labels and is remembered", async () => {
    const { page, trouble } = await newPage();
    await login(page, "ff-admin");
    await page.waitForSelector("table.events");
    expect(await text(page, "nav a")).toBe("アラート");
    expect(await page.evaluate(() => document.documentElement.lang)).toBe("ja");
    await page.click("button.lang");
    await page.waitForFunction(() => document.querySelector("nav a")?.textContent === "Alerts");
    expect(await text(page, "main h1")).toBe("Alerts");
    await page.reload();
    await page.waitForSelector("table.events");
    expect(await text(page, "nav a")).toBe("Alerts");
    expect(await page.evaluate(() => document.documentElement.lang)).toBe("en");
    await screenshotFirefox(page, "alerts-en");
    await page.click("button.lang");
    await page.waitForFunction(() => document.querySelector("nav a")?.textContent === "アラート");
    noTrouble(trouble, "language toggle");
    await page.browserContext().close();
  });

  it("every page shows its main content with no page or console error; a screenshot of each at 1366×768", async () => {
    const { page, trouble } = await newPage();
    await page.goto(server.url + "/");
    await page.waitForSelector("form input[name=login]");
    await screenshotFirefox(page, "login");
    noTrouble(trouble, "login");
    await login(page, "ff-admin");
    const pages: Array<{ name: string; hash: string; ready: (p: Page) => Promise<void> }> = [
      { name: "alerts", hash: "alerts", ready: async (p) => { await p.waitForSelector("table.events tbody tr[data-event-id]"); } },
      { name: "requests", hash: "requests", ready: async (p) => {
        await p.waitForFunction((name) => document.querySelector("table.requests.pending")?.textContent?.includes(name), {}, `${pkg}-wanted`);
      } },
      { name: "pcs", hash: "pcs", ready: async (p) => {
        await p.waitForFunction((host) => document.querySelector("table.pcs tbody")?.textContent?.includes(host), {}, hostname);
      } },
      { name: "pc", hash: `pc/${agentId}`, ready: async (p) => {
        await p.waitForSelector("ol.timeline.all-events li");
        expect(await text(p, "main h1")).toBe(hostname);
      } },
      { name: "ledger", hash: "ledger", ready: async (p) => {
        // no ledger imported: the enrolled PC is listed as not in the ledger
        await p.waitForFunction((host) => document.querySelector("main")?.textContent?.includes(host), {}, hostname);
      } },
      { name: "compliance", hash: "compliance", ready: async (p) => {
        await p.waitForSelector("svg#chart-control rect[data-status]");
        await p.waitForSelector("svg#chart-days rect[data-status]");
      } },
      { name: "audit", hash: "audit", ready: async (p) => {
        await p.waitForFunction(() => [...document.querySelectorAll("table.audit tbody tr")].some((r) => r.textContent?.includes("user.create")));
      } },
    ];
    for (const p of pages) {
      await go(page, p.hash);
      await p.ready(page);
      await screenshotFirefox(page, p.name);
      noTrouble(trouble, p.name);
    }
    // the event detail: the live dpkg event with its clause text, reasons and actions
    await go(page, "alerts");
    // this file's package (other test files running beside it install theirs on the same machine)
    const id = await page.waitForFunction((name) => [...document.querySelectorAll(`tr[data-type="software.installed"]`)]
      .find((r) => r.textContent?.includes(name))?.getAttribute("data-event-id"), {}, pkg);
    await page.click(`tr[data-event-id="${String(await id.jsonValue())}"] a`);
    await page.waitForSelector("aside.detail .reasons li");
    const detail = await text(page, "aside.detail");
    expect(detail).toContain("別記2 第10");
    expect(detail).toContain(pkg);
    expect(await page.$$eval('aside.detail [data-action]', (b) => b.length)).toBeGreaterThan(0);
    await screenshotFirefox(page, "event-detail");
    noTrouble(trouble, "event detail");
    await page.browserContext().close();
  });
});
