/**
 * What the executed collector needs from the OS: one reader per platform (linux.ts, win32.ts,
 * darwin.ts). Readers do the I/O; the index building and parsing are pure (package-index.ts,
 * parse-*.ts).
 */
import type { PathIndex } from "./package-index.js";

/** A process that started (fork+exec) or exec'd another program. */
export interface ProcessStart {
  pid: number;
  /** the executable's path, when the source knows it already */
  exe?: string;
  ppid?: number;
  /** identifies the process together with pid (Linux: start time in clock ticks) */
  startTime?: number;
  /**
   * where to read the executed bytes when the source holds them open (Linux fanotify:
   * /proc/self/fd/N, valid until `release`) — they stay readable after the process exited
   */
  readPath?: string;
  /** the source holds something for this start (an fd): the collector calls this once when done with it */
  release?: () => void;
}

/**
 * A stream of process starts. On Linux: the process event source (netlink proc connector) where
 * available, else a /proc poll (proc-poll.ts). start() calls `onStarts` with batches; stop() ends.
 */
export interface ProcessStartSource {
  /** "netlink", "proc-poll", "process-list-poll", … (for logs and the bench) */
  readonly kind: string;
  start(onStarts: (starts: ProcessStart[]) => void, onError: (err: unknown) => void): Promise<void>;
  stop(): Promise<void>;
}

/** What the agent learns about a process that started, read once at its start. */
export interface StartedProcess {
  pid: number;
  /** the executable's path as the OS names it */
  path: string;
  /** the file was deleted (or replaced) after the process started it */
  deleted?: boolean;
  /** where to read the executable's bytes (Linux: /proc/<pid>/exe, reaching it even when deleted) */
  readPath: string;
  ppid?: number;
  parentExe?: string;
  uid?: number;
  user?: string;
  startTime?: number;
  cmdline?: string[];
}

/** The removable medium a program lives on: the identity the media events carry (media.inserted). */
export interface MediumLink {
  device: string;
  mount: string | null;
  serial: string | null;
  serialSource: "device" | "volume" | null;
  vendorId: string | null;
  productId: string | null;
  label: string | null;
}

export interface ExecutedPlatform {
  readonly os: "linux" | "win32" | "darwin";
  /** the package/OS index, built from the databases (never a query per process) */
  buildIndex(): Promise<PathIndex>;
  /**
   * A cheap fingerprint of the package databases (mtimes): the index is rebuilt when it moved.
   * Called when a program outside the index starts (a package installed a moment ago).
   */
  indexToken(): Promise<string>;
  /** watch the package databases, calling onChange when they change (optional: indexToken covers it) */
  watchIndex?(onChange: () => void): () => void;
  processStarts(): ProcessStartSource;
  /** one look at every process running now (`kyoka snapshot`; no source is started) */
  running(): Promise<ProcessStart[]>;
  /** read what we need about a started process, or undefined when it is gone or has no executable */
  describe(start: ProcessStart): StartedProcess | undefined;
  /** the code signer (Windows Authenticode, macOS codesign); absent on Linux */
  signer?(path: string): Promise<{ signer: string | null; status: string; detail?: Record<string, unknown> }>;
  /** the removable medium holding this path, if any (treatAsRemovable: the media policy's patterns) */
  medium(path: string, treatAsRemovable: readonly string[]): Promise<MediumLink | null>;
  /** is (pid, startTime) still the process we saw? */
  isAlive(pid: number, startTime?: number): boolean;
}
