/**
 * fast-check generators for the fuzz suite: agent protocol frames and HTTP requests that know the
 * schemas (policies/schema.ts, policies/details.ts, the route index) and are valid-but-hostile —
 * the right shape with the wrong thing inside: wrong types in every field, huge strings, deep
 * nesting, any unicode (lone surrogates too), NaN-like numbers, forged ids, server-only types,
 * objects with a toString, prototype keys.
 */
import fc from "fast-check";
import { DETAILS_SCHEMAS } from "../../policies/details.js";
import { EVENT_TYPES, type EventType } from "../../policies/schema.js";

/**
 * JSON nested `depth` deep ({"a":{"a":…}} or [[…]]), as a marker replaced by the raw text in
 * `toText`: building and stringifying thousands of levels as objects would overflow the
 * generator's own stack; the server gets the real nesting.
 */
export function nested(depth: number, array: boolean): unknown {
  return `@@DEEP:${depth}:${array ? 1 : 0}@@`;
}

/** JSON text of a generated value, deep-nesting markers expanded. */
export function toText(value: unknown): string {
  const text = JSON.stringify(value) ?? "null";
  return text.replace(/"@@DEEP:(\d+):([01])@@"/g, (_m, d: string, a: string) => {
    const n = Number(d);
    return a === "1" ? "[".repeat(n) + "]".repeat(n) : '{"a":'.repeat(n) + '"bottom"' + "}".repeat(n);
  });
}

/** Strings that stress matchers and bounds: globs' worst cases, control characters, any unicode. */
const hostileString: fc.Arbitrary<string> = fc.oneof(
  { weight: 6, arbitrary: fc.string({ maxLength: 40 }) },
  { weight: 3, arbitrary: fc.string({ unit: "binary", maxLength: 40 }) },
  { weight: 2, arbitrary: fc.string({ unit: "grapheme", maxLength: 20 }) },
  { weight: 2, arbitrary: fc.constantFrom("*", "**", "?", "*a*b*c*", "%00", "\u0000", "\u202e", "\ud800", "../../etc/passwd", "'; DROP TABLE events; --",
    "=HYPERLINK(\"http://x\")", "winny", "Share.exe", "pc-00000000000000000000000000000000", "__proto__", "constructor") },
);

/** Values past every bound: huge strings (glob worst cases), deep nesting, wide objects, long arrays. */
const hugeValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.integer({ min: 1025, max: 5000 }).map((n) => "a".repeat(n)),
  fc.integer({ min: 4097, max: 120_000 }).map((n) => "bit".repeat(Math.ceil(n / 3)).slice(0, n)),
  fc.tuple(fc.integer({ min: 9, max: 7000 }), fc.boolean()).map(([d, a]) => nested(d, a)),
  fc.integer({ min: 257, max: 400 }).map((n) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, i]))),
  fc.constant(Array.from({ length: 10_001 }, () => 0)),
  fc.constant({ ["k".repeat(300)]: 1 }),
);

/** Numbers JSON can carry that code often mishandles (NaN/Infinity become null in JSON.stringify). */
const hostileNumber: fc.Arbitrary<number> = fc.oneof(
  fc.integer(), fc.double(),
  fc.constantFrom(-0, Number.MAX_SAFE_INTEGER + 2, Number.MAX_VALUE, -Number.MAX_VALUE, Number.MIN_VALUE, 65536, -1, 2 ** 31, 1e21),
);

/** A small value of any JSON type, chosen to hurt (wrong types, toString objects, prototype keys). */
const smallHostile: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { weight: 8, arbitrary: hostileString },
    { weight: 4, arbitrary: hostileNumber },
    { weight: 2, arbitrary: fc.boolean() },
    { weight: 2, arbitrary: fc.constant(null) },
    { weight: 2, arbitrary: fc.constantFrom<unknown>({ toString: 1 }, { toString: "x" }, { valueOf: {} }, { toJSON: 1 }, { length: -1 },
      JSON.parse('{"__proto__": {"polluted": true}}'), { constructor: { prototype: { polluted: true } } }) },
    { weight: 2, arbitrary: fc.array(tie("value"), { maxLength: 3, depthIdentifier: "v" }) },
    { weight: 2, arbitrary: fc.dictionary(hostileString, tie("value"), { maxKeys: 3, depthIdentifier: "v" }) },
  ),
})).value;

/** A value of any JSON type, chosen to hurt; now and then one past every bound. */
export const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 60, arbitrary: smallHostile },
  { weight: 1, arbitrary: hugeValue },
);

/** The fields each type's details schema reads (they get hostile values most often). */
const FIELDS: Record<string, string[]> = Object.fromEntries(EVENT_TYPES.map((t) => {
  const shape = (DETAILS_SCHEMAS[t] as unknown as { shape?: Record<string, unknown> }).shape ?? {};
  return [t, Object.keys(shape)];
}));

