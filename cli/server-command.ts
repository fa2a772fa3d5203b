import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { createLogger, resolveLogFormat } from "../lib/log.js";
import { startServer } from "../server/server.js";
import { resolveConfig, UsageError } from "./config.js";
import { ServerConfig } from "./server-config.js";
import { logStrayErrors, onShutdown } from "./shutdown.js";

export interface ServerFlags {
  port?: number; host?: string; data?: string; database?: string; config?: string;
  tlsCert?: string; tlsKey?: string; heartbeatSeconds?: number; logFormat?: string;
}

export async function runServerCommand(flags: ServerFlags): Promise<void> {
  const tlsFlags = flags.tlsCert || flags.tlsKey ? { cert: flags.tlsCert, key: flags.tlsKey } : undefined;
  if (tlsFlags && !(tlsFlags.cert && tlsFlags.key)) throw new UsageError("--tls-cert and --tls-key go together");
  const cfg = resolveConfig(ServerConfig, flags.config, {
    port: flags.port, host: flags.host, data: flags.data, database: flags.database, tls: tlsFlags,
    heartbeatSeconds: flags.heartbeatSeconds,
  });
  if (cfg.database && !/^sqlite:/.test(cfg.database)) {
    throw new UsageError(`--database ${cfg.database.replace(/:[^:@/]*@/, ":***@")}: only the embedded SQLite store is available in this version`);
  }
  const read = (f: string, flag: string): string => {
    try { return readFileSync(f, "utf8"); } catch (err) {
      throw new UsageError(`${flag} ${f}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
  };
  const tls = cfg.tls ? { cert: read(cfg.tls.cert, "--tls-cert"), key: read(cfg.tls.key, "--tls-key") } : undefined;
  const log = createLogger("kyoka-server", { format: resolveLogFormat(flags.logFormat) });
  logStrayErrors(log);
  const server = await startServer({
    port: cfg.port, host: cfg.host, dataDir: resolve(cfg.data), tls, log,
    adminToken: cfg.adminToken, enrollToken: cfg.enrollToken, heartbeatSeconds: cfg.heartbeatSeconds, limits: cfg.limits,
    authLimit: cfg.authLimit, notifications: cfg.notifications, reports: cfg.reports,
  });
  process.stdout.write(`kyoka server listening on ${server.url}\n`);
  const dataDir = resolve(cfg.data);
  if (!cfg.adminToken) process.stdout.write(`  admin token:      ${join(dataDir, "admin-token")}\n`);
  if (!cfg.enrollToken) process.stdout.write(`  enrollment token: ${join(dataDir, "enroll-token")}\n`);
  onShutdown(log, () => server.close());
}
