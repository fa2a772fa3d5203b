/**
 * Pure matching of observations against the P2P signatures (no I/O): installed items, file names,
 * processes (name, path, hash, contents, command line) and sockets on well-known ports.
 */
import type { Family, Os, Signatures, Transport } from "./compile.js";
import { normalizeName } from "./compile.js";

export type Confidence = "high" | "medium" | "low";
const RANK: Record<Confidence, number> = { high: 3, medium: 2, low: 1 };

/** What every p2p.* event carries in details (SPEC.md: family, name, pid, path, sha256, ports). */
export interface Finding {
  family: string;
  familyId: string;
  name: string;
  evidence: string[];
  confidence: Confidence;
  pid?: number;
  path?: string;
  sha256?: string;
  ports?: number[];
  cmdline?: string;
  version?: string;
  source?: string;
}

/** A process as the OS readers report it (procfs, Win32_Process, ps). */
export interface ProcessInfo {
  pid: number;
  ppid: number;
  /** Linux: comm (≤15 chars); Windows: Name (with .exe); macOS: comm basename */
  name: string;
  cmdline: string[];
  exe?: string;
  uid?: number;
  /** Linux: start time in clock ticks since boot (with pid, identifies a process) */
  startTime?: number;
}

/** An installed item, as the software collector produces it. */
export interface InstalledItem { name: string; version: string; source: string }

/** What the executable's contents told us (see hash.ts). */
export interface ExecutableIdentity {
  sha256: string;
  /** indices into sigs.markers found inside the file */
  markers: number[];
}

export function basename(path: string): string {
  const parts = path.split(/[\\/]/);
  return parts[parts.length - 1] ?? path;
}

function stronger(a: Confidence, b: Confidence): Confidence {
  return RANK[a] >= RANK[b] ? a : b;
}

/** Look a name up in the per-OS table; a name ending .exe is also looked up as a Windows name (Wine). */
function lookupName(table: Signatures["names"], os: Os, name: string, truncatedComm: boolean): Family | undefined {
  const n = normalizeName(name);
  if (!n) return undefined;
  const tables = [table[os]];
  if (os !== "win32" && /\.exe$/i.test(name)) tables.push(table.win32);
  for (const t of tables) {
    const hit = t.get(n);
    if (hit) return hit;
    if (truncatedComm) {
      for (const [key, fam] of t) if (key.length > n.length && key.startsWith(n)) return fam;
    }
  }
  return undefined;
}

export interface NameMatch { family: Family; confidence: Confidence; evidence: string }

/** Match an executable or process name (file basename or process name). */
export function matchName(sigs: Signatures, os: Os, name: string, opts: { truncatedComm?: boolean } = {}): NameMatch | undefined {
  const base = basename(name);
  const strong = lookupName(sigs.names, os, base, opts.truncatedComm ?? false);
  if (strong) return { family: strong, confidence: "high", evidence: `name ${base}` };
  const weak = lookupName(sigs.weakNames, os, base, opts.truncatedComm ?? false);
  if (weak) return { family: weak, confidence: "medium", evidence: `name ${base} (also used by other software)` };
  return undefined;
}

/** Match installed items (dpkg/rpm/brew/Windows DisplayName/macOS apps) against package globs. */
export function matchInstalled(items: readonly InstalledItem[], sigs: Signatures): Finding[] {
  const out: Finding[] = [];
  for (const item of items) {
    const n = normalizeName(item.name);
    const fam = sigs.families.find((f) => f.packageRes.some((re) => re.test(n)));
    if (!fam) continue;
    const glob = fam.packageRes.find((re) => re.test(n))!;
    const low = fam.requireArgRes !== undefined;
    out.push({
      family: fam.family,
      familyId: fam.id,
      name: item.name,
      version: item.version,
      source: item.source,
      evidence: [`${item.source} package ${item.name} ${item.version}`.trim() + ` matches ${glob.source}`,
        ...(low ? [`${fam.family} is also a plain downloader: installed alone is not P2P use`] : [])],
      confidence: low ? "low" : "high",
    });
  }
  return out;
}