const plausible: Record<string, fc.Arbitrary<unknown>> = {
  name: fc.constantFrom("vim", "winny", "bittorrent client", "Share.exe", "code"),
  version: fc.constantFrom("1.0", "9.1", "2.0.0-beta"),
  port: fc.integer({ min: 0, max: 65535 }),
};

function detailsFor(type: string): fc.Arbitrary<unknown> {
  const fields = FIELDS[type] ?? [];
  const fieldValue = (f: string): fc.Arbitrary<unknown> => fc.oneof(
    { weight: 3, arbitrary: hostileValue },
    { weight: 1, arbitrary: plausible[f] ?? hostileString },
  );
  const known = fields.length
    ? fc.record(Object.fromEntries(fields.map((f) => [f, fieldValue(f)])), { requiredKeys: [] })
    : fc.constant({});
  return fc.oneof(
    { weight: 8, arbitrary: fc.tuple(known, fc.dictionary(hostileString, hostileValue, { maxKeys: 3 })).map(([k, extra]) => ({ ...extra, ...k })) },
    { weight: 1, arbitrary: hostileValue }, // details not an object at all
  );
}

/** built once: a chain() per generated event would rebuild these every time */
const DETAILS_ARBS: Record<string, fc.Arbitrary<unknown>> = Object.fromEntries(EVENT_TYPES.map((t) => [t, detailsFor(t)]));

const isoNow = fc.integer({ min: -1000, max: 1000 }).map((d) => new Date(Date.now() + d * 1000).toISOString());

/** One event of an `events` frame: envelope mostly valid, details hostile. */
export const hostileEvent: fc.Arbitrary<unknown> = fc.tuple(
  fc.oneof({ weight: 12, arbitrary: fc.integer({ min: 1, max: 1_000_000 }) }, { weight: 1, arbitrary: hostileValue }),
  fc.oneof({ weight: 12, arbitrary: fc.constantFrom<string>(...EVENT_TYPES) }, { weight: 1, arbitrary: hostileValue }),
  fc.oneof({ weight: 12, arbitrary: isoNow }, { weight: 1, arbitrary: hostileValue }),
  fc.oneof(...EVENT_TYPES.map((t) => DETAILS_ARBS[t]!)),
  fc.oneof({ weight: 20, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.record({ agentId: hostileString }) }),
).map(([seq, type, observedAt, details, extra]) => ({ seq, type, observedAt, details, ...(extra as object | undefined) }));

export interface FrameContext {
  agentId: string;
  /** another agent's id, for forged hellos */
  otherAgentId: string;
}

/**
 * A raw frame (text) an enrolled agent could send after its hello. Mostly `events` frames whose
 * events are hostile one by one (refused alone in the ack); some frames that must close the socket.
 */
export function frameArb(ctx: FrameContext): fc.Arbitrary<string> {
  const hello = fc.record({
    t: fc.constant("hello"),
    agentId: fc.oneof({ weight: 4, arbitrary: fc.constant(ctx.agentId) }, { weight: 1, arbitrary: fc.constant(ctx.otherAgentId) }, { weight: 1, arbitrary: hostileValue }),
    hostname: fc.oneof({ weight: 3, arbitrary: fc.constant("fuzz-pc") }, { weight: 1, arbitrary: hostileValue }),
    os: fc.oneof({ weight: 3, arbitrary: fc.constant("linux") }, { weight: 1, arbitrary: hostileValue }),
    version: fc.oneof({ weight: 3, arbitrary: fc.constant("0.1.0") }, { weight: 1, arbitrary: hostileValue }),
    policyVersion: fc.oneof(fc.constant(null), fc.integer({ min: 0, max: 10 }), hostileValue),
    lastSeq: fc.oneof(fc.integer({ min: 0, max: 1000 }), hostileValue),
  }).map((m) => toText(m));
  const events = fc.array(hostileEvent, { minLength: 1, maxLength: 6 }).map((evs) => toText({ t: "events", events: evs }));
  const heartbeat = fc.oneof(isoNow, hostileValue).map((at) => toText({ t: "heartbeat", at }));
  const bye = fc.oneof(fc.constant("fuzz"), hostileValue).map((reason) => toText({ t: "bye", reason }));
  const serverTypes = fc.constantFrom("welcome", "ack", "policy", "error", "subscribe", "", "__proto__")
    .chain((t) => hostileValue.map((v) => toText({ t, seq: 1, events: v, policy: v })));
  const junk = fc.oneof(
    fc.constantFrom("{not json", "", "null", "[]", "1e999", "-0", "NaN", "\"events\"", "{\"t\":\"events\",\"events\":[]}",
      "{\"t\":\"events\",\"events\":[{\"seq\":1e999}]}", `{"t":"events","events":${"[".repeat(5000)}${"]".repeat(5000)}}`),
    fc.string({ unit: "binary", maxLength: 50 }),
  );
  return fc.oneof(
    { weight: 80, arbitrary: events },
    { weight: 6, arbitrary: heartbeat },
    { weight: 4, arbitrary: hello },
    { weight: 4, arbitrary: serverTypes },
    { weight: 4, arbitrary: junk },
    { weight: 1, arbitrary: bye },
  );
}

