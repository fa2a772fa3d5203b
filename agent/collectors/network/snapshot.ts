/** `kyoka snapshot --json` section "network": interfaces, routes, listening sockets, connections. */
import type { SnapshotSource } from "../../collector.js";
import { isConnected, isListening, SocketTableReader } from "../../os/linux/sockets.js";
import type { AttachmentReader } from "./types.js";

export class NetworkSnapshotSource implements SnapshotSource {
  readonly name = "network";
  constructor(private readonly reader?: AttachmentReader, private readonly sockets?: SocketTableReader | null) {}

  async snapshot(): Promise<unknown> {
    const reader = routesOnce(this.reader ?? await defaultReader());
    const errors: { source: string; error: string }[] = [];
    const attempt = async <T>(source: string, fn: () => Promise<T> | T, fallback: T): Promise<T> => {
      try {
        return await fn();
      } catch (err) {
        errors.push({ source, error: err instanceof Error ? err.message : String(err) });
        return fallback;
      }
    };
    const socketReader = this.sockets !== undefined ? this.sockets : process.platform === "linux" ? new SocketTableReader() : null;
    // the three parts are independent: read them concurrently
    const readSockets = async (): Promise<{ listening: unknown[]; connections: unknown[] }> => {
      if (!socketReader) {
        errors.push({ source: "sockets", error: `not supported on ${process.platform}` });
        return { listening: [], connections: [] };
      }
      const all = await attempt("sockets", () => socketReader.read(), []);
      const wanted = all.filter((s) => isListening(s) || isConnected(s));
      const owners = await attempt("socket owners", () => socketReader.owners.resolve(wanted.map((s) => s.inode)), new Map());
      const row = (s: (typeof all)[number]) => {
        const o = owners.get(s.inode);
        return { ...s, pid: o?.pid ?? null, process: o?.process ?? null, exe: o?.exe ?? null, user: o?.user ?? null };
      };
      return { listening: wanted.filter(isListening).map(row), connections: wanted.filter(isConnected).map(row) };
    };
    const [interfaces, routes, { listening, connections }] = await Promise.all([
      attempt("interfaces", () => reader.read(), []),
      attempt("routes", () => reader.routes(), []),
      readSockets(),
    ]);
    return { interfaces, routes, listening, connections, errors };
  }
}

/**
 * The same reader with routes() run once: the Linux reader's read() calls this.routes() itself
 * (two `ip -json route` processes), and the snapshot asks for the routes too. The readers keep no
 * #private state, so a prototype wrapper sees the same fields.
 */
function routesOnce(reader: AttachmentReader): AttachmentReader {
  let routes: ReturnType<AttachmentReader["routes"]> | undefined;
  const wrapped = Object.create(reader) as AttachmentReader;
  wrapped.routes = () => (routes ??= reader.routes.call(wrapped));
  return wrapped;
}

/**
 * The OS's reader; on Linux without importing collector.js, which loads the collector runtime
 * (evaluation, policy matchers) and the Windows and macOS readers.
 */
async function defaultReader(): Promise<AttachmentReader> {
  if (process.platform === "linux") return new (await import("./linux.js")).LinuxAttachmentReader();
  return (await import("./platform.js")).defaultAttachmentReader();
}
