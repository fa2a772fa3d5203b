/**
 * The live stream (`/api/stream`, WebSocket): every stored event (after its commit) and every
 * agent status change, one JSON message each. The admin token comes as `?token=` or as
 * `Authorization: Bearer`; without it the socket is closed with 4401.
 */
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { WebSocket, WebSocketServer } from "ws";
import type { Logger } from "../lib/log.js";
import { CloseCode, type StoredEvent } from "../policies/schema.js";
import { bearer, secretEquals } from "./tokens.js";

/** A stream client that cannot keep up (this many bytes unsent) is dropped. */
const MAX_BUFFERED_BYTES = 16 * 1024 * 1024;

export interface AgentStatusMessage {
  kind: "agent";
  id: string;
  online: boolean;
  lastSeen: string | null;
}

export class LiveStream {
  private readonly wss: WebSocketServer;
  private readonly clients = new Set<WebSocket>();

  constructor(private readonly adminToken: string, private readonly log: Logger) {
    this.wss = new WebSocketServer({ noServer: true, maxPayload: 64 * 1024, perMessageDeflate: false });
  }

  get hasClients(): boolean {
    return this.clients.size > 0;
  }

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, url: URL): void {
    const token = url.searchParams.get("token") ?? bearer(req.headers.authorization);
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      ws.on("error", (err) => this.log.warn({ err, remote: req.socket.remoteAddress }, "stream client error"));
      if (token === undefined || token === null || !secretEquals(token, this.adminToken)) {
        this.log.warn({ remote: req.socket.remoteAddress }, "stream client refused: missing or wrong admin token (closed 4401)");
        ws.close(CloseCode.unauthorized, "unauthorized");
        return;
      }
      this.clients.add(ws);
      ws.on("close", () => this.clients.delete(ws));
      // The stream is one-way; anything a client sends is ignored.
    });
  }

  broadcastEvents(events: StoredEvent[]): void {
    if (!this.clients.size) return;
    for (const event of events) this.send(JSON.stringify({ kind: "event", event }));
  }

  broadcastAgent(status: AgentStatusMessage): void {
    if (!this.clients.size) return;
    this.send(JSON.stringify(status));
  }

  private send(text: string): void {
    for (const ws of this.clients) {
      if (ws.readyState !== WebSocket.OPEN) continue;
      if (ws.bufferedAmount > MAX_BUFFERED_BYTES) {
        this.log.warn("stream client too slow (16 MiB unsent); dropped");
        ws.terminate();
        this.clients.delete(ws);
        continue;
      }
      ws.send(text);
    }
  }

  close(): void {
    for (const ws of this.clients) ws.close(CloseCode.goingAway, "server stopping");
    this.clients.clear();
    this.wss.close();
  }
}
