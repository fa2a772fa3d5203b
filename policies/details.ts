/**
 * Wire types of event `details`, per event type (the agent validates before queuing, the server
 * before deciding). Two layers, both total (they never throw, whatever the input):
 *
 * 1. Bounds, for every type (`boundsIssue`): nesting depth ≤ 8, strings ≤ 4,096 characters, object
 *    keys ≤ 256 characters and ≤ 256 per object, arrays ≤ 10,000 items, numbers finite, and the
 *    serialized details ≤ 64 KiB (768 KiB for the three list-carrying types below). Unknown extra
 *    fields are allowed, within these bounds (they are kept as evidence).
 * 2. A spec per event type for the fields the server reads (DETAILS_SPEC: names ≤ 1,024
 *    characters, paths ≤ 4,096, ports 0–65535, …; the zod schemas DETAILS_SCHEMAS are built from
 *    it): a field of the wrong type is refused, never coerced — a `software.installed` whose
 *    `name` is `{"toString": 1}` is refused here, before any matcher.
 *
 * `checkEvent` runs both on one event and says where it failed (`{path, message}`), so one bad
 * event is refused alone (README: protocol, `ack.rejected`).
 */
import { z } from "zod";
import { AgentEvent, CONTROLS, EVENT_TYPES, type Details, type EventType } from "./schema.js";

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
export function boundsIssue(value: unknown, limits: BoundLimits = DETAIL_LIMITS): DetailIssue | undefined {
  // fast pass without paths; only a value that fails is walked again to name where
  return withinBounds(value, 1, limits) ? undefined : locate(value, limits);
}

export interface BoundLimits { depth: number; string: number; key: number; keys: number; array: number }

function withinBounds(v: unknown, depth: number, l: BoundLimits): boolean {
  if (typeof v === "string") return v.length <= l.string;
  if (typeof v === "number") return Number.isFinite(v);
  if (typeof v === "boolean" || v === null) return true;
  if (typeof v !== "object" || depth > l.depth) return false;
  if (Array.isArray(v)) {
    if (v.length > l.array) return false;
    for (let i = 0; i < v.length; i++) if (!withinBounds(v[i], depth + 1, l)) return false;
    return true;
  }
  const proto = Object.getPrototypeOf(v) as unknown;
  if (proto !== Object.prototype && proto !== null) return false;
  let n = 0;
  for (const key in v) {
    if (++n > l.keys || key.length > l.key) return false;
    if (!withinBounds((v as Record<string, unknown>)[key], depth + 1, l)) return false;
  }
  return true;
}

