/**
 * Wire types of event `details`, per event type (the agent validates before queuing, the server
 * before deciding). Two layers, both total (they never throw, whatever the input):
 *
 * 1. Bounds, for every type (`boundsIssue`): nesting depth ≤ 8, strings ≤ 4,096 characters, object
 *    keys ≤ 256 characters and ≤ 256 per object, arrays ≤ 10,000 items, numbers finite, and the
 *    serialized details ≤ 64 KiB (768 KiB for the three list-carrying types below). Unknown extra
 *    fields are allowed, within these bounds (they are kept as evidence).
 * 2. A zod schema per event type for the fields the server reads (names ≤ 1,024 characters, paths
 *    ≤ 4,096, ports 0–65535, …): a field of the wrong type is refused, never coerced — a
 *    `software.installed` whose `name` is `{"toString": 1}` is refused here, before any matcher.
 *
 * `checkEvent` runs both on one event and says where it failed (`{path, message}`), so one bad
 * event is refused alone (README: protocol, `ack.rejected`).
 */
import { z } from "zod";
import { AgentEvent, EVENT_TYPES, formatIssues, type Details, type EventType } from "./schema.js";

export const DETAIL_LIMITS = {
  /** nesting depth of details (details itself is depth 1) */
  depth: 8,
  string: 4096,
  name: 1024,
  path: 4096,
  key: 256,
  keys: 256,
  array: 10_000,
  /** serialized details, in UTF-8 bytes */
  bytes: 64 * 1024,
  /** software.inventory, asset.snapshot and media.copy_out carry lists (under the 1 MiB frame) */
  largeBytes: 768 * 1024,
} as const;

const LARGE: ReadonlySet<EventType> = new Set<EventType>(["software.inventory", "asset.snapshot", "media.copy_out"]);

export function maxDetailBytes(type: EventType): number {
  return LARGE.has(type) ? DETAIL_LIMITS.largeBytes : DETAIL_LIMITS.bytes;
}

export interface DetailIssue {
  /** dotted path from the event, e.g. `details.files.3.path` */
  path: string;
  message: string;
}

/**
 * The first bound `value` breaks, or undefined. Recursion stops at the depth limit, so a value
 * nested 100,000 deep costs 9 frames; cycles cannot occur in parsed JSON but are caught by depth.
 */
export function boundsIssue(value: unknown, limits: { depth: number; string: number; key: number; keys: number; array: number } = DETAIL_LIMITS): DetailIssue | undefined {
  const path: Array<string | number> = ["details"];
  const fail = (message: string): DetailIssue => ({ path: path.join("."), message });
  const walk = (v: unknown, depth: number): DetailIssue | undefined => {
    switch (typeof v) {
      case "string":
        return v.length > limits.string ? fail(`string longer than ${limits.string} characters (${v.length})`) : undefined;
      case "number":
        return Number.isFinite(v) ? undefined : fail("number is not finite");
      case "boolean":
        return undefined;
      case "object": {
        if (v === null) return undefined;
        if (depth > limits.depth) return fail(`nested deeper than ${limits.depth} levels`);
        if (Array.isArray(v)) {
          if (v.length > limits.array) return fail(`array longer than ${limits.array} items (${v.length})`);
          for (let i = 0; i < v.length; i++) {
            path.push(i);
            const issue = walk(v[i], depth + 1);
            if (issue) return issue;
            path.pop();
          }
          return undefined;
        }
        const proto = Object.getPrototypeOf(v) as unknown;
        if (proto !== Object.prototype && proto !== null) return fail("not a plain JSON object");
        let n = 0;
        for (const key in v) {
          if (!Object.prototype.hasOwnProperty.call(v, key)) continue;
          if (++n > limits.keys) return fail(`more than ${limits.keys} keys`);
          if (key.length > limits.key) return fail(`key longer than ${limits.key} characters`);
          path.push(key);
          const issue = walk((v as Record<string, unknown>)[key], depth + 1);
          if (issue) return issue;
          path.pop();
        }
        return undefined;
      }
      default:
        return fail(`${typeof v} is not a JSON value`);
    }
  };
  return walk(value, 1);
}

// --- per-type fields ---------------------------------------------------------------------------
const Text = z.string().max(DETAIL_LIMITS.string);
const Name = z.string().max(DETAIL_LIMITS.name);
const Path = z.string().max(DETAIL_LIMITS.path);
const opt = <T extends z.ZodType>(t: T) => t.nullable().optional();
const Port = z.number().int().min(0).max(65535);
const Pid = z.number().int().nonnegative();
const Count = z.number().int().nonnegative();
const IsoText = z.string().max(64);

const Software = z.looseObject({
  name: Name,
  version: opt(Name),
  previousVersion: opt(Name),
  publisher: opt(Name),
  source: opt(Name),
  arch: opt(Name),
  scope: opt(Name),
});

const MediaIdentity = {
  device: opt(Path),
  disk: opt(Path),
  vendorId: opt(Name),
  productId: opt(Name),
  serial: opt(Name),
  serialSource: opt(Name),
  label: opt(Name),
  mount: opt(Path),
};

const NetworkAttachment = z.looseObject({
  iface: opt(Name),
  address: opt(Name),
  cidr: opt(Name),
  gateway: opt(Name),
  gatewayMac: opt(Name),
  ssid: opt(Name),
  bssid: opt(Name),
});

