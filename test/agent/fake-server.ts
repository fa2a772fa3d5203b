/**
 * A small fake of the aggregation server for the agent runtime tests: it speaks the agent
 * protocol (hello → welcome, events → ack), keeps what it "stored" in memory, and serves
 * POST /api/enroll. Everything on 127.0.0.1, port 0.
 */
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { WebSocketServer, type WebSocket } from "ws";
import { AgentMessage, type AgentEvent } from "../../policies/schema.js";
import { refuseUpgrade } from "../../server/upgrade.js";

export interface FakeServerOptions {
  heartbeatSeconds?: number;
  enrollToken?: string;
}

export class FakeServer {
  readonly stored = new Map<number, AgentEvent>();
  ackedSeq = 0;
  heartbeatSeconds: number;
  enrollToken: string;
  /** what to do with the next connections: accept, close with a code after hello, or refuse the upgrade */
  mode: { kind: "accept" } | { kind: "close"; code: number } | { kind: "http"; status: number; reason?: string; retryAfter?: number } = { kind: "accept" };
  /** close this many next connections right after hello (code 1011) */
  dropNextConnections = 0;
  /** acknowledge events frames automatically */
  autoAck = true;
  /** terminate the connection after receiving this many events frames in it (the last one unacked) */
  dropAfterFrames: number | undefined;
  readonly agents = new Map<string, string>(); // agentId -> secret
  enrollments = 0;
  connections = 0;
  readonly received: AgentMessage[] = [];
  readonly invalid: string[] = [];
  readonly closeCodes: number[] = [];
  /** every ack the server sent, in order */
  readonly acksSent: number[] = [];
  current: WebSocket | undefined;
  private http!: Server;
  private wss!: WebSocketServer;

  constructor(opts: FakeServerOptions = {}) {
    this.heartbeatSeconds = opts.heartbeatSeconds ?? 30;
    this.enrollToken = opts.enrollToken ?? "enroll-token-0123456789";
  }

  get url(): string {
    return `ws://127.0.0.1:${(this.http.address() as AddressInfo).port}`;
  }

  async start(port = 0): Promise<void> {
    this.http = createServer((req, res) => {
      if (req.method === "POST" && req.url === "/api/enroll") {
        let body = "";
        req.on("data", (c: Buffer) => (body += c.toString()));
        req.on("end", () => {
          const j = JSON.parse(body) as { token?: string; hostname?: string };
          if (j.token !== this.enrollToken || !j.hostname) {
            res.writeHead(401, { "content-type": "application/json" }).end(JSON.stringify({ error: "invalid enrollment token" }));
            return;
          }
          this.enrollments++;
          const agentId = `agent-${this.enrollments}`;
          const secret = `secret-${this.enrollments}-xyz`;
          this.agents.set(agentId, secret);
          res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ agentId, secret }));
        });
        return;
      }
      res.writeHead(404).end();
    });
    this.wss = new WebSocketServer({ noServer: true, perMessageDeflate: true, maxPayload: 1024 * 1024 });
    this.http.on("upgrade", (req: IncomingMessage, socket, head) => {
      socket.on("error", () => undefined); // a client reset while we refuse the upgrade is fine
      if (req.url !== "/agent") {
        socket.end("HTTP/1.1 404 Not Found\r\n\r\n");
        return;
      }
      if (this.mode.kind === "http") {
        // as the real server refuses an upgrade (server/upgrade.ts): a status and a JSON {error, code}
        const { status, reason, retryAfter } = this.mode;
        refuseUpgrade(socket, status, "refused", reason ?? "refused by the fake server", retryAfter ? { "Retry-After": String(retryAfter) } : {});
        return;
      }
      const auth = /^Bearer ([^:]+):(.+)$/.exec(req.headers.authorization ?? "");
      const known = auth && this.agents.get(auth[1]!) === auth[2];
      this.wss.handleUpgrade(req, socket, head, (ws) => this.onConnection(ws, !!known));
    });
    await new Promise<void>((r) => this.http.listen(port, "127.0.0.1", r));
  }

  /** Register a credential without going through enrollment. */
  addAgent(agentId: string, secret: string): void {
    this.agents.set(agentId, secret);
  }

  private onConnection(ws: WebSocket, known: boolean): void {
    this.connections++;
    this.current = ws;
    let frames = 0;
    ws.on("close", (code) => this.closeCodes.push(code));
    ws.on("message", (data) => {
      const text = (data as Buffer).toString("utf8");
      const parsed = AgentMessage.safeParse(JSON.parse(text));
      if (!parsed.success) {
        this.invalid.push(text);
        ws.close(4400, "bad message");
        return;
      }
      const msg = parsed.data;
      this.received.push(msg);
      if (msg.t === "hello") {
        if (!known) return void ws.close(4401, "unknown agent");
        if (this.mode.kind === "close") return void ws.close(this.mode.code, "refused");
        if (this.dropNextConnections > 0) {
          this.dropNextConnections--;
          return void ws.close(1011, "try again");
        }
        ws.send(JSON.stringify({ t: "welcome", ackedSeq: this.ackedSeq, heartbeatSeconds: this.heartbeatSeconds, serverTime: new Date().toISOString() }));
      } else if (msg.t === "events") {
        frames++;
        if (this.dropAfterFrames !== undefined && frames >= this.dropAfterFrames) {
          this.dropAfterFrames = undefined;
          ws.terminate(); // the frame is lost: neither stored nor acked
          return;
        }
        for (const e of msg.events) this.stored.set(e.seq, e as AgentEvent);
        if (this.autoAck) this.ack(msg.events.at(-1)!.seq);
      }
    });
  }

  /** refuse these seqs (ack.rejected) like the real server refuses an invalid event */
  readonly rejectSeqs = new Set<number>();

  ack(seq: number): void {
    this.ackedSeq = Math.max(this.ackedSeq, seq);
    this.acksSent.push(seq);
    const rejected = [...this.rejectSeqs].filter((s) => s <= seq).map((s) => ({ seq: s, path: "details.name", message: "refused by the fake server" }));
    for (const r of rejected) this.rejectSeqs.delete(r.seq);
    this.current?.send(JSON.stringify(rejected.length ? { t: "ack", seq, rejected } : { t: "ack", seq }));
  }

  send(msg: unknown): void {
    this.current?.send(typeof msg === "string" ? msg : JSON.stringify(msg));
  }

  eventsOfType(type: string): AgentEvent[] {
    return [...this.stored.values()].filter((e) => e.type === type);
  }

  async stop(): Promise<void> {
    for (const c of this.wss.clients) c.terminate();
    await new Promise<void>((r) => this.wss.close(() => r()));
    this.http.closeAllConnections();
    await new Promise<void>((r) => this.http.close(() => r()));
  }
}
