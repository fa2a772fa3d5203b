/**
 * What a notification says: one event, or a digest of many (まとめ通知), as a Japanese mail
 * (subject + plain-text body, UTF-8) and as a webhook payload (kyoka's JSON, Slack or Teams).
 * Pure functions: the notifier passes the events with their PC and organisation.
 */
import { jstTime } from "../../lib/day.js";
import type { StoredEvent } from "../../policies/schema.js";
import { detailSummary, eventTitle, SEVERITY_LABEL, STATUS_LABEL, statusSeverity } from "../labels.js";
import type { WEBHOOK_FORMATS } from "./config.js";

export type WebhookFormat = (typeof WEBHOOK_FORMATS)[number];

/** An event with what a reader needs around it. */
export interface NotifyEvent {
  event: StoredEvent;
  hostname: string | null;
  organisation: string | null;
}

export interface NotifyMessage {
  rule: string;
  kind: "event" | "digest";
  /** the events listed (a digest lists at most maxListed) */
  events: NotifyEvent[];
  /** how many events the message stands for (listed + counted only) */
  total: number;
  /** the window the digest covers (ISO) */
  from?: string;
  to?: string;
}

export interface RenderedMessage {
  subject: string;
  text: string;
}

const pc = (n: NotifyEvent): string => n.hostname ?? n.event.agentId;

function links(e: StoredEvent, dashboardUrl: string | undefined): string[] {
  if (!dashboardUrl) return [];
  const base = dashboardUrl.replace(/\/+$/, "");
  return [
    `ダッシュボード:     ${base}/#/alerts`,
    `事故報告書（案）:   ${base}/api/events/${e.id}/incident-report?format=html`,
  ];
}

function eventBlock(n: NotifyEvent, dashboardUrl: string | undefined): string[] {
  const e = n.event;
  const summary = detailSummary(e.details);
  return [
    `${statusSeverity(e)}: ${eventTitle(e.type)}`,
    "",
    `PC:               ${pc(n)}${n.organisation ? `（${n.organisation}）` : ""}`,
    `発生日時:         ${jstTime(e.observedAt)}（PC の時計）`,
    `受信日時:         ${jstTime(e.receivedAt)}（サーバー）`,
    `種別:             ${e.type}`,
    ...(summary ? [`内容:             ${summary}`] : []),
    `条項:             ${e.articles.join("、")}`,
    ...(e.reasons.length ? [`判定理由:         ${e.reasons.map((r) => r.ja).join(" / ")}`] : []),
    `イベントID:       ${e.id}（PC ${e.agentId}）`,
    ...links(e, dashboardUrl),
  ];
}

const FOOTER = ["", "--", "このメールは kyoka サーバーが通知ルールに従って自動送信しています。",
  "This message was sent by the kyoka server according to a notification rule."];

function countsByStatus(events: NotifyEvent[]): string {
  const counts = new Map<string, number>();
  for (const n of events) counts.set(STATUS_LABEL[n.event.status].ja, (counts.get(STATUS_LABEL[n.event.status].ja) ?? 0) + 1);
  return [...counts].map(([k, v]) => `${k} ${v}件`).join("・");
}

/** The mail: Japanese subject and plain-text body. */
export function renderMail(m: NotifyMessage, dashboardUrl?: string): RenderedMessage {
  if (m.kind === "event") {
    const n = m.events[0]!;
    return {
      subject: `【kyoka】${statusSeverity(n.event)}: ${eventTitle(n.event.type)}（${pc(n)}）`,
      text: [`kyoka 通知（ルール: ${m.rule}）`, "", ...eventBlock(n, dashboardUrl), ...FOOTER].join("\n"),
    };
  }
  const more = m.total - m.events.length;
  const lines = m.events.map((n) =>
    `- ${jstTime(n.event.observedAt)}  ${statusSeverity(n.event)}  ${pc(n)}  ${eventTitle(n.event.type)}` +
    `${detailSummary(n.event.details, 3) ? `（${detailSummary(n.event.details, 3)}）` : ""}  [ID ${n.event.id}]`);
  return {
    subject: `【kyoka】まとめ通知: ${m.total}件のイベント（${countsByStatus(m.events)}${more > 0 ? " ほか" : ""}）— ルール ${m.rule}`,
    text: [
      `kyoka まとめ通知（ルール: ${m.rule}）`,
      "",
      `短時間に多くのイベントが発生したため、${m.total}件をまとめて通知します。`,
      ...(m.from && m.to ? [`期間: ${jstTime(m.from)} 〜 ${jstTime(m.to)}`] : []),
      "",
      ...lines,
      ...(more > 0 ? [`- ほか ${more}件（ダッシュボードで確認してください）`] : []),
      ...(dashboardUrl ? ["", `ダッシュボード: ${dashboardUrl.replace(/\/+$/, "")}/#/alerts`] : []),
      ...FOOTER,
    ].join("\n"),
  };
}

const THEME: Record<string, string> = { critical: "C00000", high: "E46C0A", medium: "F2C200", low: "4F81BD", info: "808080" };

/** The webhook body in the rule's format. */
export function renderWebhook(m: NotifyMessage, format: WebhookFormat, dashboardUrl?: string): unknown {
  const mail = renderMail(m, dashboardUrl);
  if (format === "slack") {
    // Slack incoming webhooks: `text` is required; mrkdwn section blocks for the body
    return {
      text: mail.subject,
      blocks: [
        { type: "header", text: { type: "plain_text", text: mail.subject.slice(0, 150) } },
        { type: "section", text: { type: "mrkdwn", text: mail.text.slice(0, 2900) } },
      ],
    };
  }
  if (format === "teams") {
    const worst = m.events.reduce((w, n) => (SEVERITY_ORDER[n.event.severity] < SEVERITY_ORDER[w] ? n.event.severity : w), "info" as StoredEvent["severity"]);
    return {
      "@type": "MessageCard", "@context": "https://schema.org/extensions",
      summary: mail.subject, title: mail.subject, themeColor: THEME[worst],
      text: mail.text.replace(/\n/g, "  \n"),
    };
  }
  return {
    source: "kyoka", rule: m.rule, kind: m.kind, total: m.total, subject: mail.subject, text: mail.text,
    ...(m.from ? { from: m.from, to: m.to } : {}),
    events: m.events.map((n) => ({
      ...n.event, hostname: n.hostname, organisation: n.organisation, title: eventTitle(n.event.type),
      statusLabel: STATUS_LABEL[n.event.status].ja, severityLabel: SEVERITY_LABEL[n.event.severity].ja,
    })),
  };
}

const SEVERITY_ORDER: Record<StoredEvent["severity"], number> = { critical: 0, high: 1, medium: 2, low: 3, info: 4 };
