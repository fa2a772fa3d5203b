/**
 * The dashboard talks to the server only over the HTTP API and /api/stream. Two ways in: a
 * dashboard session (cookie set by POST /api/login, CSRF token sent back on every state-changing
 * request) or an API token (the admin token or a personal token) kept for this tab only.
 */
import type { StoredEvent } from "../../policies/schema.js";

export type { StoredEvent };

export interface Me {
  login: string;
  role: "admin" | "approver" | "desk" | "contractor" | "auditor";
  organisation: string | null;
  organisationName?: string | null;
  csrfToken?: string;
}

export class ApiError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

const TOKEN_KEY = "kyoka.token";
let csrfToken: string | undefined;

export function apiToken(): string | null {
  try {
    return sessionStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

export function setApiToken(token: string | null): void {
  try {
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    /* ignore */
  }
}

export function setCsrf(token: string | undefined): void {
  csrfToken = token;
}

export interface ApiResult<T> {
  body: T;
  headers: Headers;
}

export async function call<T>(path: string, init: { method?: string; body?: unknown; raw?: BodyInit; contentType?: string } = {}): Promise<ApiResult<T>> {
  const headers: Record<string, string> = { accept: "application/json" };
  const token = apiToken();
  if (token) headers.authorization = `Bearer ${token}`;
  const method = init.method ?? "GET";
  if (method !== "GET" && csrfToken) headers["x-csrf-token"] = csrfToken;
  let body: BodyInit | undefined;
  if (init.raw !== undefined) {
    body = init.raw;
    if (init.contentType) headers["content-type"] = init.contentType;
  } else if (init.body !== undefined) {
    body = JSON.stringify(init.body);
    headers["content-type"] = "application/json";
  }
  const res = await fetch(path, { method, headers, body, credentials: "same-origin" });
  const text = await res.text();
  let parsed: unknown = null;
  if (text) {
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = text;
    }
  }
  if (!res.ok) {
    const msg = parsed && typeof parsed === "object" && "error" in parsed ? String((parsed as { error: unknown }).error) : `HTTP ${res.status}`;
    throw new ApiError(res.status, msg);
  }
  return { body: parsed as T, headers: res.headers };
}

export async function get<T>(path: string): Promise<T> {
  return (await call<T>(path)).body;
}

export async function post<T>(path: string, body?: unknown): Promise<T> {
  return (await call<T>(path, { method: "POST", body: body ?? {} })).body;
}

/** `Link: <url>; rel="next"` → url */
export function nextLink(headers: Headers): string | undefined {
  const link = headers.get("link");
  if (!link) return undefined;
  for (const part of link.split(",")) {
    const m = /<([^>]+)>\s*;\s*rel="?next"?/.exec(part);
    if (m) return m[1];
  }
  return undefined;
}

export async function login(loginId: string, password: string): Promise<Me> {
  const me = await post<Me>("/api/login", { login: loginId, password });
  setApiToken(null);
  setCsrf(me.csrfToken);
  return me;
}

export async function logout(): Promise<void> {
  if (!apiToken()) await post("/api/logout").catch(() => undefined);
  setApiToken(null);
  setCsrf(undefined);
}

/**
 * Who is logged in: GET /api/me. With the bootstrap admin token (no user behind it) a server
 * that has no /api/me yet still lets the admin in.
 */
export async function whoAmI(): Promise<Me | null> {
  try {
    const me = await get<Me>("/api/me");
    setCsrf(me.csrfToken);
    return me;
  } catch (err) {
    if (err instanceof ApiError && err.status === 404 && apiToken()) {
      await get("/api/agents"); // the token works: an admin token on a server without users
      return { login: "admin", role: "admin", organisation: null };
    }
    if (err instanceof ApiError && (err.status === 401 || err.status === 403)) return null;
    throw err;
  }
}

export type StreamMessage =
  | { kind: "event"; event: StoredEvent }
  | { kind: "agent"; id: string; online: boolean; lastSeen: string | null };

/** /api/stream with reconnection; the session cookie or the token authenticates it. */
export function openStream(onMessage: (m: StreamMessage) => void, onState: (live: boolean) => void): () => void {
  let ws: WebSocket | undefined;
  let stopped = false;
  let retry = 500;
  let timer: number | undefined;
  const connect = (): void => {
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    const token = apiToken();
    ws = new WebSocket(`${proto}//${location.host}/api/stream${token ? `?token=${encodeURIComponent(token)}` : ""}`);
    ws.onopen = () => {
      retry = 500;
      onState(true);
    };
    ws.onmessage = (e) => {
      try {
        onMessage(JSON.parse(String(e.data)) as StreamMessage);
      } catch {
        /* a frame we cannot read is skipped */
      }
    };
    ws.onclose = () => {
      onState(false);
      if (stopped) return;
      timer = window.setTimeout(connect, retry);
      retry = Math.min(retry * 2, 15_000);
    };
  };
  connect();
  return () => {
    stopped = true;
    if (timer) clearTimeout(timer);
    ws?.close();
  };
}

/**
 * What a role may do, as the server's permissions (server/people/permissions.ts) say: the page
 * shows only what the API would allow (the server checks again, and filters by organisation).
 */
export const may = {
  readEvents: (me: Me): boolean => me.role !== "contractor",
  resolve: (me: Me): boolean => me.role === "admin" || me.role === "approver" || me.role === "desk",
  manageApprovals: (me: Me): boolean => me.role === "admin" || me.role === "approver",
  decideRequests: (me: Me): boolean => me.role === "admin" || me.role === "approver",
  createRequests: (me: Me): boolean => me.role !== "auditor",
  readAssets: (me: Me): boolean => me.role !== "contractor",
  readAudit: (me: Me): boolean => me.role === "admin" || me.role === "approver" || me.role === "auditor",
  /** 甲-side roles see every organisation and may switch between them */
  switchOrganisation: (me: Me): boolean => me.organisation === null && (me.role === "admin" || me.role === "approver" || me.role === "auditor"),
};

export interface Organisation { id: string; name: string; kind: "client" | "contractor" }

/** Every page of a Link-paged list, up to `max` rows (the bulk "all matching" selection). */
export async function getAllPages<T>(path: string, max: number): Promise<T[]> {
  const out: T[] = [];
  let next: string | undefined = path;
  while (next && out.length < max) {
    const r: ApiResult<T[]> = await call<T[]>(next);
    out.push(...r.body);
    next = nextLink(r.headers);
  }
  return out.slice(0, max);
}

/** Requests run a few at a time (the compliance charts ask for many counts). */
export async function pooled<T, R>(items: T[], width: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let i = 0;
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, async () => {
    while (i < items.length) {
      const k = i++;
      out[k] = await fn(items[k]!);
    }
  }));
  return out;
}

/**
 * Fetch a file with this tab's credentials (the session cookie or the API token, which a plain
 * link would not send) and save it under the server's file name.
 */
export async function download(path: string, fallbackName: string): Promise<string> {
  const headers: Record<string, string> = {};
  const token = apiToken();
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await fetch(path, { headers, credentials: "same-origin" });
  if (!res.ok) {
    const body = (await res.json().catch(() => null)) as { error?: string } | null;
    throw new ApiError(res.status, body?.error ?? `HTTP ${res.status}`);
  }
  const cd = res.headers.get("content-disposition") ?? "";
  const star = /filename\*=UTF-8''([^;]+)/i.exec(cd);
  const plain = /filename="([^"]+)"/i.exec(cd);
  const name = star ? decodeURIComponent(star[1]!) : plain ? plain[1]! : fallbackName;
  const a = document.createElement("a");
  a.href = URL.createObjectURL(await res.blob());
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
  return name;
}
