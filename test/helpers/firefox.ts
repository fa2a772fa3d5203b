/**
 * Firefox for the dashboard tests: Debian's firefox-esr (apt `firefox-esr`, installed by
 * `scripts/setup.sh --test`) driven by puppeteer-core over WebDriver BiDi — the stock Firefox, no
 * browser download (playwright-core drives only its own patched Firefox builds). Headless, in a
 * fresh profile made for each launch (puppeteer's temporary profile, removed at close), with the
 * preferences that keep Firefox from calling home, and a proxy that goes nowhere for anything
 * that is not the test's own server on 127.0.0.1.
 */
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import puppeteer, { type Browser, type Page } from "puppeteer-core";
import { ARTIFACTS } from "./browser.js";

export const FIREFOX = process.env.KYOKA_FIREFOX ?? "/usr/bin/firefox-esr";

/**
 * On top of puppeteer's own test profile (which already turns off safe browsing, Normandy, the
 * blocklist, search updates, data reporting's uploads and SNTP): every service that would open a
 * connection of its own at start or later.
 */
export const NO_NETWORK_PREFS: Record<string, unknown> = {
  "app.update.enabled": false,
  "app.update.auto": false,
  "app.update.service.enabled": false,
  "app.update.staging.enabled": false,
  "app.normandy.enabled": false,
  "app.shield.optoutstudies.enabled": false,
  "network.captive-portal-service.enabled": false,
  "network.connectivity-service.enabled": false,
  "network.trr.mode": 5,
  "network.dns.disablePrefetch": true,
  "network.prefetch-next": false,
  "network.predictor.enabled": false,
  "network.http.speculative-parallel-limit": 0,
  "datareporting.healthreport.uploadEnabled": false,
  "datareporting.policy.dataSubmissionEnabled": false,
  "datareporting.usage.uploadEnabled": false,
  "toolkit.telemetry.enabled": false,
  "toolkit.telemetry.unified": false,
  "toolkit.telemetry.archive.enabled": false,
  "toolkit.telemetry.server": "",
  "toolkit.coverage.opt-out": true,
  "browser.ping-centre.telemetry": false,
  "browser.newtabpage.activity-stream.feeds.telemetry": false,
  "browser.newtabpage.activity-stream.telemetry": false,
  "browser.newtabpage.activity-stream.feeds.snippets": false,
  "browser.newtabpage.activity-stream.feeds.section.topstories": false,
  "browser.newtabpage.activity-stream.showSponsored": false,
  "browser.newtabpage.activity-stream.showSponsoredTopSites": false,
  "browser.safebrowsing.provider.google4.updateURL": "",
  "browser.safebrowsing.provider.google.updateURL": "",
  "browser.safebrowsing.provider.mozilla.updateURL": "",
  "browser.region.network.url": "",
  "browser.region.update.enabled": false,
  "browser.search.geoip.url": "",
  "browser.aboutHomeSnippets.updateUrl": "",
  "browser.discovery.enabled": false,
  "browser.topsites.contile.enabled": false,
  "extensions.blocklist.enabled": false,
  "extensions.getAddons.cache.enabled": false,
  "extensions.systemAddon.update.enabled": false,
  "extensions.update.enabled": false,
  "messaging-system.rsexperimentloader.enabled": false,
  "media.gmp-gmpopenh264.enabled": false,
  "media.gmp-manager.url": "",
  "identity.fxaccounts.enabled": false,
  "services.sync.enabled": false,
  "geo.enabled": false,
  "security.OCSP.enabled": 0,
  "security.remote_settings.crlite_filters.enabled": false,
  "security.remote_settings.intermediates.enabled": false,
  // anything that still tries: a manual proxy that refuses (localhost and 127.0.0.1 are never proxied)
  "network.proxy.type": 1,
  "network.proxy.http": "127.0.0.1",
  "network.proxy.http_port": 9,
  "network.proxy.ssl": "127.0.0.1",
  "network.proxy.ssl_port": 9,
  "network.proxy.socks": "127.0.0.1",
  "network.proxy.socks_port": 9,
  "network.proxy.socks_remote_dns": true,
  "network.proxy.no_proxies_on": "localhost, 127.0.0.1",
};

export async function launchFirefox(): Promise<Browser> {
  if (!existsSync(FIREFOX)) {
    throw new Error(`the Firefox dashboard tests need Firefox at ${FIREFOX} (apt-get install firefox-esr; scripts/setup.sh --test installs it)`);
  }
  return puppeteer.launch({
    browser: "firefox",
    executablePath: FIREFOX,
    headless: true,
    extraPrefsFirefox: NO_NETWORK_PREFS,
    // the machine is shared: a slow start or a slow command is not a failure of the page
    timeout: 90_000,
    protocolTimeout: 120_000,
  });
}

export async function screenshotFirefox(page: Page, name: string): Promise<string> {
  mkdirSync(ARTIFACTS, { recursive: true });
  const path = join(ARTIFACTS, `firefox-${name}.png`);
  await page.screenshot({ path: path as `${string}.png`, fullPage: false });
  return path;
}

/** What a page reports that it should not: uncaught errors, console errors, requests that leave 127.0.0.1. */
export interface PageTrouble {
  errors: string[];
  outside: string[];
  /** requests to the server seen (the watch itself works) */
  inside: number;
}

export function watchPage(page: Page, origin: string): PageTrouble {
  const trouble: PageTrouble = { errors: [], outside: [], inside: 0 };
  page.on("pageerror", (err) => trouble.errors.push(`pageerror: ${err instanceof Error ? err.message : String(err)}`));
  page.on("console", (m) => { if (m.type() === "error") trouble.errors.push(`console.error: ${m.text()}`); });
  page.on("request", (r) => {
    const url = r.url();
    if (url.startsWith(origin)) trouble.inside++;
    else if (!/^(data|blob|about):/.test(url)) trouble.outside.push(url);
  });
  return trouble;
}