const NetworkSocket = {
  pid: opt(Pid),
  process: opt(Name),
  exe: opt(Path),
  user: opt(Name),
  protocol: opt(Name),
  netns: opt(z.union([Name, z.number()])),
};

const P2p = z.looseObject({
  family: opt(Name),
  name: opt(Name),
  pid: opt(Pid),
  path: opt(Path),
  sha256: opt(Name),
  ports: opt(z.array(Port).max(DETAIL_LIMITS.array)),
});

const Anything = z.looseObject({});

/** The details schema of each event type (fields the server reads; the rest only bounded). */
export const DETAILS_SCHEMAS: Record<EventType, z.ZodType<Details>> = {
  "software.installed": Software,
  "software.updated": Software,
  "software.removed": Software,
  "software.inventory": z.looseObject({
    count: opt(Count),
    items: opt(z.array(z.looseObject({ name: Name, version: opt(Name), source: opt(Name) })).max(DETAIL_LIMITS.array)),
    truncated: opt(z.boolean()),
  }),
  "network.attached": NetworkAttachment,
  "network.changed": NetworkAttachment,
  "network.connection": z.looseObject({
    ...NetworkSocket,
    localAddress: opt(Name),
    localPort: opt(Port),
    remoteAddress: opt(Name),
    remotePort: opt(Port),
  }),
  "network.listening": z.looseObject({ ...NetworkSocket, port: opt(Port), address: opt(Name) }),
  "media.inserted": z.looseObject({ ...MediaIdentity, size: opt(z.number().nonnegative()) }),
  "media.removed": z.looseObject(MediaIdentity),
  "media.copy_out": z.looseObject({
    ...MediaIdentity,
    files: opt(z.array(z.looseObject({ path: opt(Path), size: opt(z.number().nonnegative()) })).max(DETAIL_LIMITS.array)),
    count: opt(Count),
    totalBytes: opt(z.number().nonnegative()),
  }),
  "media.scanned": z.looseObject({
    ...MediaIdentity,
    result: Name,
    signatures: opt(z.array(Name).max(DETAIL_LIMITS.array)),
    infectedFiles: opt(z.array(z.unknown()).max(DETAIL_LIMITS.array)),
  }),
  "media.unencrypted": z.looseObject(MediaIdentity),
  "p2p.installed": P2p,
  "p2p.present": P2p,
  "p2p.running": P2p,
  "p2p.traffic": P2p,
  "asset.snapshot": z.looseObject({ pcId: opt(Name), hostname: opt(Name) }),
  "asset.hardware_changed": z.looseObject({ component: opt(Name), change: opt(Name), key: opt(Text), pcId: opt(Name) }),
  "asset.unregistered": z.looseObject({ pcId: opt(Name), hostname: opt(Name), serial: opt(Name) }),
  "agent.started": Anything,
  "agent.stopped": Anything,
  "agent.silent": z.looseObject({ lastSeen: opt(IsoText), missedHeartbeats: opt(Count) }),
  "agent.degraded": z.looseObject({ reason: opt(Name) }),
  "agent.selftest": Anything,
};

for (const t of EVENT_TYPES) if (!DETAILS_SCHEMAS[t]) throw new Error(`details schema missing for ${t}`);

export type CheckedEvent = { ok: true; event: AgentEvent; detailsJson: string } | ({ ok: false } & DetailIssue);

/** Server-only types, refused from agents (set by the catalog's `origin: server`). */
export interface CheckOptions {
  serverOnly?: ReadonlySet<string>;
}

/**
 * Validate one event (`{seq, type, observedAt, details}`) completely: envelope, bounds, size, the
 * type's details schema, and that an agent may send this type. Never throws.
 */
export function checkEvent(input: unknown, opts: CheckOptions = {}): CheckedEvent {
  const env = AgentEvent.safeParse(input);
  if (!env.success) {
    const issue = env.error.issues[0]!;
    return { ok: false, path: issue.path.length ? issue.path.join(".") : "(event)", message: issue.message.slice(0, 300) };
  }
  const e = env.data;
  if (opts.serverOnly?.has(e.type)) return { ok: false, path: "type", message: `${e.type} is made by the server only` };
  const bound = boundsIssue(e.details);
  if (bound) return { ok: false, ...bound };
  // depth and every string are bounded now, so stringify cannot throw or run away
  const detailsJson = JSON.stringify(e.details);
  const max = maxDetailBytes(e.type);
  // UTF-8 is at most 3 bytes per UTF-16 unit: count bytes only when it could matter
  if (detailsJson.length * 3 > max) {
    const bytes = Buffer.byteLength(detailsJson);
    if (bytes > max) return { ok: false, path: "details", message: `details are ${bytes} bytes serialized, over ${max}` };
  }
  const typed = DETAILS_SCHEMAS[e.type].safeParse(e.details);
  if (!typed.success) {
    const issue = typed.error.issues[0]!;
    return { ok: false, path: ["details", ...issue.path].join("."), message: formatIssues(new z.ZodError([{ ...issue, path: [] }])).replace(/^\(root\): /, "").slice(0, 300) };
  }
  return { ok: true, event: { ...e, details: typed.data }, detailsJson };
}