/** The first bound `value` breaks, with its path (the slow pass). */
function locate(value: unknown, limits: BoundLimits): DetailIssue | undefined {
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
// One spec per event type, as data; both the zod schemas (DETAILS_SCHEMAS: documentation, fuzz
// generators) and the fast checker used on every event (checkFields) are built from it.

export type Kind =
  | { k: "string"; max: number }
  | { k: "int"; min: number; max: number }
  | { k: "number"; min: number }
  | { k: "bool" }
  | { k: "enum"; values: readonly string[] }
  | { k: "stringOrNumber"; max: number }
  | { k: "array"; of: Kind; max: number }
  | { k: "object"; fields: FieldSpec }
  | { k: "any" };
export interface Field { kind: Kind; required: boolean }
export type FieldSpec = Record<string, Field>;

const S = (max: number): Kind => ({ k: "string", max });
const NAME = S(DETAIL_LIMITS.name);
const PATH = S(DETAIL_LIMITS.path);
const TEXT = S(DETAIL_LIMITS.string);
const ISO = S(64);
const PORT: Kind = { k: "int", min: 0, max: 65535 };
const PID: Kind = { k: "int", min: 0, max: Number.MAX_SAFE_INTEGER };
const COUNT = PID;
const SIZE: Kind = { k: "number", min: 0 };
const BOOL: Kind = { k: "bool" };
const list = (of: Kind, max: number = DETAIL_LIMITS.array): Kind => ({ k: "array", of, max });
const obj = (fields: FieldSpec): Kind => ({ k: "object", fields });
/** optional, may be null (collectors write null for "unknown") */
const o = (kind: Kind): Field => ({ kind, required: false });
/** required, not null */
const r = (kind: Kind): Field => ({ kind, required: true });

const SOFTWARE: FieldSpec = { name: r(NAME), version: o(NAME), previousVersion: o(NAME), publisher: o(NAME), source: o(NAME), arch: o(NAME), scope: o(NAME) };
const MEDIA: FieldSpec = {
  device: o(PATH), disk: o(PATH), vendorId: o(NAME), productId: o(NAME), serial: o(NAME), serialSource: o(NAME), label: o(NAME), mount: o(PATH),
};
const ATTACHMENT: FieldSpec = { iface: o(NAME), address: o(NAME), cidr: o(NAME), gateway: o(NAME), gatewayMac: o(NAME), ssid: o(NAME), bssid: o(NAME) };
const SOCKET: FieldSpec = {
  pid: o(PID), process: o(NAME), exe: o(PATH), user: o(NAME), protocol: o(NAME), netns: o({ k: "stringOrNumber", max: DETAIL_LIMITS.name }),
};
const P2P: FieldSpec = { family: o(NAME), name: o(NAME), pid: o(PID), path: o(PATH), sha256: o(NAME), ports: o(list(PORT)) };

/** software.executed (agent/collectors/executed): sha256 is null when the file could not be hashed (hashError says why). */
const EXECUTED: FieldSpec = {
  path: r(PATH), name: r(NAME), sha256: o(NAME), hashError: o(NAME), size: o(SIZE), format: o(NAME), pid: o(PID), uid: o(COUNT), user: o(NAME),
  parent: o(obj({ pid: o(PID), exe: o(PATH) })), cmdline: o(TEXT), medium: o(obj(MEDIA)), signer: o(NAME), signatureStatus: o(NAME),
  prohibited: o(obj({ by: r(list(NAME, 8)), reason: o(TEXT) })), response: o(NAME), runs: o(COUNT),
};

/**
 * agent.check: evidence that a full check of one control ran on this PC (agent/evidence.ts; the
 * server keeps the days with an ok check per PC × control, server/evidence.ts). `control` is the
 * control checked (the event's own control is `agent`).
 */
const CHECK: FieldSpec = {
  control: r({ k: "enum", values: CONTROLS }), collector: r(NAME), completedAt: r(ISO), ok: r(BOOL), findings: o(COUNT), error: o(TEXT),
  source: o(NAME), policyVersion: o(COUNT),
};

/** The fields the server reads, per event type; anything else is only bounded. */
export const DETAILS_SPEC: Record<EventType, FieldSpec> = {
  "software.installed": SOFTWARE,
  "software.updated": SOFTWARE,
  "software.removed": SOFTWARE,
  "software.executed": EXECUTED,
  "software.inventory": { count: o(COUNT), items: o(list(obj({ name: r(NAME), version: o(NAME), source: o(NAME) }))), truncated: o(BOOL) },
  "network.attached": ATTACHMENT,
  "network.changed": ATTACHMENT,
  "network.connection": { ...SOCKET, localAddress: o(NAME), localPort: o(PORT), remoteAddress: o(NAME), remotePort: o(PORT) },
  "network.listening": { ...SOCKET, port: o(PORT), address: o(NAME) },
  "media.inserted": { ...MEDIA, size: o(SIZE) },
  "media.removed": MEDIA,
  "media.copy_out": { ...MEDIA, files: o(list(obj({ path: o(PATH), size: o(SIZE) }))), count: o(COUNT), totalBytes: o(SIZE) },
  "media.scanned": { ...MEDIA, result: r(NAME), signatures: o(list(NAME)), infectedFiles: o(list({ k: "any" })) },
  "media.unencrypted": MEDIA,
  "p2p.installed": P2P,
  "p2p.present": P2P,
  "p2p.running": P2P,
  "p2p.traffic": P2P,
  "asset.snapshot": { pcId: o(NAME), hostname: o(NAME) },
  "asset.hardware_changed": { component: o(NAME), change: o(NAME), key: o(TEXT), pcId: o(NAME) },
  "asset.unregistered": { pcId: o(NAME), hostname: o(NAME), serial: o(NAME) },
  "agent.started": {},
  "agent.stopped": {},
  "agent.silent": { lastSeen: o(ISO), missedHeartbeats: o(COUNT) },
  "agent.degraded": { reason: o(NAME) },
  "agent.selftest": {},
  "agent.check": CHECK,
  /**
   * server-made: a delivery that finally failed after its retries — a scheduled report
   * (server/reports/) or a notification (server/notify/: `rule`, the events it was about)
   */
  "agent.delivery_failed": {
    channel: o(NAME), target: o(TEXT), reportId: o(NAME), schedule: o(NAME), attempts: o(COUNT), error: o(TEXT),
    rule: o(NAME), eventIds: o(list(COUNT)), total: o(COUNT),
  },
};

function zodOf(kind: Kind): z.ZodType {
  switch (kind.k) {
    case "string": return z.string().max(kind.max);
    case "int": return z.number().int().min(kind.min).max(kind.max);
    case "number": return z.number().min(kind.min);
    case "bool": return z.boolean();
    case "enum": return z.enum(kind.values as [string, ...string[]]);
    case "stringOrNumber": return z.union([z.string().max(kind.max), z.number()]);
    case "array": return z.array(zodOf(kind.of)).max(kind.max);
    case "object": return zodObject(kind.fields);
    case "any": return z.unknown();
  }
}

function zodObject(spec: FieldSpec): z.ZodType<Details> {
  return z.looseObject(Object.fromEntries(Object.entries(spec).map(([k, f]) => [k, f.required ? zodOf(f.kind) : zodOf(f.kind).nullable().optional()])));
}

/** The same rules as zod schemas (documentation, OpenAPI, property-based fuzz generators). */
export const DETAILS_SCHEMAS: Record<EventType, z.ZodType<Details>> = Object.fromEntries(
  EVENT_TYPES.map((t) => [t, zodObject(DETAILS_SPEC[t])]),
) as Record<EventType, z.ZodType<Details>>;

for (const t of EVENT_TYPES) if (!DETAILS_SPEC[t]) throw new Error(`details spec missing for ${t}`);

function kindIssue(kind: Kind, v: unknown): string | undefined {
  switch (kind.k) {
    case "string":
      return typeof v === "string" && v.length <= kind.max ? undefined : `expected a string of at most ${kind.max} characters`;
    case "int":
      return typeof v === "number" && Number.isInteger(v) && v >= kind.min && v <= kind.max ? undefined : `expected an integer from ${kind.min} to ${kind.max}`;
    case "number":
      return typeof v === "number" && v >= kind.min ? undefined : `expected a number ≥ ${kind.min}`;
    case "bool":
      return typeof v === "boolean" ? undefined : "expected true or false";
    case "enum":
      return typeof v === "string" && kind.values.includes(v) ? undefined : `expected one of ${kind.values.join(", ")}`;
    case "stringOrNumber":
      return typeof v === "number" || (typeof v === "string" && v.length <= kind.max) ? undefined : `expected a number or a string of at most ${kind.max} characters`;
    case "array":
      return Array.isArray(v) && v.length <= kind.max ? undefined : `expected an array of at most ${kind.max} items`;
    case "object":
      return typeof v === "object" && v !== null && !Array.isArray(v) ? undefined : "expected an object";
    case "any":
      return undefined;
  }
}

/** The first field of `spec` that `value` gets wrong, as {path, message}. Bounds were checked before. */
export function fieldsIssue(spec: FieldSpec, value: Record<string, unknown>, path: string): DetailIssue | undefined {
  for (const key in spec) {
    const f = spec[key]!;
    const v = value[key];
    if (v === undefined || v === null) {
      if (f.required) return { path: `${path}.${key}`, message: v === null ? "must not be null" : "required" };
      continue;
    }
    const issue = kindIssue(f.kind, v);
    if (issue) return { path: `${path}.${key}`, message: issue };
    const inner = nestedIssue(f.kind, v, `${path}.${key}`);
    if (inner) return inner;
  }
  return undefined;
}

function nestedIssue(kind: Kind, v: unknown, path: string): DetailIssue | undefined {
  if (kind.k === "object") return fieldsIssue(kind.fields, v as Record<string, unknown>, path);
  if (kind.k !== "array" || kind.of.k === "any") return undefined;
  const items = v as unknown[];
  for (let i = 0; i < items.length; i++) {
    const item = items[i];
    const issue = item === null || item === undefined ? "expected a value, not null" : kindIssue(kind.of, item);
    if (issue) return { path: `${path}.${i}`, message: issue };
    const inner = nestedIssue(kind.of, item, `${path}.${i}`);
    if (inner) return inner;
  }
  return undefined;
}

export type CheckedEvent = { ok: true; event: AgentEvent; detailsJson: string } | ({ ok: false } & DetailIssue);

/** Server-only types, refused from agents (set by the catalog's `origin: server`). */
export interface CheckOptions {
  serverOnly?: ReadonlySet<string>;
}

const TYPES: ReadonlySet<string> = new Set(EVENT_TYPES);
const EVENT_KEYS = 4; // seq, type, observedAt, details
/** the shape z.iso.datetime({offset: true}) accepts; a fast pre-check, zod has the last word */
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})$/;

