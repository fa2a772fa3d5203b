/**
 * wss:// end to end with a self-signed certificate made by the test (server --tls-cert/--tls-key,
 * agent --ca), and bad input against the real server process: each refused, nothing stored, the
 * server keeps serving everyone else.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import WebSocket from "ws";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { removeDir, startAgent, startServer, tempDir, waitFor, type Proc } from "../helpers/kyoka.js";

interface ApiEvent { id: number; agentId: string; type: string; details: Record<string, unknown> }
interface ApiAgent { id: string; online: boolean }

const dirs: string[] = [];
const procs: Proc[] = [];
function dir(): string { const d = tempDir(); dirs.push(d); return d; }
afterEach(async () => { await Promise.all(procs.splice(0).map((p) => p.kill("SIGKILL"))); });
afterAll(() => dirs.forEach(removeDir));

function selfSigned(d: string): { cert: string; key: string } {
  const cert = join(d, "cert.pem");
  const key = join(d, "key.pem");
  execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", key, "-out", cert], { stdio: "ignore" });
  return { cert, key };
}

describe("TLS", () => {
  it("an agent trusting the given CA enrolls and delivers over https/wss; one without it is refused", async () => {
    const d = dir();
    const { cert, key } = selfSigned(d);
    const server = await startServer({ dataDir: dir(), extra: ["--tls-cert", cert, "--tls-key", key] });
    procs.push(server);
    expect(server.url).toMatch(/^https:\/\//);
    const wss = server.url.replace(/^https/, "wss");

    // without --ca the agent cannot enroll: a clear error, no agent registered
    const untrusting = startAgent({ server: wss, stateDir: dir(), enrollToken: server.enrollToken, extra: ["--collectors", "none"] });
    procs.push(untrusting);

    const agent = startAgent({ server: wss, stateDir: dir(), enrollToken: server.enrollToken, extra: ["--collectors", "none", "--ca", cert] });
    procs.push(agent);
    const adminFetch = async (path: string): Promise<unknown> => {
      // the test process trusts the same CA for its own API calls
      const { request } = await import("node:https");
      return new Promise((resolve, reject) => {
        request(`${server.url}${path}`, { ca: readFileSync(cert), headers: { authorization: `Bearer ${server.adminToken}` } }, (res) => {
          let body = "";
          res.on("data", (c: Buffer) => { body += c.toString(); });
          res.on("end", () => resolve(JSON.parse(body)));
        }).on("error", reject).end();
      });
    };
    const started = await waitFor(async () => {
      const evs = (await adminFetch("/api/events?type=agent.started")) as ApiEvent[];
      return evs.length > 0 && evs;
    }, "agent.started over wss");
    expect(started).toHaveLength(1);
    const agents = (await adminFetch("/api/agents")) as ApiAgent[];
    expect(agents).toHaveLength(1);
    expect(agents[0]!.online).toBe(true);
    await waitFor(() => /certificate|self.signed|CERT/i.test(untrusting.stderr()), "the untrusting agent to report the certificate error");
  });
});

describe("bad input against the real server process", () => {
  it("malformed JSON, wrong schema, forged id, unknown (401) and revoked (403) credentials, a 10 MB frame: refused; healthz 200; another agent unaffected", async () => {
    const server = await startServer({ dataDir: dir() });
    procs.push(server);
    // a well-behaved agent keeps delivering throughout
    const good = startAgent({ server: server.wsUrl, stateDir: dir(), enrollToken: server.enrollToken, extra: ["--collectors", "none"] });
    procs.push(good);
    await waitFor(async () => (await server.api<ApiEvent[]>("/api/events?type=agent.started")).body.length === 1, "the good agent");

    const enroll = async (): Promise<{ agentId: string; secret: string }> => {
      const res = await fetch(`${server.url}/api/enroll`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ token: server.enrollToken, hostname: "bad", os: "linux", version: "0" }) });
      expect(res.status).toBe(201);
      return (await res.json()) as { agentId: string; secret: string };
    };
    // code: the close code, or the HTTP status when the upgrade itself was refused (no WebSocket)
    const connect = (auth: string): Promise<{ code: number; httpStatus?: number; messages: string[] }> => new Promise((resolve) => {
      const ws = new WebSocket(`${server.wsUrl}/agent`, { headers: { authorization: `Bearer ${auth}` } });
      const messages: string[] = [];
      let httpStatus: number | undefined;
      ws.on("unexpected-response", (_req, res) => {
        httpStatus = res.statusCode;
        let body = "";
        res.on("data", (c: Buffer) => { body += c.toString(); });
        res.on("end", () => { messages.push(body); ws.terminate(); });
      });
      ws.on("message", (m: Buffer) => messages.push(m.toString()));
      ws.on("error", () => { /* the close code tells */ });
      ws.on("close", (code) => resolve({ code, httpStatus, messages }));
      ws.on("open", () => pending.get(auth)?.(ws));
    });
    const pending = new Map<string, (ws: WebSocket) => void>();
    const session = async (auth: string, send: (ws: WebSocket) => void): Promise<{ code: number; httpStatus?: number; messages: string[] }> => {
      pending.set(auth, send);
      return connect(auth);
    };

    const bad = await enroll();
    const auth = `${bad.agentId}:${bad.secret}`;
    const hello = JSON.stringify({ t: "hello", agentId: bad.agentId, hostname: "bad", os: "linux", version: "0", policyVersion: null, lastSeq: 0 });

    const malformed = await session(auth, (ws) => ws.send("{not json"));
    expect(malformed.code).toBe(4400);
    expect(malformed.messages.join()).toMatch(/malformed/i);

    // an invalid event is refused alone: named in the ack's `rejected`, not stored, the socket stays open
    const wrongSchema = await session(auth, (ws) => {
      ws.send(hello);
      ws.send(JSON.stringify({ t: "events", events: [{ seq: 1, type: "software.installed", observedAt: "yesterday", details: {} }] }));
      ws.on("message", (m: Buffer) => { if (JSON.parse(m.toString()).t === "ack") ws.close(1000); });
    });
    expect(wrongSchema.code).toBe(1000);
    expect(wrongSchema.messages.find((m) => m.includes('"ack"'))).toMatch(/"rejected":\[\{"seq":1,"path":"observedAt"/);

    const forged = await session(auth, (ws) => ws.send(hello.replace(bad.agentId, "someone-else")));
    expect(forged.code).toBe(4401);

    // an unknown credential is refused before the upgrade: HTTP 401, never a WebSocket
    const unknown = await session("nobody:nothing", () => undefined);
    expect(unknown.httpStatus).toBe(401);
    expect(unknown.messages.join()).toMatch(/unknown agent credential/);

    const big = await session(auth, (ws) => {
      ws.send(hello);
      ws.send("x".repeat(10 * 1024 * 1024));
    });
    expect(big.code).toBe(1009);

    const revoke = await server.api(`/api/agents/${bad.agentId}/revoke`, { method: "POST" });
    expect(revoke.status).toBe(200);
    const revoked = await session(auth, (ws) => ws.send(hello));
    expect(revoked.httpStatus).toBe(403);
    expect(revoked.messages.join()).toMatch(/revoked/);

    // nothing of the refused frames stored; the server still serves; the good agent is still online
    expect((await server.api<ApiEvent[]>(`/api/events?agent=${bad.agentId}`)).body).toHaveLength(0);
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    const agents = (await server.api<Array<{ id: string; hostname: string; online: boolean }>>("/api/agents")).body;
    expect(agents.find((a) => a.hostname !== "bad")!.online).toBe(true);
    // and its events still flow: stop it and its agent.stopped arrives
    await good.kill("SIGTERM");
    await waitFor(async () => (await server.api<ApiEvent[]>("/api/events?type=agent.stopped")).body.length === 1, "the good agent's agent.stopped");
  });
});
