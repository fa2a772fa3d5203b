/**
 * A small reader for XML property lists (Info.plist, `plutil -convert xml1 -o - …` output).
 * Enough for bundle metadata: dict, array, string, integer, real, true, false, date, data.
 * Binary plists are not read here (the darwin reader converts them with plutil first).
 */

export type PlistValue = string | number | boolean | Date | PlistValue[] | { [key: string]: PlistValue };

export class PlistError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PlistError";
  }
}

const ENTITIES: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };

function decode(s: string): string {
  return s.replace(/&(#x[0-9a-f]+|#\d+|\w+);/gi, (all, e: string) => {
    if (e[0] === "#") return String.fromCodePoint(e[1] === "x" || e[1] === "X" ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10));
    return ENTITIES[e] ?? all;
  });
}

interface Tok {
  kind: "open" | "close" | "empty" | "text";
  name: string;
  text: string;
  at: number;
}

function tokenize(xml: string): Tok[] {
  const toks: Tok[] = [];
  let i = 0;
  while (i < xml.length) {
    const lt = xml.indexOf("<", i);
    const textEnd = lt < 0 ? xml.length : lt;
    if (textEnd > i) toks.push({ kind: "text", name: "", text: xml.slice(i, textEnd), at: i });
    if (lt < 0) break;
    if (xml.startsWith("<!--", lt)) {
      const end = xml.indexOf("-->", lt);
      if (end < 0) throw new PlistError("unterminated comment");
      i = end + 3;
      continue;
    }
    if (xml.startsWith("<![CDATA[", lt)) {
      const end = xml.indexOf("]]>", lt);
      if (end < 0) throw new PlistError("unterminated CDATA");
      toks.push({ kind: "text", name: "", text: xml.slice(lt + 9, end).replace(/&/g, "&amp;").replace(/</g, "&lt;"), at: lt });
      i = end + 3;
      continue;
    }
    if (xml.startsWith("<?", lt) || xml.startsWith("<!", lt)) {
      const end = xml.indexOf(">", lt);
      if (end < 0) throw new PlistError("unterminated declaration");
      i = end + 1;
      continue;
    }
    const gt = xml.indexOf(">", lt);
    if (gt < 0) throw new PlistError(`unterminated tag at offset ${lt}`);
    const inner = xml.slice(lt + 1, gt).trim();
    const m = /^(\/?)([A-Za-z_][\w.-]*)[^]*?(\/?)$/.exec(inner);
    if (!m) throw new PlistError(`cannot read tag <${inner.slice(0, 30)}> at offset ${lt}`);
    toks.push({ kind: m[1] ? "close" : m[3] ? "empty" : "open", name: m[2]!, text: "", at: lt });
    i = gt + 1;
  }
  return toks;
}

/** Parse an XML plist; throws PlistError on malformed input. */
export function parsePlistXml(xml: string): PlistValue {
  const toks = tokenize(xml.replace(/^\uFEFF/, ""));
  let p = 0;
  const skipWs = (): void => {
    while (p < toks.length && toks[p]!.kind === "text" && toks[p]!.text.trim() === "") p++;
  };
  const expectClose = (name: string): void => {
    skipWs();
    const t = toks[p];
    if (!t || t.kind !== "close" || t.name !== name) throw new PlistError(`expected </${name}> at offset ${t?.at ?? "end"}`);
    p++;
  };
  const textOf = (name: string): string => {
    let s = "";
    while (p < toks.length && toks[p]!.kind === "text") s += toks[p++]!.text;
    const t = toks[p];
    if (!t || t.kind !== "close" || t.name !== name) throw new PlistError(`expected </${name}> at offset ${t?.at ?? "end"}`);
    p++;
    return decode(s);
  };
  const value = (): PlistValue => {
    skipWs();
    const t = toks[p++];
    if (!t) throw new PlistError("unexpected end of plist");
    if (t.kind === "empty") {
      switch (t.name) {
        case "true": return true;
        case "false": return false;
        case "string": return "";
        case "dict": return {};
        case "array": return [];
        default: throw new PlistError(`unexpected <${t.name}/> at offset ${t.at}`);
      }
    }
    if (t.kind !== "open") throw new PlistError(`unexpected ${t.kind === "close" ? `</${t.name}>` : "text"} at offset ${t.at}`);
    switch (t.name) {
      case "string": return textOf("string");
      case "integer": {
        const s = textOf("integer").trim();
        if (!/^[+-]?\d+$/.test(s)) throw new PlistError(`bad integer "${s}"`);
        return Number(s);
      }
      case "real": {
        const s = textOf("real").trim();
        const n = Number(s);
        if (Number.isNaN(n)) throw new PlistError(`bad real "${s}"`);
        return n;
      }
      case "date": return new Date(textOf("date").trim());
      case "data": return textOf("data").replace(/\s+/g, "");
      case "true": expectClose("true"); return true;
      case "false": expectClose("false"); return false;
      case "array": {
        const out: PlistValue[] = [];
        for (;;) {
          skipWs();
          const n = toks[p];
          if (!n) throw new PlistError("unterminated <array>");
          if (n.kind === "close" && n.name === "array") { p++; return out; }
          out.push(value());
        }
      }
      case "dict": {
        const out: { [key: string]: PlistValue } = {};
        for (;;) {
          skipWs();
          const n = toks[p];
          if (!n) throw new PlistError("unterminated <dict>");
          if (n.kind === "close" && n.name === "dict") { p++; return out; }
          if (n.kind !== "open" || n.name !== "key") throw new PlistError(`expected <key> in <dict> at offset ${n.at}`);
          p++;
          const key = textOf("key");
          out[key] = value();
        }
      }
      default:
        throw new PlistError(`unknown plist element <${t.name}> at offset ${t.at}`);
    }
  };
  skipWs();
  const first = toks[p];
  if (!first) throw new PlistError("empty plist");
  let root: PlistValue;
  if (first.kind === "open" && first.name === "plist") {
    p++;
    root = value();
    expectClose("plist");
  } else root = value();
  skipWs();
  if (p < toks.length) throw new PlistError(`trailing content at offset ${toks[p]!.at}`);
  return root;
}

// Typed accessors for reading parsed plists without casts (null when absent or of another type).
export function asDict(v: PlistValue | undefined): { [key: string]: PlistValue } | null {
  return v !== null && typeof v === "object" && !Array.isArray(v) && !(v instanceof Date) ? v : null;
}
export function asArray(v: PlistValue | undefined): PlistValue[] {
  return Array.isArray(v) ? v : [];
}
export function asString(v: PlistValue | undefined): string | null {
  return typeof v === "string" && v.trim() !== "" ? v : null;
}
export function asNumber(v: PlistValue | undefined): number | null {
  return typeof v === "number" ? v : null;
}
export function asBool(v: PlistValue | undefined): boolean | null {
  return typeof v === "boolean" ? v : null;
}
