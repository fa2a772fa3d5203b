/**
 * Alert notifications (メール通知) on a real server: events through the real agent WebSocket and
 * group commit, mails to a local SMTP server (npm smtp-server, parsed back with mailparser),
 * webhooks to a local HTTP listener. Digest windows and rate limits run on a hand-driven clock;
 * retry waits are skipped (no real backoff).
 */
import { createServer as createHttpServer, type Server as HttpServer } from "node:http";
import { createServer as createNetServer, type Server as NetServer, type Socket } from "node:net";
import type { AddressInfo } from "node:net";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { simpleParser } from "mailparser";
import { SMTPServer } from "smtp-server";
import { afterEach, describe, expect, it } from "vitest";
import { resolveConfig, UsageError } from "../../cli/config.js";
import { ServerConfig } from "../../cli/server-config.js";
import type { StoredEvent } from "../../policies/schema.js";
import { NotificationsConfig, type NotificationsConfigInput } from "../../server/notify/config.js";
import type { NotifyClock } from "../../server/notify/notifier.js";
import {
  api, connectAs, enroll, ev, events, request, sendEvents, startTestServer, waitFor, type Credential, type TestClient, type TestServer,
} from "./helpers.js";


interface Mail { to: string[]; subject: string; text: string }

const closers: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

