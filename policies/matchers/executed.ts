/**
 * Programs run from outside any installed package (software.executed, 別記2 第10): the rules
 * shared by the agent (trusted folders are not reported; a prohibited program can be terminated
 * when it starts) and the server (a prohibited program is a violation; approvals, 甲許可).
 *
 * Approval `match` for software.executed — every key given must hold:
 * - sha256: the file's SHA-256 (hex, any case), exact;
 * - path: a glob (* and ?, case-insensitive; * also crosses folders: `/opt/tools/*` covers every
 *   program below /opt/tools) on details.path;
 * - signer: a glob on the code signer (Windows Authenticode subject, macOS signing authority); an
 *   approval with a signer never covers an unsigned program;
 * - name: a glob on the file name;
 * - any other key: a glob on the detail of the same name (e.g. `user`), like the generic matcher.
 */
import type { Details } from "../schema.js";
import { globMatch } from "./glob.js";

export type ExecutedMatch = Record<string, string | number | boolean>;

export interface ProhibitedProgram {
  sha256?: string | undefined;
  signer?: string | undefined;
  name?: string | undefined;
  reason?: string | undefined;
}

function glob(want: string, have: unknown): boolean {
  return typeof have === "string" && globMatch(want, have);
}

/** The file name of a path, Windows or POSIX. */
export function fileName(path: string): string {
  const i = Math.max(path.lastIndexOf("/"), path.lastIndexOf("\\"));
  return i >= 0 ? path.slice(i + 1) : path;
}

export function matchExecuted(match: ExecutedMatch, details: Details): boolean {
  for (const [key, want] of Object.entries(match)) {
    switch (key) {
      case "sha256":
        if (typeof details.sha256 !== "string" || String(want).toLowerCase() !== details.sha256.toLowerCase()) return false;
        break;
      case "name":
        if (!glob(String(want), typeof details.name === "string" ? details.name : typeof details.path === "string" ? fileName(details.path) : undefined)) return false;
        break;
      case "action":
        if (String(want).toLowerCase() !== "execute") return false;
        break;
      default: {
        const have = details[key];
        if (typeof want === "string" ? !glob(want, have) : have !== want) return false;
      }
    }
  }
  return true;
}

/**
 * The first prohibited rule that names this program (every field the rule gives must hold), with
 * what matched; undefined when none does.
 */
export function prohibitedProgram(rules: readonly ProhibitedProgram[], details: Details): { rule: ProhibitedProgram; by: string[] } | undefined {
  for (const rule of rules) {
    const by: string[] = [];
    if (rule.sha256 !== undefined) {
      if (typeof details.sha256 !== "string" || details.sha256.toLowerCase() !== rule.sha256.toLowerCase()) continue;
      by.push("sha256");
    }
    if (rule.signer !== undefined) {
      if (!glob(rule.signer, details.signer)) continue;
      by.push("signer");
    }
    if (rule.name !== undefined) {
      const name = typeof details.name === "string" ? details.name : typeof details.path === "string" ? fileName(details.path) : undefined;
      if (!glob(rule.name, name)) continue;
      by.push("name");
    }
    if (by.length) return { rule, by };
  }
  return undefined;
}

/** Is this path inside a folder the site trusts (policy software.executed.trustedPaths)? */
export function inTrustedPath(globs: readonly string[], path: string): boolean {
  return globs.some((g) => globMatch(g, path));
}
