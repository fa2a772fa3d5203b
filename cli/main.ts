#!/usr/bin/env node
/**
 * kyoka — the one binary: `kyoka server`, `kyoka agent`, `kyoka local`, `kyoka snapshot`,
 * `kyoka enroll-token`, `kyoka report`.
 * Usage errors print one line naming the flag and exit 2; --help and --version exit 0.
 */
import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import { versionLine } from "../lib/build-info.js";
import { UsageError } from "./usage-error.js";

function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError("must be a port number (0-65535)");
  return n;
}
function positive(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError("must be a positive number");
  return n;
}

/** --log-format: readable lines on a terminal, JSON lines otherwise (lib/log.ts) */
const logFormatOption = (): Option =>
  new Option("--log-format <format>", "log lines: pretty (readable; the default on a terminal) or json (the default otherwise)").choices(["pretty", "json"]);

const program = new Command("kyoka")
  .description("許可 kyoka — endpoint policy agent and aggregation server for 甲許可 compliance (別記2 情報セキュリティ関連業務特記事項)")
  // the version and the build (commit): computed only when asked for (from a checkout it runs git)
  .option("-V, --version", "output the version and the build")
  .on("option:version", () => {
    const line = versionLine();
    process.stdout.write(`${line}\n`);
    throw new CommanderError(0, "commander.version", line);
  })
  .showSuggestionAfterError(true)
  // the program's options only before a command: `kyoka request software --version '>=2'` is the
  // request's version range, not the program's --version
  .enablePositionalOptions()
  .exitOverride()
  .configureOutput({
    // one line, naming the flag
    outputError: (str, write) => write(str.split("\n")[0] + "\n"),
  });

program
  .command("server")
  .description("run the aggregation server: agent WebSocket, HTTP API and dashboard on one port")
  .option("--port <port>", "port to listen on", port)
  .option("--host <host>", "address to bind")
  .option("--data <dir>", "data folder (embedded SQLite, admin-token, enroll-token)")
  .option("--database <url>", "database URL (postgres://…); default: embedded SQLite under --data")
  .option("--config <file>", "server config file (YAML): port, host, data, database, tls, adminToken, enrollToken, reports")
  .option("--tls-cert <file>", "TLS certificate (PEM): serve https:// and wss://")
  .option("--tls-key <file>", "TLS private key (PEM)")
  .addOption(logFormatOption())
  .addOption(new Option("--heartbeat-seconds <n>", "override the policy's heartbeat interval").argParser(positive).hideHelp())
  .action(async (opts) => {
    const { runServerCommand } = await import("./server-command.js");
    await runServerCommand(opts);
  });

program
  .command("agent")
  .description("run the endpoint agent daemon until SIGTERM/SIGINT (Windows: also CTRL_BREAK, console close) or `kyoka agent --stop`")
  .option("--server <url>", "server URL: ws://HOST:PORT or wss://HOST:PORT")
  .option("--enroll-token <token>", "enrollment token (needed once; the credential is then kept in the state dir). Visible to other users in ps: prefer --enroll-token-file or KYOKA_ENROLL_TOKEN")
  .option("--enroll-token-file <file>", "read the enrollment token from this file")
  .option("--state-dir <dir>", "credential, durable queue and collector state")
  .option("--config <file>", "agent config file (YAML): server, enrollToken, stateDir, caFile")
  .option("--ca <file>", "CA certificate (PEM) to trust for wss://")
  .option("--collectors <list>", "run only these collectors (comma-separated names, or none); default: all that the policy enables")
  .addOption(logFormatOption())
  .option("--stop", "ask the agent running with this state folder to stop cleanly (for service wrappers), wait until it took the request")
  .option("--selftest-events <n>", "queue N synthetic agent.selftest events at start (delivery and load checks)", (v) => Math.floor(positive(v)))
  .option("--service", "Windows: run as the service kyoka-agent (the MSI installs it so; logs go to <state dir>\\agent.log)")
  .action(async (opts) => {
    const { runAgentCommand } = await import("./agent-command.js");
    await runAgentCommand(opts);
  });

const enrollToken = program
  .command("enroll-token")
  .description("enrollment tokens for agents: create (shown once), list, delete");
enrollToken
  .command("create")
  .description("make an enrollment token and print it once (only its hash is kept)")
  .option("--uses <n>", "how many agents may enroll with it, or unlimited", "1")
  .option("--expires <when>", "a duration (30m, 12h, 7d, 2w), an ISO date/time, or never", "7d")
  .option("--name <text>", "a label, e.g. the office or the installer batch")
  .option("--organisation <text>", "the contractor organisation it is for")
  .option("--data <dir>", "the server's data folder", "./data")
  .option("--json", "print {id, token, …} as JSON")
  .action(async (opts) => {
    const { runEnrollTokenCreate } = await import("./enroll-token-command.js");
    await runEnrollTokenCreate(opts);
  });
