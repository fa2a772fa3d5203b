import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { connectAgent, enroll, ev, request, sendEvents, startTestServer, TestClient, wsUrl, type TestServer } from "./helpers.js";

describe("server: TLS (https + wss on one port) with a self-signed certificate", () => {
  let certDir: string;
  let srv: TestServer;
  let cert: string;

  beforeAll(async () => {
    certDir = mkdtempSync(join(tmpdir(), "kyoka-tls-"));
    execFileSync("openssl", [
      "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
      "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
      "-keyout", join(certDir, "key.pem"), "-out", join(certDir, "cert.pem"), "-days", "1",
    ], { stdio: "ignore" });
    cert = readFileSync(join(certDir, "cert.pem"), "utf8");
    // cert as PEM text, key as a file path: both forms are accepted
    srv = await startTestServer({ tls: { cert, key: join(certDir, "key.pem") }, ca: cert });
  });
  afterAll(async () => {
    await srv?.stop();
    rmSync(certDir, { recursive: true, force: true });
  });

  it("serves https and wss with the certificate; enroll → events → ack → API", async () => {
    expect(srv.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect((await request(srv, "GET", "/healthz")).json).toEqual({ ok: true });
    const cred = await enroll(srv);
    const c = await connectAgent(srv, cred);
    expect(c.ws.url).toMatch(/^wss:/);
    expect(await sendEvents(c, [ev(1, "media.inserted", { serial: "S1" })])).toEqual({ t: "ack", seq: 1 });
    const r = await request<Array<{ seq: number }>>(srv, "GET", "/api/events", { token: srv.adminToken });
    expect(r.json.map((e) => e.seq)).toEqual([1]);
    c.close();
  });

  it("a client that does not trust the certificate cannot connect", async () => {
    await expect(request({ url: srv.url }, "GET", "/healthz")).rejects.toThrow(/self-signed|certificate/i);
    const c = new TestClient(new WebSocket(wsUrl(srv, "/api/stream")));
    await expect(c.opened).rejects.toThrow();
  });
});
