/**
 * Parser for clamscan / clamdscan output (no I/O). With `-i` (infected only) a run prints
 *   /media/usb/eicar.com: Win.Test.EICAR_HDB-1 FOUND
 *   /media/usb/unreadable: Can't open file or directory ERROR
 * and, unless --no-summary, a summary block:
 *   ----------- SCAN SUMMARY -----------
 *   Known viruses: 8698542
 *   Scanned files: 3
 *   Infected files: 1
 */
import type { InfectedFile } from "./types.js";

export interface ClamscanReport {
  infectedFiles: InfectedFile[];
  /** distinct signature names, in first-seen order */
  signatures: string[];
  /** lines reporting a per-file error (`path: reason ERROR`) */
  errors: string[];
  summary: {
    knownViruses: number | null;
    scannedFiles: number | null;
    infectedFiles: number | null;
    totalErrors: number | null;
    engineVersion: string | null;
  };
  /** a summary block was present */
  hasSummary: boolean;
}

const FOUND = /^(.*): (\S.*?) FOUND$/;
const ERROR = /^(.*): (.*) ERROR$/;

export function parseClamscanOutput(text: string): ClamscanReport {
  const infectedFiles: InfectedFile[] = [];
  const signatures: string[] = [];
  const errors: string[] = [];
  const summary: ClamscanReport["summary"] = {
    knownViruses: null,
    scannedFiles: null,
    infectedFiles: null,
    totalErrors: null,
    engineVersion: null,
  };
  let hasSummary = false;
  let inSummary = false;
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trimEnd();
    if (!line) continue;
    if (/^-+ SCAN SUMMARY -+$/.test(line)) {
      inSummary = true;
      hasSummary = true;
      continue;
    }
    if (inSummary) {
      const kv = /^([A-Za-z ]+):\s*(.*)$/.exec(line);
      if (!kv) continue;
      const key = kv[1]!.trim().toLowerCase();
      const value = kv[2]!.trim();
      const num = /^\d+$/.test(value) ? Number(value) : null;
      if (key === "known viruses") summary.knownViruses = num;
      else if (key === "scanned files") summary.scannedFiles = num;
      else if (key === "infected files") summary.infectedFiles = num;
      else if (key === "total errors") summary.totalErrors = num;
      else if (key === "engine version") summary.engineVersion = value;
      continue;
    }
    const found = FOUND.exec(line);
    if (found) {
      const signature = found[2]!;
      infectedFiles.push({ path: found[1]!, signature });
      if (!signatures.includes(signature)) signatures.push(signature);
      continue;
    }
    if (ERROR.test(line)) errors.push(line);
  }
  return { infectedFiles, signatures, errors, summary, hasSummary };
}
