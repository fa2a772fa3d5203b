/**
 * WebSocket upgrades on the one HTTP(S) server: `/agent` (agents) and `/api/stream` (live stream).
 * Everything that can refuse a connection does it here, at the HTTP level, before any 101:
 * the connection caps (503 server full, 429 too many from one address), then each endpoint's
 * authentication (401 missing or wrong credential, 403 revoked, 429 too many failures).
 */
import { STATUS_CODES, type IncomingMessage, type Server } from "node:http";
import type { Duplex } from "node:stream";
import type { Logger } from "../lib/log.js";
import { ConnectionGate, LogSampler } from "./limits.js";

/** Answer an upgrade request with a plain HTTP error (JSON `{error, code}`) and close the socket. */
export function refuseUpgrade(socket: Duplex, status: number, code: string, message: string, headers: Record<string, string> = {}): void {
  if (socket.destroyed) return;
  const body = JSON.stringify({ error: message, code });
  const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join("");
  socket.once("finish", () => socket.destroy());
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? "Error"}\r\nConnection: close\r\nContent-Type: application/json; charset=utf-8\r\n` +
    `Cache-Control: no-store\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extra}\r\n${body}`,
  );
}

/** An endpoint that takes upgrades (its connection slot is released when the socket closes). */
export interface UpgradeEndpoint {
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, url: URL): void;
}

export interface UpgradeRoutes {
  server: Server;
  gate: ConnectionGate;
  endpoints: Record<string, UpgradeEndpoint>;
  log: Logger;
}

/** Route `upgrade` events of `server` to the endpoints, behind the connection gate. */
export function routeUpgrades({ server, gate, endpoints, log }: UpgradeRoutes): void {
  const sampler = new LogSampler(5, 60_000);
  server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on("error", (err) => log.debug({ err: err.message }, "upgrade socket error"));
    try {
      let url: URL;
      try {
        url = new URL(req.url ?? "/", "http://localhost");
      } catch {
        refuseUpgrade(socket, 400, "bad_request", "bad request URL");
        return;
      }
      const endpoint = Object.hasOwn(endpoints, url.pathname) ? endpoints[url.pathname] : undefined;
      if (!endpoint) {
        refuseUpgrade(socket, 404, "not_found", `no WebSocket endpoint at ${url.pathname}`);
        return;
      }
      const remote = req.socket.remoteAddress ?? "?";
      const slot = gate.acquire(remote);
      if (typeof slot !== "function") {
        const s = sampler.sample(`${slot.status}:${remote}`);
        if (s) log.warn({ remote, path: url.pathname, status: slot.status, open: gate.open, suppressed: s.suppressed }, `WebSocket upgrade refused: ${slot.message}`);
        refuseUpgrade(socket, slot.status, slot.status === 503 ? "server_full" : "too_many_connections", slot.message, { "Retry-After": "30" });
        return;
      }
      socket.once("close", slot);
      endpoint.handleUpgrade(req, socket, head, url);
    } catch (err) {
      // last resort for this one connection: the process keeps running
      log.error({ err }, "WebSocket upgrade failed; connection dropped");
      socket.destroy();
    }
  });
}
