/**
 * What the P2P collector needs from the OS: one reader per platform (linux.ts, win32.ts,
 * darwin.ts). Readers do the I/O; the parsing and matching are pure (parse-<os>.ts, match.ts), and the
 * installed software and the socket tables come from the shared readers (installed.ts →
 * agent/collectors/software, agent/os/linux/sockets.ts).
 */
import type { NamespacedSocket, SocketEntry } from "../../os/linux/sockets.js";
import type { InstalledSoftware } from "./installed.js";
import type { InstalledItem, ProcessInfo } from "./match.js";
import type { Os } from "./compile.js";

/** A socket with its network namespace and, when found, the owning process. */
export interface OwnedSocket extends NamespacedSocket {
  pid?: number;
}

export interface SocketQuery {
  /** every process of this cycle (exe/startTime tell a process that exec'd or was replaced) */
  processes: readonly { pid: number; exe?: string; startTime?: number }[];
  /** sockets of interest (e.g. on a well-known P2P port): owners are resolved for these */
  want: (s: SocketEntry) => boolean;
  /** processes whose every listening/bound socket is wanted too */
  allOf: ReadonlySet<number>;
}

export interface SocketSource {
  read(q: SocketQuery): Promise<OwnedSocket[]>;
}

export interface P2pPlatform {
  readonly os: Os;
  /** every process, read in one pass (never one command per process) */
  listProcesses(): Promise<ProcessInfo[]>;
  /**
   * The process list after process events (optional; without it every cycle lists everything):
   * `changed` pids started or exec'd, `gone` pids exited; the rest is as at the last listing.
   */
  updateProcesses?(changed: readonly number[], gone: readonly number[]): Promise<ProcessInfo[]>;
  /** the path to read to hash a process's executable (Linux: /proc/<pid>/exe), if any */
  executableOf(p: ProcessInfo): string | undefined;
  /**
   * Did the process exec another program since it was listed? (Then what was hashed may not be
   * what was listed: the caller looks again next cycle.) Optional: false when absent.
   */
  executableChanged?(p: ProcessInfo): boolean;
  /**
   * Installed software, or `undefined` when unchanged since the last call: cheap to call every
   * cycle (see installed.ts).
   */
  installed(): Promise<InstalledItem[] | undefined>;
  /** sockets and their owners; absent where not supported yet */
  readonly sockets?: SocketSource;
  /** is the process (pid, startTime) still the one we saw? */
  isAlive(pid: number, startTime?: number): boolean;
  /** release what the platform holds (folder watches) when the collector stops */
  close?(): void;
}

/**
 * What Windows and macOS readers share: executables are hashed at the path the process list
 * gives, installed software comes from the software collector's reader (installed.ts), and a
 * process exists while signal 0 can reach it. Subclasses list the processes.
 */
export abstract class CommandP2pPlatform implements P2pPlatform {
  abstract readonly os: Os;
  abstract listProcesses(): Promise<ProcessInfo[]>;

  constructor(private readonly software: InstalledSoftware) {}

  executableOf(p: ProcessInfo): string | undefined {
    return p.exe;
  }

  installed(): Promise<InstalledItem[] | undefined> {
    return this.software.read();
  }

  isAlive(pid: number): boolean {
    try { process.kill(pid, 0); return true; } catch { return false; }
  }

  close(): void {
    this.software.close();
  }
}

/** This OS's platform (its module loaded only here). */
export async function defaultP2pPlatform(): Promise<P2pPlatform> {
  switch (process.platform) {
    case "win32": return new (await import("./win32.js")).Win32P2pPlatform();
    case "darwin": return new (await import("./darwin.js")).DarwinP2pPlatform();
    default: return new (await import("./linux.js")).LinuxP2pPlatform();
  }
}
