/**
 * How statuses and severities read, in Japanese and English — one table for every place a person
 * reads them: the decision's reasons (policies/decide.ts), `kyoka snapshot`, notifications and
 * incident drafts (server/labels.ts), compliance reports (server/reports/), the dashboard
 * (dashboard/src/i18n.ts adds its icons and capitals). Pure data: the dashboard bundles it.
 */
import type { Severity, Status } from "./schema.js";

export const STATUS_LABEL: Readonly<Record<Status, { ja: string; en: string }>> = {
  needs_approval: { ja: "甲許可待ち", en: "needs approval" },
  approved: { ja: "許可済み", en: "approved" },
  violation: { ja: "違反", en: "violation" },
  info: { ja: "情報", en: "info" },
};

export const SEVERITY_LABEL: Readonly<Record<Severity, { ja: string; en: string }>> = {
  critical: { ja: "重大", en: "critical" },
  high: { ja: "高", en: "high" },
  medium: { ja: "中", en: "medium" },
  low: { ja: "低", en: "low" },
  info: { ja: "情報", en: "info" },
};