const INTERPRETERS = /^(python[0-9.]*|pythonw?|java|javaw|perl|ruby|node|mono|mono-sgen|wine|wine64|wine-preloader|wine64-preloader|sh|bash|dash)(\.exe)?$/i;

/** Names a process goes by: its name, its executable's basename, argv[0], and an interpreted script's name. */
export function processNames(p: ProcessInfo): string[] {
  const names = new Set<string>();
  if (p.name) names.add(p.name);
  if (p.exe) names.add(basename(p.exe.replace(/ \(deleted\)$/, "")));
  const argv0 = p.cmdline[0];
  if (argv0) names.add(basename(argv0));
  const exeBase = p.exe ? basename(p.exe) : (argv0 ? basename(argv0) : p.name);
  if (INTERPRETERS.test(exeBase) || INTERPRETERS.test(p.name)) {
    const script = p.cmdline.slice(1).find((a) => !a.startsWith("-"));
    if (script) names.add(basename(script));
  }
  return [...names];
}

interface Candidate { family: Family; confidence: Confidence; evidence: string[] }

function addCandidate(cands: Map<string, Candidate>, family: Family, confidence: Confidence, evidence: string): void {
  const c = cands.get(family.id);
  if (!c) cands.set(family.id, { family, confidence, evidence: [evidence] });
  else {
    c.confidence = stronger(c.confidence, confidence);
    if (!c.evidence.includes(evidence)) c.evidence.push(evidence);
  }
}

