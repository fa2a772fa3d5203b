/** `kyoka snapshot --json` section "network": interfaces, routes, listening sockets, connections. */
import type { SnapshotSource } from "../../collector.js";
import { isConnected, isListening, SocketTableReader } from "../../os/linux/sockets.js";
import { defaultAttachmentReader } from "./collector.js";
import type { AttachmentReader } from "./types.js";

export class NetworkSnapshotSource implements SnapshotSource {
  readonly name = "network";
  constructor(private readonly reader?: AttachmentReader, private readonly sockets?: SocketTableReader | null) {}

  async snapshot(): Promise<unknown> {
    const reader = this.reader ?? defaultAttachmentReader();
    const errors: { source: string; error: string }[] = [];
    const attempt = async <T>(source: string, fn: () => Promise<T> | T, fallback: T): Promise<T> => {
      try {
        return await fn();
      } catch (err) {
        errors.push({ source, error: err instanceof Error ? err.message : String(err) });
        return fallback;
      }
    };
    const interfaces = await attempt("interfaces", () => reader.read(), []);
    const routes = await attempt("routes", () => reader.routes(), []);
    const socketReader = this.sockets !== undefined ? this.sockets : process.platform === "linux" ? new SocketTableReader() : null;
    let listening: unknown[] = [];
    let connections: unknown[] = [];
    if (socketReader) {
      const all = await attempt("sockets", () => socketReader.read(), []);
      const wanted = all.filter((s) => isListening(s) || isConnected(s));
      const owners = await attempt("socket owners", () => socketReader.owners.resolve(wanted.map((s) => s.inode)), new Map());
      const row = (s: (typeof all)[number]) => {
        const o = owners.get(s.inode);
        return { ...s, pid: o?.pid ?? null, process: o?.process ?? null, exe: o?.exe ?? null, user: o?.user ?? null };
      };
      listening = wanted.filter(isListening).map(row);
      connections = wanted.filter(isConnected).map(row);
    } else {
      errors.push({ source: "sockets", error: `not supported on ${process.platform}` });
    }
    return { interfaces, routes, listening, connections, errors };
  }
}
