/**
 * The policy (what the desk configures): validated with zod, parsed from YAML or JSON.
 * Every field has a default, so `{}` is a valid policy. An invalid policy is refused with the
 * line and the reason (see parsePolicyText).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { isAlias, isMap, isSeq, LineCounter, parseDocument, visit, type Document } from "yaml";
import { z } from "zod";
import { policiesDir } from "../lib/paths.js";

const Seconds = z.number().positive().max(86400);
const Port = z.number().int().min(0).max(65535);

const CollectorSettings = z.strictObject({
  enabled: z.boolean().default(true),
  intervalSeconds: Seconds.optional(),
});

export const SoftwarePolicy = z.strictObject({
  /** software that is prohibited outright: status violation, whatever the approvals */
  prohibited: z.array(z.strictObject({
    name: z.string().min(1).max(1024),
    publisher: z.string().max(1024).optional(),
    reason: z.string().optional(),
  })).default([]),
  /** reconciling rescan interval (the package databases are also watched) */
  rescanSeconds: Seconds.default(300),
  /** programs run from outside any installed package (software.executed, collector `executed`) */
  executed: z.strictObject({
    /**
     * folders the site trusts (globs, * and ?, case-insensitive; `/opt/tools/*` covers everything
     * below): programs run from there are not reported at all (and not hashed)
     */
    trustedPaths: z.array(z.string().min(1)).default([]),
    /** prohibited programs: status violation, whatever the approvals; each rule names at least one of sha256, signer, name */
    prohibited: z.array(z.strictObject({
      sha256: z.string().regex(/^[0-9a-fA-F]{64}$/, "a SHA-256 is 64 hex digits").optional(),
      /** glob on the code signer (Windows Authenticode subject, macOS signing authority) */
      signer: z.string().min(1).optional(),
      /** glob on the file name */
      name: z.string().min(1).optional(),
      reason: z.string().optional(),
    }).refine((r) => r.sha256 !== undefined || r.signer !== undefined || r.name !== undefined, {
      message: "a prohibited program rule needs sha256, signer or name",
    })).default([]),
    /** `terminate` kills a prohibited program when it starts and records that it did (like p2p.response) */
    response: z.enum(["alert", "terminate"]).default("alert"),
    /** larger executables are reported with the reason instead of a hash */
    hashMaxBytes: z.number().int().positive().default(512 * 1024 * 1024),
    /** hashing budget: bytes of new executables hashed per second at most (bounds the agent's CPU) */
    hashBytesPerSecond: z.number().int().positive().default(64 * 1024 * 1024),
  }).prefault({}),
});

export const P2pPolicy = z.strictObject({
  /** `terminate` kills a detected P2P process and records that it did */
  response: z.enum(["alert", "terminate"]).default("alert"),
  scanSeconds: Seconds.default(2),
  /** folders searched for portable (never installed) executables; ~ is each user's home */
  presentPaths: z.array(z.string()).default(["~/Downloads", "~/Desktop", "~", "~/AppData"]),
  presentMaxFiles: z.number().int().positive().default(20000),
});

export const NetworkPolicy = z.strictObject({
  approvedNetworks: z.array(z.strictObject({
    name: z.string().optional(),
    cidr: z.string().optional(),
    ssid: z.string().optional(),
    bssid: z.string().optional(),
    gatewayMac: z.string().optional(),
    /** a VPN or virtual interface name (glob) */
    iface: z.string().optional(),
  })).default([]),
  approvedDestinations: z.array(z.strictObject({
    cidr: z.string(),
    ports: z.array(Port).optional(),
  })).default([{ cidr: "127.0.0.0/8" }, { cidr: "::1/128" }]),
  approvedListeningPorts: z.array(z.strictObject({
    port: Port,
    protocol: z.enum(["tcp", "udp"]).optional(),
    process: z.string().optional(),
  })).default([]),
  pollSeconds: Seconds.default(2),
  /** one network.connection event per (process, remote) per this window */
  connectionWindowSeconds: Seconds.default(3600),
});