enrollToken
  .command("list")
  .description("list enrollment tokens (never the tokens themselves)")
  .option("--data <dir>", "the server's data folder", "./data")
  .option("--all", "include deleted tokens")
  .option("--json", "print JSON")
  .action(async (opts) => {
    const { runEnrollTokenList } = await import("./enroll-token-command.js");
    await runEnrollTokenList(opts);
  });
enrollToken
  .command("delete")
  .description("delete an enrollment token: it can no longer be used")
  .argument("<id>", "the token's id (from create or list)")
  .option("--data <dir>", "the server's data folder", "./data")
  .action(async (id: string, opts) => {
    const { runEnrollTokenDelete } = await import("./enroll-token-command.js");
    await runEnrollTokenDelete(id, opts);
  });

program
  .command("local")
  .description("the main job on one PC: server on the embedded store plus a local agent enrolled against it")
  .option("--port <port>", "port to listen on", port, 8080)
  .option("--host <host>", "address to bind", "127.0.0.1")
  .option("--data <dir>", "data folder for the server", "./data")
  .addOption(logFormatOption())
  .option("--state-dir <dir>", "state folder for the local agent", "./data/agent")
  .action(async (opts) => {
    const { runLocalCommand } = await import("./local-command.js");
    await runLocalCommand(opts);
  });

program
  .command("configure")
  .description("write the agent's config file (installers run this): server URL, enrollment token, state folder, CA")
  .option("--config <file>", "the config file (default: /etc/kyoka/agent.yaml, %ProgramData%\\kyoka\\agent.yaml, /Library/Application Support/kyoka/agent.yaml)")
  .option("--server <url>", "server URL: ws://HOST:PORT or wss://HOST:PORT")
  .option("--enroll-token <token>", "enrollment token")
  .option("--state-dir <dir>", "state folder")
  .option("--ca <file>", "CA certificate (PEM) to trust for wss://")
  .action(async (opts) => {
    const { runConfigureCommand } = await import("./install-commands.js");
    await runConfigureCommand(opts);
  });

program
  .command("enroll")
  .description("enroll this agent with the server now (once; the credential is kept in the state folder)")
  .option("--config <file>", "agent config file (YAML); default: the one `kyoka configure` writes, if present")
  .option("--server <url>", "server URL: ws://HOST:PORT or wss://HOST:PORT")
  .option("--enroll-token <token>", "enrollment token")
  .option("--state-dir <dir>", "state folder")
  .option("--ca <file>", "CA certificate (PEM) to trust for wss://")
  .action(async (opts) => {
    const { runEnrollCommand } = await import("./install-commands.js");
    await runEnrollCommand(opts);
  });

program
  .command("purge")
  .description("delete the agent's config, state (credential, queue) and unpacked files: what an uninstall does; stop the agent first")
  .option("--config <file>", "the agent config file (its stateDir is deleted too); default: the one `kyoka configure` writes")
  .option("--state-dir <dir>", "the state folder (default: the config's, else the default)")
  .action(async (opts) => {
    const { runPurgeCommand } = await import("./install-commands.js");
    await runPurgeCommand(opts);
  });

program
  .command("snapshot")
  .description("local compliance check (点検) of every control (software, network, media, processes/P2P, hardware) under the policy in force; no server needed. Exit 0: nothing needs action; 1: something does")
  .option("--json", "print one JSON document (every section, plus `compliance`: the statuses)")
  .option("--policy <file>", "judge by this policy file (YAML/JSON); default: the server's last policy when this PC is enrolled, else the default policy")
  .option("--lang <lang>", "ja (default) or en")
  .option("--state-dir <dir>", "the agent's state folder (the server's last policy and approvals)")
  .action(async (opts) => {
    const { runSnapshotCommand } = await import("./snapshot-command.js");
    await runSnapshotCommand(opts);
  });

// --- people, requests (申請), audit: cli/people-command.ts ------------------------------------
const ROLE_LIST = ["admin", "approver", "desk", "contractor", "auditor"];
function role(value: string): string {
  if (!ROLE_LIST.includes(value)) throw new InvalidArgumentError(`must be one of ${ROLE_LIST.join(", ")}`);
  return value;
}

const user = program.command("user").description("users of the server (on its data folder; audited)");
user
  .command("add")
  .description("add a user; the password from --password-file or standard input")
  .option("--login <login>", "login name")
  .option("--role <role>", `role: ${ROLE_LIST.join(", ")}`, role)
  .option("--organisation <name>", "organisation (name or id); desk and contractor need a contractor organisation")
  .option("--password-file <file>", "file holding the password (else standard input)")
  .option("--data <dir>", "the server's data folder", "./data")
  .action(async (opts) => {
    const { runUserAdd } = await import("./people-command.js");
    await runUserAdd(opts);
  });
