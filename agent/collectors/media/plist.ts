/**
 * A minimal XML property-list reader (no I/O) for `diskutil … -plist` output: dict, array,
 * string, integer, real, true, false, date, data. Anything else is skipped.
 */
export type PlistValue = string | number | boolean | PlistValue[] | { [key: string]: PlistValue } | null;

function decodeEntities(s: string): string {
  return s.replace(/&(lt|gt|amp|quot|apos|#(\d+)|#x([0-9a-fA-F]+));/g, (_m, name: string, dec?: string, hex?: string) => {
    if (dec) return String.fromCodePoint(Number(dec));
    if (hex) return String.fromCodePoint(parseInt(hex, 16));
    return ({ lt: "<", gt: ">", amp: "&", quot: '"', apos: "'" } as Record<string, string>)[name] ?? "";
  });
}

interface Token {
  kind: "open" | "close" | "empty" | "text";
  name: string;
  text: string;
}

function tokenize(xml: string): Token[] {
  const tokens: Token[] = [];
  const re = /<(\/?)([A-Za-z][\w.-]*)[^>]*?(\/?)>|<\?[\s\S]*?\?>|<!DOCTYPE[^>]*>|<!--[\s\S]*?-->|([^<]+)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(xml))) {
    if (m[4] !== undefined) tokens.push({ kind: "text", name: "", text: m[4] });
    else if (m[2]) tokens.push({ kind: m[1] ? "close" : m[3] ? "empty" : "open", name: m[2], text: "" });
  }
  return tokens;
}

/** Parse an XML plist; returns the root value, or throws on text that is not a plist. */
export function parsePlist(xml: string): PlistValue {
  const tokens = tokenize(xml);
  let i = 0;
  const skipText = (): void => {
    while (i < tokens.length && tokens[i]!.kind === "text" && !tokens[i]!.text.trim()) i++;
  };
  const readText = (name: string): string => {
    let s = "";
    while (i < tokens.length && !(tokens[i]!.kind === "close" && tokens[i]!.name === name)) {
      if (tokens[i]!.kind === "text") s += tokens[i]!.text;
      i++;
    }
    i++; // the close tag
    return decodeEntities(s);
  };
  const value = (): PlistValue => {
    skipText();
    const t = tokens[i++];
    if (!t) throw new Error("plist: unexpected end");
    if (t.kind === "empty") {
      if (t.name === "true") return true;
      if (t.name === "false") return false;
      if (t.name === "dict") return {};
      if (t.name === "array") return [];
      if (t.name === "string") return "";
      return null;
    }
    if (t.kind !== "open") throw new Error(`plist: unexpected ${t.kind} ${t.name}`);
    switch (t.name) {
      case "plist": {
        skipText();
        const v = tokens[i]?.kind === "close" ? null : value();
        skipText();
        if (tokens[i]?.kind === "close" && tokens[i]!.name === "plist") i++;
        return v;
      }
      case "dict": {
        const out: { [key: string]: PlistValue } = {};
        for (;;) {
          skipText();
          const k = tokens[i];
          if (!k) throw new Error("plist: unterminated dict");
          if (k.kind === "close" && k.name === "dict") {
            i++;
            return out;
          }
          if (k.kind === "empty" && k.name === "key") {
            i++;
            out[""] = value();
            continue;
          }
          if (k.kind !== "open" || k.name !== "key") throw new Error(`plist: expected key, got ${k.name}`);
          i++;
          const key = readText("key");
          out[key] = value();
        }
      }
      case "array": {
        const out: PlistValue[] = [];
        for (;;) {
          skipText();
          const k = tokens[i];
          if (!k) throw new Error("plist: unterminated array");
          if (k.kind === "close" && k.name === "array") {
            i++;
            return out;
          }
          out.push(value());
        }
      }
      case "integer":
      case "real": {
        const n = Number(readText(t.name).trim());
        return Number.isFinite(n) ? n : null;
      }
      case "string":
      case "date":
      case "data":
        return readText(t.name);
      default:
        readText(t.name);
        return null;
    }
  };
  skipText();
  if (!tokens.some((t) => t.name === "plist" || t.name === "dict")) throw new Error("plist: not a property list");
  return value();
}

export function asDict(v: PlistValue | undefined): { [key: string]: PlistValue } | null {
  return v && typeof v === "object" && !Array.isArray(v) ? v : null;
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