export const MediaPolicy = z.strictObject({
  /** device patterns (glob on /dev path or name) treated as removable: card readers, loop devices in tests */
  treatAsRemovable: z.array(z.string()).default([]),
  readOnlyUntilScanned: z.boolean().default(false),
  /** status of media.unencrypted */
  unencrypted: z.enum(["info", "needs_approval"]).default("info"),
  scan: z.strictObject({
    enabled: z.boolean().default(true),
    /** auto: Microsoft Defender on Windows, else clamd/clamscan */
    scanner: z.enum(["auto", "clamdscan", "clamscan", "defender"]).default("auto"),
    /** a custom signature folder or file (clamscan -d) */
    databasePath: z.string().optional(),
  }).prefault({}),
  /** mountinfo/partitions poll where udev does not kick the collector: insertion latency ≤ this + ~0.1 s (BENCHMARKS.md, removable media) */
  pollSeconds: Seconds.default(1),
});

export const AssetPolicy = z.strictObject({
  /** node-cron expression for asset snapshots */
  schedule: z.string().default("0 9 * * *"),
  timezone: z.string().default("Asia/Tokyo"),
  /** a ledger entry with no agent seen for this many days is flagged */
  unseenDays: z.number().int().positive().default(14),
});

/** The agent's scheduled compliance snapshot (agent/compliance-schedule.ts): every control judged, recorded as agent.check. */
export const CompliancePolicy = z.strictObject({
  enabled: z.boolean().default(true),
  /** node-cron expression */
  schedule: z.string().default("0 12 * * *"),
  timezone: z.string().default("Asia/Tokyo"),
});

export const Policy = z.strictObject({
  /** agent heartbeat interval; an agent silent for 3 of them raises agent.silent */
  heartbeatSeconds: Seconds.default(30),
  collectors: z.record(z.string(), CollectorSettings).default({}),
  software: SoftwarePolicy.prefault({}),
  p2p: P2pPolicy.prefault({}),
  network: NetworkPolicy.prefault({}),
  media: MediaPolicy.prefault({}),
  asset: AssetPolicy.prefault({}),
  compliance: CompliancePolicy.prefault({}),
});
export type Policy = z.infer<typeof Policy>;

export class PolicyError extends Error {
  constructor(message: string, readonly line?: number, readonly column?: number) {
    super(message);
    this.name = "PolicyError";
  }
}

/**
 * Parse a policy from YAML (JSON is YAML too). Throws PolicyError naming the line and the reason,
 * for syntax errors and schema errors alike.
 */
export function parsePolicyText(text: string): Policy {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const err = doc.errors[0];
  if (err) {
    const pos = err.linePos?.[0] ?? lineCounter.linePos(err.pos[0]);
    throw new PolicyError(`line ${pos.line}: ${err.message.split("\n")[0]}`, pos.line, pos.col);
  }
  let raw: unknown;
  try {
    raw = doc.toJS() ?? {};
  } catch (err) {
    // alias errors surface only here: an alias to an anchor not (yet) set, or too many aliases
    const line = aliasLine(doc, lineCounter);
    throw new PolicyError(`line ${line}: ${(err as Error).message.split("\n")[0]}`, line);
  }
  const parsed = Policy.safeParse(raw);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  // Find the deepest node on the path that exists, to name its line.
  let line: number | undefined;
  for (let n = issue.path.length; n >= 0 && line === undefined; n--) {
    const node = n === 0 ? doc.contents : doc.getIn(issue.path.slice(0, n) as (string | number)[], true);
    const range = (node && typeof node === "object" && "range" in node) ? (node as { range?: [number, number, number] }).range : undefined;
    if (range && (n > 0 || isMap(node) || isSeq(node))) line = lineCounter.linePos(range[0]).line;
  }
  const where = issue.path.length ? issue.path.join(".") : "(root)";
  throw new PolicyError(`line ${line ?? 1}: ${where}: ${issue.message}`, line ?? 1);
}

/** The line of the first alias that does not resolve, else of the first alias (1 when none). */
function aliasLine(doc: Document, lineCounter: LineCounter): number {
  let first: number | undefined;
  let unresolved: number | undefined;
  visit(doc, {
    Alias(_key, node) {
      const line = node.range ? lineCounter.linePos(node.range[0]).line : undefined;
      first ??= line;
      if (unresolved === undefined && isAlias(node) && node.resolve(doc) === undefined) unresolved = line;
    },
  });
  return unresolved ?? first ?? 1;
}

export function defaultPolicyText(): string {
  return readFileSync(join(policiesDir, "default-policy.yaml"), "utf8");
}
