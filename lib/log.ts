import { pino, type Logger } from "pino";
import pretty from "pino-pretty";

export type { Logger };

/** How log lines look: readable lines for a person at a terminal, or JSON lines for a collector. */
export type LogFormat = "pretty" | "json";

export const LOG_FORMATS: readonly LogFormat[] = ["pretty", "json"];

/**
 * The format to use: the `--log-format` flag, else KYOKA_LOG_FORMAT, else readable lines when
 * stderr is a terminal and JSON lines when it is not (a file, a pipe, journald).
 */
export function resolveLogFormat(flag?: string, env = process.env.KYOKA_LOG_FORMAT, isTty = process.stderr.isTTY === true): LogFormat {
  const asked = flag ?? env;
  if (asked === "pretty" || asked === "json") return asked;
  return isTty ? "pretty" : "json";
}

/**
 * A readable line per record: `08:01:02 INFO  server:http: message {fields}` — the component
 * before the message, the other fields on the same line, times in local time.
 */
function prettyStream(colorize: boolean): NodeJS.WritableStream {
  return pretty({
    destination: 2,
    sync: true,
    colorize,
    singleLine: true,
    translateTime: "SYS:HH:MM:ss",
    ignore: "pid,hostname,name,component",
    messageFormat: "{if component}{component}: {end}{msg}",
  });
}

export interface LoggerOptions {
  /** default KYOKA_LOG_LEVEL, else info */
  level?: string;
  /** default: resolveLogFormat() */
  format?: LogFormat;
}

/**
 * One root logger per process; components take a child: `log.child({ component: "collector:software" })`.
 * Logs go to stderr: readable lines on a terminal, JSON lines otherwise (resolveLogFormat) — or
 * JSON lines appended to the file KYOKA_LOG_FILE names (a Windows service has no stderr:
 * `kyoka agent --service`).
 */
export function createLogger(name: string, opts: LoggerOptions | string = {}): Logger {
  const o = typeof opts === "string" ? { level: opts } : opts;
  const level = o.level ?? process.env.KYOKA_LOG_LEVEL ?? "info";
  const file = process.env.KYOKA_LOG_FILE;
  const format = file ? "json" : o.format ?? resolveLogFormat();
  const dest = format === "pretty" ? prettyStream(process.stderr.isTTY === true) : pino.destination({ dest: file || 2, sync: true, mkdir: true });
  return pino({ name, level, base: { pid: process.pid } }, dest);
}