/** A local SMTP server; `fail` answers every message with that SMTP error (e.g. 451: try again later). */
async function smtp(fail?: { code: number; message: string }): Promise<{ port: number; mails: Mail[]; tries: () => number }> {
  const mails: Mail[] = [];
  let tries = 0;
  const server = new SMTPServer({
    authOptional: true, disabledCommands: ["STARTTLS"], logger: false,
    onData(stream, _session, callback) {
      tries++;
      const chunks: Buffer[] = [];
      stream.on("data", (c: Buffer) => chunks.push(c));
      stream.on("end", () => {
        if (fail) {
          const err = Object.assign(new Error(fail.message), { responseCode: fail.code });
          callback(err);
          return;
        }
        void simpleParser(Buffer.concat(chunks)).then((m) => {
          const to = (Array.isArray(m.to) ? m.to : m.to ? [m.to] : []).flatMap((a) => a.value.map((v) => v.address ?? ""));
          mails.push({ to, subject: m.subject ?? "", text: m.text ?? "" });
          callback();
        }, (err: Error) => callback(err));
      });
    },
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  closers.push(() => new Promise<void>((r) => server.close(() => r())));
  return { port: (server.server.address() as AddressInfo).port, mails, tries: () => tries };
}

/** A TCP listener that accepts and never says a word (an SMTP server that hangs). */
async function silentSmtp(): Promise<{ port: number; connections: () => number }> {
  const sockets: Socket[] = [];
  const server: NetServer = createNetServer((s) => { sockets.push(s); s.on("error", () => undefined); });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  closers.push(() => new Promise<void>((r) => { for (const s of sockets) s.destroy(); server.close(() => r()); }));
  return { port: (server.address() as AddressInfo).port, connections: () => sockets.length };
}

async function hook(status = 200): Promise<{ url: string; bodies: unknown[] }> {
  const bodies: unknown[] = [];
  const server: HttpServer = createHttpServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      bodies.push(JSON.parse(Buffer.concat(chunks).toString("utf8")));
      res.statusCode = status;
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  closers.push(() => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/T000/secret`, bodies };
}

function manualClock(): NotifyClock & { advance(ms: number): void } {
  let now = Date.now();
  const timers: Array<{ at: number; fn: () => void }> = [];
  return {
    now: () => now,
    setTimer(fn, ms) {
      const t = { at: now + ms, fn };
      timers.push(t);
      return () => { const i = timers.indexOf(t); if (i >= 0) timers.splice(i, 1); };
    },
    advance(ms) {
      now += ms;
      for (;;) {
        const due = timers.filter((t) => t.at <= now).sort((a, b) => a.at - b.at)[0];
        if (!due) break;
        timers.splice(timers.indexOf(due), 1);
        due.fn();
      }
    },
  };
}

const noWait = { sleep: async () => undefined };

interface Fleet { srv: TestServer; a: Credential; b: Credential; agentA: TestClient; agentB: TestClient; seq: { A: number; B: number } }

async function fleet(notifications: NotificationsConfigInput, clock?: NotifyClock): Promise<Fleet> {
  const srv = await startTestServer({ notifications, notifyClocks: { clock, deliveryClock: noWait } });
  closers.push(() => srv.stop());
  for (const name of ["contractor-a", "contractor-b"]) expect((await api(srv, "POST", "/api/organisations", { name, kind: "contractor" })).status).toBe(201);
  const a = await enroll(srv, "pc-a");
  const b = await enroll(srv, "pc-b");
  expect((await api(srv, "PUT", `/api/agents/${a.agentId}/organisation`, { organisation: "contractor-a" })).status).toBe(200);
  expect((await api(srv, "PUT", `/api/agents/${b.agentId}/organisation`, { organisation: "contractor-b" })).status).toBe(200);
  const agentA = await connectAs(srv, a, "pc-a");
  const agentB = await connectAs(srv, b, "pc-b");
  closers.push(() => { agentA.close(); agentB.close(); });
  return { srv, a, b, agentA, agentB, seq: { A: 0, B: 0 } };
}

const p2pRunning = (pid: number) => ({ family: "Transmission", familyId: "transmission", name: "transmission-daemon", path: "/usr/bin/transmission-daemon", pid, confidence: "high", response: "terminated", signal: "SIGTERM" });

async function send(f: Fleet, who: "A" | "B", type: string, details: Record<string, unknown>): Promise<void> {
  await sendEvents(who === "A" ? f.agentA : f.agentB, [ev(++f.seq[who], type, details)]);
}

describe("notification rules", () => {
  it("mails matching events with a Japanese subject; filters by severity, control and organisation; Slack webhook", async () => {
    const mailbox = await smtp();
    const slack = await hook();
    const f = await fleet({
      smtp: { host: "127.0.0.1", port: mailbox.port, from: "kyoka <kyoka@example.lg.jp>" },
      dashboardUrl: "https://kyoka.example.lg.jp",
      rules: [
        { name: "P2P（重大）", match: { severity: ["critical"], control: ["p2p"] }, email: { to: ["desk@a.example.jp"] }, webhook: { url: slack.url, format: "slack" } },
        { name: "contractor-b violations", match: { organisation: ["contractor-b"], status: ["violation"] }, email: { to: ["desk@b.example.jp"] } },
      ],
    });
    await send(f, "A", "p2p.running", p2pRunning(4242));
    await send(f, "A", "software.installed", { name: "vim", version: "9.1" }); // medium, needs approval: no rule
    await send(f, "B", "network.listening", { port: 8080, process: "node", address: "0.0.0.0" }); // B, not a violation
    await send(f, "B", "p2p.running", p2pRunning(777));
    await f.srv.notificationsDrained();

    const toA = mailbox.mails.filter((m) => m.to.includes("desk@a.example.jp"));
    const toB = mailbox.mails.filter((m) => m.to.includes("desk@b.example.jp"));
    expect(toA.map((m) => m.subject).sort()).toEqual([
      "【kyoka】違反・重大: ファイル交換ソフトの実行（pc-a）",
      "【kyoka】違反・重大: ファイル交換ソフトの実行（pc-b）",
    ]);
    expect(toB.map((m) => m.subject)).toEqual(["【kyoka】違反・重大: ファイル交換ソフトの実行（pc-b）"]);
    expect(mailbox.mails).toHaveLength(3);

    const mailA = toA.find((m) => m.subject.includes("pc-a"))!;
    const stored = (await events(f.srv, `?agent=${f.a.agentId}&type=p2p.running`))[0]!;
    expect(mailA.text).toContain("kyoka 通知（ルール: P2P（重大））");
    expect(mailA.text).toContain("PC:               pc-a（contractor-a）");
    expect(mailA.text).toContain("ソフト: Transmission");
    expect(mailA.text).toContain("kyoka の措置: terminated");
    expect(mailA.text).toContain("個人情報取扱特記事項 第12 第9項");
    expect(mailA.text).toContain(`https://kyoka.example.lg.jp/api/events/${stored.id}/incident-report?format=html`);

    expect(slack.bodies).toHaveLength(2);
    const first = slack.bodies.find((b) => JSON.stringify(b).includes("pc-a")) as { text: string; blocks: Array<{ type: string }> };
    expect(first.text).toBe("【kyoka】違反・重大: ファイル交換ソフトの実行（pc-a）");
    expect(first.blocks.map((b) => b.type)).toEqual(["header", "section"]);
    const metrics = (await request(f.srv, "GET", "/metrics", { token: f.srv.adminToken })).text;
    expect(metrics).toContain('kyoka_notifications_total{channel="email",result="sent"} 3');
    expect(metrics).toContain('kyoka_notifications_total{channel="webhook",result="sent"} 2');
  });

  it("rate limit and digest: a burst beyond `after` becomes one digest at the window's end; over the limit waits for the limit", async () => {
    const mailbox = await smtp();
    const clock = manualClock();
    const json = await hook();
    const f = await fleet({
      smtp: { host: "127.0.0.1", port: mailbox.port, from: "kyoka@example.lg.jp" },
      rules: [{
        name: "all-violations", match: { status: ["violation"] }, email: { to: ["desk@a.example.jp"] }, webhook: { url: json.url },
        digest: { after: 2, windowSeconds: 60 }, rateLimit: { maxMessages: 3, windowSeconds: 3600 },
      }],
    }, clock);
    // six violations at once: two single mails, the other four wait for the digest
    await sendEvents(f.agentA, [1, 2, 3, 4, 5, 6].map((i) => ev(++f.seq.A, "p2p.running", p2pRunning(1000 + i))));
    await f.srv.notificationsDrained();
    expect(mailbox.mails.map((m) => m.subject)).toEqual([
      "【kyoka】違反・重大: ファイル交換ソフトの実行（pc-a）", "【kyoka】違反・重大: ファイル交換ソフトの実行（pc-a）",
    ]);
    clock.advance(60_000);
    await waitFor(() => mailbox.mails.length === 3);
    await f.srv.notificationsDrained();
    const digest = mailbox.mails[2]!;
    expect(digest.subject).toBe("【kyoka】まとめ通知: 4件のイベント（違反 4件）— ルール all-violations");
    for (const pid of [1003, 1004, 1005, 1006]) expect(digest.text).toContain(`PID: ${pid}`);
    expect(digest.text).not.toContain("PID: 1001");
    const digestHook = json.bodies[2] as { kind: string; total: number; events: StoredEvent[] };
    expect(digestHook.kind).toBe("digest");
    expect(digestHook.total).toBe(4);
    expect(digestHook.events.map((e) => e.details.pid)).toEqual([1003, 1004, 1005, 1006]);

    // three messages this hour: the limit. Two more events wait until the hour is over, then one digest.
    await send(f, "A", "p2p.running", p2pRunning(2001));
    await send(f, "A", "p2p.running", p2pRunning(2002));
    await f.srv.notificationsDrained();
    clock.advance(60_000);
    await f.srv.notificationsDrained();
    expect(mailbox.mails).toHaveLength(3);
    clock.advance(3600_000);
    await waitFor(() => mailbox.mails.length === 4);
    expect(mailbox.mails[3]!.subject).toBe("【kyoka】まとめ通知: 2件のイベント（違反 2件）— ルール all-violations");
    expect(mailbox.mails[3]!.text).toContain("PID: 2002");
  });

  it("an SMTP server that refuses (451) and a failing webhook: retried, then agent.delivery_failed the desk of that PC sees", async () => {
    const mailbox = await smtp({ code: 451, message: "4.3.0 mailbox temporarily unavailable" });
    const broken = await hook(500);
    const f = await fleet({
      smtp: { host: "127.0.0.1", port: mailbox.port, from: "kyoka@example.lg.jp" },
      retry: { attempts: 3 },
      rules: [
        { name: "mail-p2p", match: { control: ["p2p"] }, email: { to: ["desk@a.example.jp"] } },
        { name: "hook-p2p", match: { control: ["p2p"] }, webhook: { url: broken.url, format: "teams" } },
      ],
    });
    await send(f, "A", "p2p.running", p2pRunning(4242));
    const p2p = (await events(f.srv, "?type=p2p.running"))[0]!;
    const failures = await waitFor(async () => {
      const rows = await events(f.srv, "?type=agent.delivery_failed");
      return rows.length === 2 ? rows : undefined;
    });
    expect(mailbox.tries()).toBe(3);
    expect(mailbox.mails).toEqual([]);
    expect(broken.bodies).toHaveLength(3);
    expect((broken.bodies[0] as { "@type": string })["@type"]).toBe("MessageCard");
    const byChannel = Object.fromEntries(failures.map((e) => [e.details.channel, e]));
    expect(byChannel.email).toMatchObject({
      agentId: f.a.agentId, control: "agent", status: "needs_approval", severity: "high",
      details: { rule: "mail-p2p", target: "desk@a.example.jp", attempts: 3, eventIds: [p2p.id], total: 1 },
    });
    expect(String(byChannel.email!.details.error)).toContain("451");
    expect(byChannel.webhook).toMatchObject({ agentId: f.a.agentId, details: { rule: "hook-p2p", attempts: 3, eventIds: [p2p.id] } });
    // the URL's secret path is not stored
    expect(byChannel.webhook!.details.target).toBe(new URL(broken.url).origin + "/…");
    // the failure is not itself notified (no loop): still 3 tries each
    await f.srv.notificationsDrained();
    expect(mailbox.tries()).toBe(3);
    expect(broken.bodies).toHaveLength(3);
  });

  it("no SMTP server at all (connection refused): retried, then agent.delivery_failed naming the error", async () => {
    const gone = await silentSmtp();
    const port = gone.port;
    await closers.pop()!(); // nothing listens there any more
    const f = await fleet({
      smtp: { host: "127.0.0.1", port, from: "kyoka@example.lg.jp" }, retry: { attempts: 2 },
      rules: [{ name: "down", match: { control: ["p2p"] }, email: { to: ["desk@a.example.jp"] } }],
    });
    await send(f, "A", "p2p.running", p2pRunning(31337));
    const failure = await waitFor(async () => (await events(f.srv, "?type=agent.delivery_failed"))[0]);
    expect(failure.details).toMatchObject({ channel: "email", rule: "down", attempts: 2 });
    expect(String(failure.details.error)).toMatch(/ECONNREFUSED/);
  });

  it("an SMTP server that never answers does not hold up ingest: events are acked and stored while the mail hangs", async () => {
    const hung = await silentSmtp();
    const f = await fleet({
      smtp: { host: "127.0.0.1", port: hung.port, from: "kyoka@example.lg.jp", timeoutMs: 600_000 },
      rules: [{ name: "everything", email: { to: ["desk@a.example.jp"] }, digest: { after: 1000 } }],
    });
    // every event below matches the rule; each frame is acked only after its commit
    for (let i = 0; i < 5; i++) await send(f, "A", "network.listening", { port: 9000 + i, process: "srv", address: "0.0.0.0" });
    await waitFor(() => hung.connections() >= 1);
    const stored = await events(f.srv, `?agent=${f.a.agentId}&type=network.listening`);
    expect(stored.map((e) => e.details.port).sort()).toEqual([9000, 9001, 9002, 9003, 9004]);
    // the HTTP API answers too, and no mail has completed
    expect((await request(f.srv, "GET", "/healthz")).status).toBe(200);
    let drained = false;
    void f.srv.notificationsDrained().then(() => { drained = true; });
    await new Promise((r) => setImmediate(r));
    expect(drained).toBe(false);
  });

  it("a full queue (the SMTP server hangs): the dropped messages become ONE failure event per rule, not one each", async () => {
    const hung = await silentSmtp();
    const clock = manualClock();
    const f = await fleet({
      smtp: { host: "127.0.0.1", port: hung.port, from: "kyoka@example.lg.jp", timeoutMs: 600_000 }, maxQueued: 2,
      rules: [{ name: "flood", email: { to: ["desk@a.example.jp"] }, digest: { after: 1000 }, rateLimit: { maxMessages: 1000 } }],
    }, clock);
    // 4 in flight (hung) + 2 waiting; the other 4 are dropped
    await sendEvents(f.agentA, Array.from({ length: 10 }, (_, i) => ev(++f.seq.A, "network.listening", { port: 7000 + i, process: "srv", address: "0.0.0.0" })));
    expect(await events(f.srv, "?type=agent.delivery_failed")).toEqual([]);
    clock.advance(60_000);
    const failure = await waitFor(async () => (await events(f.srv, "?type=agent.delivery_failed"))[0]);
    expect(failure).toMatchObject({ agentId: f.a.agentId, details: { rule: "flood", channel: "email", attempts: 0, total: 4 } });
    expect(failure.details.eventIds).toHaveLength(4);
    expect(String(failure.details.error)).toContain("queue was full");
    expect(await events(f.srv, "?type=agent.delivery_failed")).toHaveLength(1);
  });
});

