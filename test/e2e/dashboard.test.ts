/**
 * The desk's dashboard in a real browser (Debian's Chromium through playwright-core, headless)
 * against the real server and a real agent, as child processes: a `dpkg -i` on this PC appears
 * in the alert list without a reload, with its clause and why it has its status; an acknowledge,
 * a resolve and a bulk resolve made on one page show on another open page live; the language
 * toggle is remembered; axe-core finds no serious violation on any page; every page is
 * screenshotted at 1366×768 (test-artifacts/dashboard/). Needs root (dpkg) and Chromium
 * (scripts/setup.sh --test installs it); fails, not skips, without them.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { Browser, Page } from "playwright-core";
import { buildDeb, dpkg, purge, requireRoot, uniquePackageName } from "../helpers/dpkg.js";
import { launchBrowser, screenshot, seriousAxeViolations } from "../helpers/browser.js";
import { removeDir, showLogsOnFailure, startAgent, startServer, tempDir, waitFor, type Proc, type ServerProc } from "../helpers/kyoka.js";

const procs: Proc[] = [];
const dirs: string[] = [];
const dir = (): string => {
  const d = tempDir("kyoka-e2e-dash-");
  dirs.push(d);
  return d;
};
const pkg = uniquePackageName("kyoka-dash");
let server: ServerProc;
let browser: Browser;
let agentId: string;

async function loginWithToken(page: Page, token: string): Promise<void> {
  await page.goto(server.url + "/");
  await page.locator("details summary").click();
  await page.locator("input[name=token]").fill(token);
  await page.locator("form button[type=submit]").click();
  await page.locator("table.events").waitFor();
}

beforeAll(async () => {
  requireRoot("test/e2e/dashboard.test.ts");
  server = await startServer({ dataDir: dir() });
  procs.push(server, startAgent({ server: server.wsUrl, stateDir: dir(), enrollToken: server.enrollToken, extra: ["--collectors", "software"] }));
  agentId = await waitFor(async () => (await server.api<Array<{ id: string }>>("/api/agents")).body[0]?.id, "the agent to enroll");
  await waitFor(async () => (await server.api<unknown[]>(`/api/events?type=software.inventory&agent=${agentId}`)).body.length === 1,
    "the baseline software.inventory");
  browser = await launchBrowser();
});

afterAll(async () => {
  await browser?.close();
  await Promise.all(procs.map((p) => p.kill("SIGTERM")));
  await purge(pkg).catch(() => undefined);
  dirs.forEach(removeDir);
});

describe("dashboard", () => {
  beforeEach(() => showLogsOnFailure(procs));

  it("serves the built page at / with no external resource", async () => {
    const res = await fetch(server.url + "/");
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).toContain('<div id="app">');
    expect(text).not.toMatch(/https?:\/\//);
  });

  it("a real dpkg -i appears live in the alert list with its clause and reasons, without a reload", async () => {
    const page = await browser.newPage({ viewport: { width: 1366, height: 768 } });
    await loginWithToken(page, server.adminToken);
    await page.locator(".live.up").waitFor();
    const navigations: string[] = [];
    page.on("framenavigated", (f) => { if (f === page.mainFrame()) navigations.push(f.url()); });
    const deb = await buildDeb(dir(), { name: pkg, version: "1.0" });
    const t0 = Date.now();
    await dpkg(["-i", deb]);
    const row = page.locator(`tr[data-type="software.installed"]`, { hasText: pkg });
    await row.waitFor({ timeout: 30_000 });
    process.stdout.write(`[dashboard] dpkg -i → row on screen: ${Date.now() - t0} ms\n`);
    expect(navigations).toEqual([]);
    await expect(row.locator(".clause").textContent()).resolves.toContain("別記2 第10");
    await expect(row.locator(".badge").first().textContent()).resolves.toContain("甲許可待ち");
    await row.locator("a").click();
    const detail = page.locator("aside.detail");
    await detail.waitFor();
    await expect(detail.textContent()).resolves.toContain("別記2 第10");
    expect(await detail.locator(".reasons li").count()).toBeGreaterThan(0);
    await screenshot(page, "event-detail");
    await page.close();
  });

  it("roles: a desk user sees no approve button (and the API says 403); the approver's decision changes the desk's row live", async () => {
    // users (issue 13): a desk user of the agents' contractor organisation and 甲's approver
    for (const u of [{ login: "desk1", role: "desk", organisation: "default" }, { login: "appr1", role: "approver" }]) {
      const r = await server.api("/api/users", { method: "POST", body: { ...u, password: "correct horse battery" } });
      expect(r.status, JSON.stringify(r.body)).toBe(201);
    }
    const login = async (page: Page, id: string): Promise<void> => {
      await page.goto(server.url + "/");
      await page.locator("input[name=login]").fill(id);
      await page.locator("input[name=password]").fill("correct horse battery");
      await page.locator("form button[type=submit]").click();
      await page.locator("table.events").waitFor();
      await page.locator(".live.up").waitFor();
    };
    const desk = await browser.newPage({ viewport: { width: 1366, height: 768 } });
    const approver = await browser.newPage({ viewport: { width: 1366, height: 768 } });
    await login(desk, "desk1");
    await login(approver, "appr1");
    await expect(desk.locator(".who").textContent()).resolves.toContain("desk");

    const name = `${pkg}-roles`;
    await dpkg(["-i", await buildDeb(dir(), { name, version: "1.0" })]);
    const deskRow = desk.locator(`tr[data-type="software.installed"]`, { hasText: name });
    await deskRow.waitFor({ timeout: 30_000 });
    await expect(deskRow.locator(".badge").first().textContent()).resolves.toContain("甲許可待ち");
    // the desk user's detail offers acknowledge/resolve, never approve
    await deskRow.locator("a").click();
    await desk.locator("aside.detail").waitFor();
    expect(await desk.locator('[data-action="resolve"]').count()).toBe(1);
    expect(await desk.locator('[data-action="approve-like"]').count()).toBe(0);
    const eventId = Number(await deskRow.getAttribute("data-event-id"));
    // forcing the approver's API call with the desk user's own session and CSRF token: 403
    const forced = await desk.evaluate(async (id) => {
      const me = await (await fetch("/api/me")).json() as { csrfToken: string };
      const r = await fetch(`/api/events/${id}/approve-like-this`, {
        method: "POST", headers: { "content-type": "application/json", "x-csrf-token": me.csrfToken },
        body: JSON.stringify({ scope: { all: true }, validUntil: new Date(Date.now() + 86_400_000).toISOString(), reason: "desk tries" }),
      });
      return r.status;
    }, eventId);
    expect(forced).toBe(403);
    await desk.locator("aside.detail button[aria-label]").click();

    // 甲's approver approves everything like it; the desk's row turns 許可済み without a reload
    const apprRow = approver.locator(`tr[data-event-id="${eventId}"]`);
    await apprRow.waitFor({ timeout: 30_000 });
    await apprRow.locator("a").click();
    await approver.locator('[data-action="approve-like"]').click();
    await approver.locator("aside.detail [role=status]").waitFor();
    await expect(approver.locator("aside.detail [role=status]").textContent()).resolves.toMatch(/1$/);
    await desk.locator(`tr[data-event-id="${eventId}"] .status-approved`).waitFor({ timeout: 10_000 });
    await screenshot(desk, "desk-after-approval");
    await purge(name).catch(() => undefined);
    await desk.close();
    await approver.close();
  });

  it("an acknowledge, a resolve and a bulk resolve on one page show live on another open page (and in its open detail)", async () => {
    const acting = await browser.newPage({ viewport: { width: 1366, height: 768 } });
    const watching = await browser.newPage({ viewport: { width: 1366, height: 768 } });
    await loginWithToken(acting, server.adminToken);
    await loginWithToken(watching, server.adminToken);
    await watching.locator(".live.up").waitFor();
    // a mark on the watching page's window: a reload would drop it
    await watching.evaluate(() => { (window as unknown as { kyokaMark: number }).kyokaMark = 1; });
    const names = { ack: `${pkg}-ack`, res: `${pkg}-res`, bulk: `${pkg}-bulk` };
    for (const name of Object.values(names)) await dpkg(["-i", await buildDeb(dir(), { name, version: "1.0" })]);
    const ids: Record<string, string> = {};
    for (const [k, name] of Object.entries(names)) {
      const row = watching.locator(`tr[data-type="software.installed"]`, { hasText: name });
      await row.waitFor({ timeout: 30_000 });
      ids[k] = (await row.getAttribute("data-event-id"))!;
      await acting.locator(`tr[data-event-id="${ids[k]}"]`).waitFor({ timeout: 30_000 });
    }
    const badge = (id: string, resolution: string) => watching.locator(`tr[data-event-id="${id}"] .badge.resolved[data-resolution="${resolution}"]`);
    expect(await watching.locator("tr .badge.resolved").count()).toBe(0);
    // the watching page has the bulk one's detail open
    await watching.locator(`tr[data-event-id="${ids.bulk}"] a`).click();
    await watching.locator("aside.detail [data-action=resolve]").waitFor();

    for (const [k, action] of [["ack", "acknowledge"], ["res", "resolve"]] as const) {
      await acting.locator(`tr[data-event-id="${ids[k]}"] a`).click();
      await acting.locator(`aside.detail [data-action=${action}]`).click();
      await acting.locator("aside.detail .badge.resolved").waitFor();
      await acting.locator("aside.detail button[aria-label]").click();
      await badge(ids[k]!, action === "acknowledge" ? "acknowledged" : "resolved").waitFor({ timeout: 10_000 });
    }
    await expect(badge(ids.ack!, "acknowledged").textContent()).resolves.toContain("確認済み");
    // bulk: the acting page selects the row and resolves it with a note
    await acting.locator(`tr[data-event-id="${ids.bulk}"] input.pick`).check();
    await acting.locator("[data-bulk=resolve]").click();
    await acting.locator("[role=dialog] textarea").fill("一括で対応済み");
    await acting.locator("[role=dialog] [data-action=confirm]").click();
    await badge(ids.bulk!, "resolved").waitFor({ timeout: 10_000 });
    // the watching page's open detail shows it resolved, with the note, and no longer offers the actions
    await watching.locator("aside.detail .badge.resolved").waitFor({ timeout: 10_000 });
    await expect(watching.locator("aside.detail").textContent()).resolves.toContain("一括で対応済み");
    expect(await watching.locator("aside.detail [data-action=resolve]").count()).toBe(0);
    expect(await watching.evaluate(() => (window as unknown as { kyokaMark?: number }).kyokaMark)).toBe(1);
    await screenshot(watching, "resolved-live");
    await purge(...Object.values(names)).catch(() => undefined);
    await acting.close();
    await watching.close();
  });

  it("the language toggle changes the labels and is remembered", async () => {
    const page = await browser.newPage({ viewport: { width: 1366, height: 768 } });
    await loginWithToken(page, server.adminToken);
    await expect(page.locator("nav a").first().textContent()).resolves.toBe("アラート");
    await page.locator("button.lang").click();
    await expect(page.locator("nav a").first().textContent()).resolves.toBe("Alerts");
    await page.reload();
    await page.locator("table.events").waitFor();
    await expect(page.locator("nav a").first().textContent()).resolves.toBe("Alerts");
    await expect(page.evaluate(() => document.documentElement.lang)).resolves.toBe("en");
    await page.locator("button.lang").click();
    await page.close();
  });

  it("every page: no serious axe-core violation, screenshot at 1366×768", async () => {
    const page = await browser.newPage({ viewport: { width: 1366, height: 768 } });
    // the login page first
    await page.goto(server.url + "/");
    await page.locator("form").waitFor();
    expect(await seriousAxeViolations(page)).toEqual([]);
    await screenshot(page, "login");
    await loginWithToken(page, server.adminToken);
    for (const p of ["alerts", "pcs", "requests", "ledger", "compliance", "audit"]) {
      await page.goto(`${server.url}/#/${p}`);
      await page.locator("main h1").waitFor();
      await page.waitForLoadState("networkidle");
      const v = await seriousAxeViolations(page);
      expect(v, `${p}: ${JSON.stringify(v)}`).toEqual([]);
      await screenshot(page, p);
    }
    await page.close();
  });
});