user
  .command("passwd")
  .description("set a user's password (ends its sessions)")
  .option("--login <login>", "login name")
  .option("--password-file <file>", "file holding the password (else standard input)")
  .option("--data <dir>", "the server's data folder", "./data")
  .action(async (opts) => {
    const { runUserPasswd } = await import("./people-command.js");
    await runUserPasswd(opts);
  });
user
  .command("disable")
  .description("disable a user (ends its sessions and API tokens)")
  .option("--login <login>", "login name")
  .option("--data <dir>", "the server's data folder", "./data")
  .action(async (opts) => {
    const { runUserDisable } = await import("./people-command.js");
    await runUserDisable(opts);
  });

const audit = program.command("audit").description("the hash-chained audit trail");
audit
  .command("verify")
  .description("check the audit trail's hash chain: exit 0 intact, 1 naming the first changed, inserted or deleted row")
  .option("--data <dir>", "the server's data folder")
  .option("--database <url>", "the database (sqlite:PATH; PostgreSQL not in this version)")
  .action(async (opts) => {
    const { runAuditVerify } = await import("./people-command.js");
    await runAuditVerify(opts);
  });

program
  .command("status")
  .description("this PC's agent: connection, queue, approvals (甲許可) in force until when, requests (申請)")
  .option("--state-dir <dir>", "the agent's state folder")
  .option("--json", "print one JSON document")
  .action(async (opts) => {
    const { runStatus } = await import("./people-command.js");
    await runStatus(opts);
  });

program
  .command("request")
  .description("request a 甲許可 (申請) as this PC, with its own credential: kyoka request software --name 'foo*' --version '>=2' --until 2026-12-31 --reason '…'")
  .argument("<control>", "software, network, media or asset")
  .option("--name <glob>", "software: package name (glob)")
  .option("--version <range>", "software: version range (>=2, 1.2.*)")
  .option("--publisher <glob>", "software: publisher")
  .option("--action <action>", "install, update, remove (software); insert, copy_out (media)")
  .option("--cidr <cidr>", "network: address range")
  .option("--ssid <glob>", "network: Wi-Fi network")
  .option("--gateway-mac <mac>", "network: gateway MAC")
  .option("--destination <cidr:port>", "network: destination")
  .option("--port <port>", "network: listening port")
  .option("--process <name>", "network: process")
  .option("--serial <serial>", "media: serial")
  .option("--vendor-id <id>", "media: vendor id")
  .option("--product-id <id>", "media: product id")
  .option("--component <name>", "asset: component")
  .option("--until <date>", "end of the period asked for (YYYY-MM-DD or ISO time)")
  .option("--reason <text>", "why (理由)")
  .option("--state-dir <dir>", "the agent's state folder (its credential names the server)")
  .option("--ca <file>", "CA certificate (PEM) to trust for https://")
  .action(async (control: string, opts) => {
    const { runRequest } = await import("./people-command.js");
    await runRequest(control, opts);
  });

program
  .command("report")
  .description("a compliance report (実施状況報告書) from the server, stored and audited there: kyoka report --from 2026-11-01 --to 2026-11-30 --format pdf")
  .option("--from <day>", "first day of the period, YYYY-MM-DD (Asia/Tokyo)")
  .option("--to <day>", "last day of the period, YYYY-MM-DD (Asia/Tokyo)")
  .option("--organisation <name>", "one organisation (id or name); default: every organisation, or your own (desk, contractor)")
  .addOption(new Option("--format <format>", "json, csv (UTF-8 with BOM, Excel), html (printable A4) or pdf (Chromium on the server)").choices(["json", "csv", "html", "pdf"]).default("html"))
  .option("--out <file>", "where to write it (- : standard output); default: the server's file name in this folder")
  .option("--server <url>", "the server (default $KYOKA_SERVER or http://127.0.0.1:8080)")
  .option("--token-file <file>", "a file holding an API token (default $KYOKA_TOKEN, or the admin-token of --data)")
  .option("--data <dir>", "the server's data folder: use its admin-token (on the server's machine)")
  .addOption(new Option("--lang <lang>", "messages: ja (日本語, default) or en").choices(["ja", "en"]).default("ja"))
  .action(async (opts) => {
    const { runReport } = await import("./report-command.js");
    await runReport(opts);
  });

// no top-level await: the single executable (installers/) bundles this module as CommonJS
program.parseAsync(process.argv).catch((err: unknown) => {
  if (err instanceof CommanderError) {
    // --help / --version: exit 0; usage errors: exit 2 (the message is already printed)
    process.exit(err.exitCode === 0 ? 0 : 2);
  }
  if (err instanceof UsageError) {
    process.stderr.write(`kyoka: ${err.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`kyoka: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