describe("notifications config", () => {
  it("kyoka server --config: the README's example is accepted; a wrong rule is one usage error naming its path", () => {
    const dir = mkdtempSync(join(tmpdir(), "kyoka-notify-cfg-"));
    closers.push(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, "server.yaml");
    writeFileSync(file, [
      "notifications:",
      '  smtp: { host: smtp.example.lg.jp, port: 587, user: kyoka, passFile: /etc/kyoka/smtp-pass, from: "kyoka <kyoka@example.lg.jp>" }',
      "  dashboardUrl: https://kyoka.example.lg.jp",
      "  retry: { attempts: 4, baseDelayMs: 2000, maxDelayMs: 60000 }",
      "  rules:",
      "    - name: 重大な違反",
      "      match: { status: [violation], severity: [critical, high] }",
      "      email: { to: [security-desk@contractor.example.jp], cc: [joho@city.example.lg.jp] }",
      '      webhook: { url: "https://hooks.slack.com/services/T0/B0/x", format: slack }',
      "      digest: { after: 3, windowSeconds: 60, maxListed: 50 }",
      "      rateLimit: { maxMessages: 20, windowSeconds: 3600 }",
    ].join("\n"));
    const cfg = resolveConfig(ServerConfig, file, {});
    expect(cfg.notifications?.rules[0]).toMatchObject({ name: "重大な違反", webhook: { format: "slack" }, email: { cc: ["joho@city.example.lg.jp"] } });
    writeFileSync(file, "notifications:\n  rules:\n    - { name: x, match: { control: [printer] }, webhook: { url: http://h/ } }\n");
    expect(() => resolveConfig(ServerConfig, file, {})).toThrow(UsageError);
    expect(() => resolveConfig(ServerConfig, file, {})).toThrow(/notifications\.rules\.0\.match\.control\.0/);
  });

  it("validates rules: e-mail needs smtp, names are unique, a rule needs a channel, unknown keys refused", () => {
    const bad = (c: unknown) => {
      const r = NotificationsConfig.safeParse(c);
      return r.success ? "" : r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
    };
    expect(bad({ rules: [{ name: "x", email: { to: ["a@example.jp"] } }] })).toContain("rules.0.email: an e-mail rule needs notifications.smtp");
    expect(bad({ rules: [{ name: "x", webhook: { url: "http://h/" } }, { name: "x", webhook: { url: "http://h/" } }] })).toContain("two rules are named x");
    expect(bad({ rules: [{ name: "x" }] })).toContain("a rule needs email and/or webhook");
    expect(bad({ rules: [{ name: "x", webhook: { url: "ftp://h/" } }] })).toContain("rules.0.webhook.url");
    expect(bad({ rules: [{ name: "x", match: { severity: ["urgent"] }, webhook: { url: "http://h/" } }] })).toContain("rules.0.match.severity.0");
    expect(bad({ smtp: { host: "h", from: "a@b.jp", port: 25, tls: true } })).toContain("smtp");
    const ok = NotificationsConfig.parse({ rules: [{ name: "x", webhook: { url: "https://h/x" } }] });
    expect(ok.rules[0]).toMatchObject({ match: {}, webhook: { format: "json" }, digest: { after: 3, windowSeconds: 60 }, rateLimit: { maxMessages: 20 } });
  });
});