/** Route templates from GET /api (`/api/agents/:id/revoke`…) and methods to try on them. */
export interface RouteTemplate { method: string; path: string }

export interface HttpRequestSpec {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string | Buffer;
}

const pathValue: fc.Arbitrary<string> = fc.oneof(hostileString, fc.constantFrom("1", "0", "-1", "1e999", "%", "%2e%2e", "..", "nobody"))
  .map((s) => (s.length > 2000 ? s.slice(0, 2000) : s));

function encodeLoose(s: string): string {
  // sometimes percent-encoded, sometimes raw (the server must cope with both)
  try {
    return encodeURIComponent(s);
  } catch {
    return "%ZZ"; // lone surrogates cannot be encoded: send a broken escape instead
  }
}

/**
 * HTTP requests over the server's own route list: every method on every path, path parameters
 * and query values hostile, bodies hostile JSON, YAML (aliases, bombs), CSV (formulas), bytes.
 */
export function requestArb(routes: RouteTemplate[], auth: { admin: string }, protect: (path: string) => boolean): fc.Arbitrary<HttpRequestSpec> {
  const yaml = fc.constantFrom(
    "heartbeatSeconds: *nope\n", "a: &a [*a]\n", "a: &a x\nb: [*a,*a,*a,*a,*a,*a,*a,*a]\nc: [*b,*b,*b,*b]\n", "- - - - - - - - - -\n", ": :\n\t\tx",
    "heartbeatSeconds: 1e999\n", "software:\n  prohibited: [{name: '*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b'}]\n", "!!js/function 'return 1'\n", "%YAML 9.9\n---\n",
  );
  const csv = fc.tuple(hostileString, hostileString).map(([a, b]) => `資産番号,ホスト名,製造番号\n=${a},${b},"unterminated\n`);
  const jsonBody = hostileValue.map((v) => toText(v));
  const body = fc.oneof(
    { weight: 6, arbitrary: jsonBody.map((b) => ({ body: b, type: "application/json" })) },
    { weight: 2, arbitrary: yaml.map((b) => ({ body: b, type: "text/yaml" })) },
    { weight: 1, arbitrary: csv.map((b) => ({ body: b, type: "text/csv" })) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 200 }).map((b) => ({ body: Buffer.from(b), type: "application/octet-stream" })) },
    { weight: 1, arbitrary: jsonBody.map((b) => ({ body: b, type: "text/plain; charset=shift_jis" })) },
    { weight: 1, arbitrary: fc.constant({ body: "{\"a\":" + "[".repeat(20_000), type: "application/json" }) },
  );
  const query = fc.array(fc.tuple(fc.constantFrom("limit", "since", "control", "type", "agent", "status", "cursor", "format", "from", "to", "all", "mode", "token", "x"),
    fc.oneof(pathValue, fc.constantFrom("100", "0", "-5", "99999999999", "software", "software.installed", "csv", "ndjson", "1"))), { maxLength: 4 })
    .map((pairs) => (pairs.length ? "?" + pairs.map(([k, v]) => `${k}=${encodeLoose(v)}`).join("&") : ""));
  const authHeader = fc.oneof(
    { weight: 12, arbitrary: fc.constant(`Bearer ${auth.admin}`) },
    { weight: 1, arbitrary: fc.constantFrom("", "Bearer", "Bearer ", "Basic YTpi", `Bearer ${auth.admin}x`, "Bearer \u00ff") },
  );
  const route = fc.constantFrom(...routes);
  return fc.tuple(route, fc.constantFrom("GET", "POST", "PUT", "DELETE", "PATCH"), fc.nat({ max: 9 }), fc.array(pathValue, { minLength: 3, maxLength: 3 }),
    query, authHeader, body)
    .map(([r, otherMethod, useOther, params, q, authorization, b]) => {
      let i = 0;
      let path = r.path.replace(/:[a-zA-Z]+/g, () => encodeLoose(params[i++]!));
      if (protect(path)) path = r.path.replace(/:[a-zA-Z]+/g, "nobody");
      const method = useOther === 0 ? otherMethod : r.method;
      const headers: Record<string, string> = {};
      if (authorization) headers.authorization = authorization;
      const hasBody = method !== "GET" && method !== "DELETE";
      if (hasBody) headers["content-type"] = b.type;
      return { method, path: path + q, headers, ...(hasBody ? { body: b.body } : {}) };
    });
}

export type { EventType };