/** The envelope the fast way; undefined when it is not a plain valid event (zod then says why). */
function fastEnvelope(input: unknown): AgentEvent | undefined {
  if (typeof input !== "object" || input === null || Array.isArray(input)) return undefined;
  const e = input as Record<string, unknown>;
  const { seq, type, observedAt, details } = e;
  if (typeof seq !== "number" || !Number.isSafeInteger(seq) || seq <= 0) return undefined;
  if (typeof type !== "string" || !TYPES.has(type)) return undefined;
  if (typeof observedAt !== "string" || observedAt.length > 64 || !ISO_TIME.test(observedAt) || Number.isNaN(Date.parse(observedAt))) return undefined;
  if (typeof details !== "object" || details === null || Array.isArray(details)) return undefined;
  let n = 0;
  for (const _ in e) n++;
  return n === EVENT_KEYS ? (e as AgentEvent) : undefined;
}

/**
 * Validate one event (`{seq, type, observedAt, details}`) completely: envelope, bounds, size, the
 * type's fields, and that an agent may send this type. Never throws.
 */
export function checkEvent(input: unknown, opts: CheckOptions = {}): CheckedEvent {
  let e = fastEnvelope(input);
  if (!e) {
    const env = AgentEvent.safeParse(input);
    if (!env.success) {
      const issue = env.error.issues[0]!;
      return { ok: false, path: issue.path.length ? issue.path.join(".") : "(event)", message: issue.message.slice(0, 300) };
    }
    e = env.data;
  }
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
  const field = fieldsIssue(DETAILS_SPEC[e.type], e.details, "details");
  if (field) return { ok: false, ...field };
  return { ok: true, event: e, detailsJson };
}