function printable(bytes: Buffer): string {
  return [...bytes].map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, "0")}`)).join("");
}

/** What the executable's contents say, by family (or by protocol only). */
export function identifyContents(sigs: Signatures, id: ExecutableIdentity): { family?: Family; protocol?: string; confidence: Confidence; evidence: string[] } | undefined {
  const known = sigs.sha256.get(id.sha256);
  if (known) return { family: known, confidence: "high", evidence: [`sha256 ${id.sha256} is a known ${known.family} executable`] };
  const byFamily = new Map<string, { family: Family; evidence: string[] }>();
  let protocol: string | undefined;
  const protoEvidence: string[] = [];
  for (const i of id.markers) {
    const m = sigs.markers[i];
    if (!m) continue;
    if (m.family) {
      const e = byFamily.get(m.family.id) ?? { family: m.family, evidence: [] };
      e.evidence.push(`executable contains "${printable(m.bytes)}"`);
      byFamily.set(m.family.id, e);
    } else {
      protocol = m.protocol;
      protoEvidence.push(`executable contains the ${sigs.protocolTitles[m.protocol] ?? m.protocol} handshake "${printable(m.bytes)}"`);
    }
  }
  const best = [...byFamily.values()].sort((a, b) => b.evidence.length - a.evidence.length)[0];
  if (best) return { family: best.family, confidence: "high", evidence: [...best.evidence, ...protoEvidence] };
  if (protocol) return { protocol, confidence: "medium", evidence: protoEvidence };
  return undefined;
}

/**
 * Identify a running process: by name (process name, executable basename, argv[0], interpreted
 * script), command line, and — when given — the executable's hash and contents, so a renamed copy
 * of a known client is still caught.
 */
export function matchProcess(p: ProcessInfo, os: Os, sigs: Signatures, exe?: ExecutableIdentity): Finding | undefined {
  const cands = new Map<string, Candidate>();
  for (const n of processNames(p)) {
    const m = matchName(sigs, os, n, { truncatedComm: os === "linux" && n === p.name && n.length === 15 });
    if (m) addCandidate(cands, m.family, m.confidence, `process ${m.evidence}`);
  }
  const joined = p.cmdline.join(" ");
  for (const fam of sigs.families) {
    const re = fam.cmdlineRes.find((r) => r.test(joined));
    if (re) addCandidate(cands, fam, "medium", `command line matches /${re.source}/`);
  }
  let protocolOnly: { protocol: string; evidence: string[] } | undefined;
  if (exe) {
    const c = identifyContents(sigs, exe);
    if (c?.family) for (const e of c.evidence) addCandidate(cands, c.family, c.confidence, e);
    else if (c?.protocol) protocolOnly = { protocol: c.protocol, evidence: c.evidence };
  }
  const best = [...cands.values()].sort((a, b) => RANK[b.confidence] - RANK[a.confidence] || b.evidence.length - a.evidence.length)[0];
  const base: Omit<Finding, "family" | "familyId" | "evidence" | "confidence"> = {
    name: p.name,
    pid: p.pid,
    ...(p.exe ? { path: p.exe } : {}),
    ...(exe ? { sha256: exe.sha256 } : {}),
    ...(joined ? { cmdline: joined.slice(0, 2000) } : {}),
  };
  if (best) {
    let confidence = best.confidence;
    const evidence = [...best.evidence, ...(protocolOnly?.evidence ?? [])];
    if (best.family.requireArgRes) {
      const arg = best.family.requireArgRes.find((r) => r.test(joined));
      if (arg) evidence.push(`command line has P2P arguments (/${arg.source}/)`);
      else {
        confidence = "low";
        evidence.push(`${best.family.family} without P2P arguments (could be a plain download)`);
      }
    }
    return { family: best.family.family, familyId: best.family.id, confidence, evidence, ...base };
  }
  if (protocolOnly) {
    const title = sigs.protocolTitles[protocolOnly.protocol] ?? protocolOnly.protocol;
    return { family: `${title} (unidentified client)`, familyId: protocolOnly.protocol, confidence: "medium", evidence: protocolOnly.evidence, ...base };
  }
  return undefined;
}

/** Match a file found on disk by its name (and, when hashed, its contents). */
export function matchFile(path: string, os: Os, sigs: Signatures, exe?: ExecutableIdentity): Finding | undefined {
  const cands = new Map<string, Candidate>();
  const m = matchName(sigs, os, basename(path));
  // A Windows client copied onto any machine is still present.
  const mw = m ?? (/\.exe$/i.test(path) ? matchName(sigs, "win32", basename(path)) : undefined);
  if (mw) addCandidate(cands, mw.family, mw.confidence, `file ${mw.evidence}`);
  let protocolOnly: ReturnType<typeof identifyContents>;
  if (exe) {
    const c = identifyContents(sigs, exe);
    if (c?.family) for (const e of c.evidence) addCandidate(cands, c.family, c.confidence, e);
    else protocolOnly = c;
  }
  const best = [...cands.values()].sort((a, b) => RANK[b.confidence] - RANK[a.confidence])[0];
  const base = { name: basename(path), path, ...(exe ? { sha256: exe.sha256 } : {}) };
  if (best) {
    const low = best.family.requireArgRes !== undefined;
    return { family: best.family.family, familyId: best.family.id, confidence: low ? "low" : best.confidence,
      evidence: [...best.evidence, ...(protocolOnly?.evidence ?? [])], ...base };
  }
  if (protocolOnly?.protocol) {
    const title = sigs.protocolTitles[protocolOnly.protocol] ?? protocolOnly.protocol;
    return { family: `${title} (unidentified client)`, familyId: protocolOnly.protocol, confidence: "medium", evidence: protocolOnly.evidence, ...base };
  }
  return undefined;
}

/** Which P2P protocols (and families) use this port. */
export function portProtocols(sigs: Signatures, port: number, transport: Transport): { protocol: string; families: Family[] }[] {
  const byProto = new Map<string, Family[]>();
  for (const p of sigs.ports) {
    if (port < p.range.from || port > p.range.to || !p.range.transports.includes(transport)) continue;
    const list = byProto.get(p.protocol) ?? [];
    if (p.family && !list.includes(p.family)) list.push(p.family);
    byProto.set(p.protocol, list);
  }
  return [...byProto].map(([protocol, families]) => ({ protocol, families }));
}
