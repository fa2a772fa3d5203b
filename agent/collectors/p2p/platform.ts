/**
 * What the P2P collector needs from the OS: one reader per platform (linux.ts, win32.ts,
 * darwin.ts). Readers do the I/O; the parsing and matching are pure (parse.ts, match.ts).
 */
import type { InstalledItem, ProcessInfo } from "./match.js";
import type { Os } from "./signatures.js";
import type { SocketSource } from "./sockets.js";

export interface P2pPlatform {
  readonly os: Os;
  /** every process, read in one pass (never one command per process) */
  listProcesses(): Promise<ProcessInfo[]>;
  /** the path to read to hash a process's executable (Linux: /proc/<pid>/exe), if any */
  executableOf(p: ProcessInfo): string | undefined;
  /**
   * Did the process exec another program since it was listed? (Then what was hashed may not be
   * what was listed: the caller looks again next cycle.) Optional: false when absent.
   */
  executableChanged?(p: ProcessInfo): boolean;
  /**
   * Installed software, or `undefined` when unchanged since the last call (e.g. the dpkg status
   * file has the same mtime): cheap to call every cycle.
   */
  installed(): Promise<InstalledItem[] | undefined>;
  /** sockets and their owners; absent where not supported yet */
  readonly sockets?: SocketSource;
  /** is the process (pid, startTime) still the one we saw? */
  isAlive(pid: number, startTime?: number): boolean;
}
