import type { StoredEvent } from "../api.js";
import { html } from "../html.js";
import { SEVERITY_LABEL, STATUS_LABEL, translate, type Lang } from "../i18n.js";

/** Status as colour AND icon AND word (never colour alone). */
export function StatusBadge({ status, lang }: { status: string; lang: Lang }) {
  const s = STATUS_LABEL[status] ?? { ja: status, en: status, icon: "•" };
  return html`<span class=${`badge status-${status}`}><span aria-hidden="true">${s.icon}</span> ${s[lang]}</span>`;
}

/**
 * How the desk dealt with an event (acknowledged / resolved), in words beside its status; an
 * approval or a denial shows in the status itself.
 */
export function ResolutionBadge({ resolution, lang }: { resolution: string | null | undefined; lang: Lang }) {
  if (!resolution || resolution === "approved" || resolution === "denied") return null;
  const word = resolution === "acknowledged" ? translate(lang, "acknowledged") : resolution === "resolved" ? translate(lang, "resolved") : resolution;
  return html` <span class="badge resolved" data-resolution=${resolution}><span aria-hidden="true">✔</span> ${word}</span>`;
}

export function SeverityBadge({ severity, lang }: { severity: string; lang: Lang }) {
  const s = SEVERITY_LABEL[severity] ?? { ja: severity, en: severity };
  return html`<span class=${`sev sev-${severity}`}>${s[lang]}</span>`;
}

/** The one-line "what" of an event from its evidence fields. */
export function summary(e: StoredEvent): string {
  const d = e.details as Record<string, unknown>;
  const s = (k: string): string => (typeof d[k] === "string" || typeof d[k] === "number" ? String(d[k]) : "");
  switch (e.control) {
    case "software":
      return [s("name"), s("version") && `${s("previousVersion") ? `${s("previousVersion")} → ` : ""}${s("version")}`].filter(Boolean).join(" ");
    case "p2p":
      return [s("family"), s("name"), s("path")].filter(Boolean).join(" · ");
    case "media":
      return [s("label"), s("vendorId") && `${s("vendorId")}:${s("productId")}`, s("serial") && `S/N ${s("serial")}`, s("mount"), s("result")].filter(Boolean).join(" · ");
    case "network":
      return [s("iface"), s("cidr") || s("address"), s("ssid"), s("remoteAddress") && `→ ${s("remoteAddress")}:${s("remotePort")}`, s("process")].filter(Boolean).join(" · ");
    case "asset":
      return [s("component"), s("hostname"), s("pcId")].filter(Boolean).join(" · ");
    default:
      return [s("reason"), s("lastSeen")].filter(Boolean).join(" · ");
  }
}

/** reasons as stored: strings, or {ja, en} pairs */
export function reasonText(r: unknown, lang: Lang): string {
  if (typeof r === "string") return r;
  if (r && typeof r === "object" && lang in r) return String((r as Record<string, unknown>)[lang]);
  return JSON.stringify(r);
}
