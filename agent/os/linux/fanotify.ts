/**
 * Program executions from the kernel's fanotify (FAN_OPEN_EXEC, Linux ≥ 5.0) through koffi:
 * every execve of a file on a marked filesystem queues an event that carries the pid and an fd
 * the kernel opened in this process on the very file being executed. The fd reaches the bytes
 * even after the process exited (a program that runs for a millisecond) or the file was deleted
 * or replaced; its path is readlink(/proc/self/fd/N). The receiver must close every fd it gets.
 *
 * One event per file the kernel opens for an exec: the program, its ELF interpreter (ld.so), the
 * interpreter of a `#!` script (and the script itself). Filesystems are marked whole
 * (FAN_MARK_FILESYSTEM, Linux ≥ 5.1; FAN_MARK_MOUNT per mount on older kernels): the caller marks
 * every mount point it knows and marks again when the mount table changes (marking twice is
 * harmless; a mark ends with its filesystem's unmount).
 *
 * Needs CAP_SYS_ADMIN (root on the host): fanotify_init fails with EPERM otherwise and open()
 * rejects, as it does where koffi/libc or fanotify is unavailable (an old kernel: ENOSYS or
 * EINVAL) — the caller falls back. `KYOKA_NO_FANOTIFY=1` makes it reject too.
 *
 * The fanotify fd supports no SIGIO (no fasync): its readiness comes from the shared fd poller
 * (fd-poll.ts); the queue is read non-blocking on the main thread until EAGAIN. A queue overflow
 * (FAN_Q_OVERFLOW, 16384 events by default) or an event whose fd could not be created (EMFILE)
 * is reported through `onLost`: the caller rescans.
 */
import { closeSync, readSync } from "node:fs";
import { POLLIN, watchFd } from "./fd-poll.js";
import { HOST_LE, loadLibc, SyscallError } from "./netlink.js";

const FAN_CLOEXEC = 0x1;
const FAN_NONBLOCK = 0x2;
const FAN_CLASS_NOTIF = 0x0;
const FAN_MARK_ADD = 0x1;
const FAN_MARK_MOUNT = 0x10;
const FAN_MARK_FILESYSTEM = 0x100;
export const FAN_OPEN_EXEC = 0x1000;
export const FAN_Q_OVERFLOW = 0x4000;
const FANOTIFY_METADATA_VERSION = 3;
const FAN_EVENT_METADATA_LEN = 24;
const AT_FDCWD = -100;
const O_RDONLY = 0;
const O_CLOEXEC = 0o2000000;
const EINVAL = 22;

/** One decoded event: an exec with its fd, or the kernel saying events were lost. */
export type FanotifyEvent =
  | { what: "exec"; pid: number; fd: number }
  | { what: "overflow" }
  | { what: "other"; mask: number; fd: number };

/**
 * Decode what one read(2) of a fanotify fd returned (pure: tests feed it bytes). Layout per event:
 * struct fanotify_event_metadata { u32 event_len; u8 vers; u8 reserved; u16 metadata_len;
 * u64 mask (8-aligned); s32 fd; s32 pid; } (24 bytes, host order). Throws on a version this code
 * does not know (the layout could differ).
 */
export function parseFanotifyEvents(buf: Buffer): FanotifyEvent[] {
  const out: FanotifyEvent[] = [];
  const u32 = (o: number) => (HOST_LE ? buf.readUInt32LE(o) : buf.readUInt32BE(o));
  const i32 = (o: number) => (HOST_LE ? buf.readInt32LE(o) : buf.readInt32BE(o));
  const u64 = (o: number) => Number(HOST_LE ? buf.readBigUInt64LE(o) : buf.readBigUInt64BE(o));
  let off = 0;
  while (off + FAN_EVENT_METADATA_LEN <= buf.length) {
    const len = u32(off);
    if (len < FAN_EVENT_METADATA_LEN || off + len > buf.length) break;
    const vers = buf[off + 4]!;
    if (vers !== FANOTIFY_METADATA_VERSION) throw new Error(`fanotify: metadata version ${vers}, expected ${FANOTIFY_METADATA_VERSION}`);
    const mask = u64(off + 8);
    const fd = i32(off + 16);
    const pid = i32(off + 20);
    if (mask & FAN_Q_OVERFLOW) out.push({ what: "overflow" });
    else if (mask & FAN_OPEN_EXEC && fd >= 0) out.push({ what: "exec", pid, fd });
    else out.push({ what: "other", mask, fd });
    off += len;
  }
  return out;
}

export interface FanotifyMarkResult {
  /** mount points marked (with FAN_MARK_FILESYSTEM, or FAN_MARK_MOUNT on kernels without it) */
  marked: number;
  /** mount points that could not be marked, with the errno */
  failed: { path: string; errno: number }[];
}

export class FanotifyExec {
  private closed = false;
  private offPoll?: () => void;
  /** 170 events a read: the kernel opens an fd for each event read, so a read stays well under a 1,024-file limit */
  private readonly buf = Buffer.alloc(4096);
  /** FAN_MARK_FILESYSTEM refused with EINVAL once (a kernel 5.0): mounts are marked one by one */
  private perMount = false;

  private constructor(
    readonly fd: number,
    private readonly mark: (fd: number, flags: number, mask: number, dirfd: number, path: string) => number,
    private readonly errno: () => number,
    private readonly closeFd: (fd: number) => number,
  ) {}

  /**
   * fanotify_init (notification class, non-blocking, close-on-exec; event fds read-only). Events
   * are delivered once `listen` was called and filesystems were marked.
   */
  static async open(): Promise<FanotifyExec> {
    if (process.env.KYOKA_NO_FANOTIFY === "1") throw new Error("fanotify disabled by KYOKA_NO_FANOTIFY=1");
    const libc = await loadLibc();
    let init: (...a: unknown[]) => unknown, mark: (...a: unknown[]) => unknown;
    try {
      init = libc.func("int fanotify_init(unsigned int flags, unsigned int event_f_flags)");
      mark = libc.func("int fanotify_mark(int fd, unsigned int flags, uint64_t mask, int dirfd, const char *path)");
    } catch (err) {
      throw new Error(`fanotify is not in this libc: ${String(err)}`);
    }
    const fd = init(FAN_CLASS_NOTIF | FAN_CLOEXEC | FAN_NONBLOCK, O_RDONLY | O_CLOEXEC) as number;
    if (fd < 0) {
      const e = libc.errno();
      throw new SyscallError(`fanotify_init${e === 1 ? " (not permitted: needs root)" : e === 38 ? " (not in this kernel)" : ""}`, e);
    }
    return new FanotifyExec(fd, (...a) => mark(...a) as number, () => libc.errno(), (f) => libc.close(f));
  }

  /**
   * Mark the filesystems under these mount points for FAN_OPEN_EXEC. Marking is idempotent: call
   * it again with every mount point after the mount table changed. The first path that cannot be
   * marked at all (a kernel without FAN_OPEN_EXEC: EINVAL) makes it throw when nothing was marked.
   */
  markMounts(paths: readonly string[]): FanotifyMarkResult {
    const result: FanotifyMarkResult = { marked: 0, failed: [] };
    for (const path of paths) {
      if (this.closed) break;
      if (!this.perMount) {
        if (this.mark(this.fd, FAN_MARK_ADD | FAN_MARK_FILESYSTEM, FAN_OPEN_EXEC, AT_FDCWD, path) === 0) { result.marked++; continue; }
        const e = this.errno();
        if (e !== EINVAL) { result.failed.push({ path, errno: e }); continue; }
        // EINVAL: FAN_MARK_FILESYSTEM unknown (5.0), or FAN_OPEN_EXEC unknown (< 5.0: the mount mark fails too)
        this.perMount = true;
      }
      if (this.mark(this.fd, FAN_MARK_ADD | FAN_MARK_MOUNT, FAN_OPEN_EXEC, AT_FDCWD, path) === 0) result.marked++;
      else result.failed.push({ path, errno: this.errno() });
    }
    if (result.marked === 0 && result.failed.length) {
      throw new Error(`fanotify_mark failed on every mount (${result.failed.slice(0, 3).map((f) => `${f.path}: errno ${f.errno}`).join(", ")})`);
    }
    return result;
  }

  /**
   * Deliver each exec (pid, fd: the receiver closes it) as it is queued; `onLost` when events
   * were lost (queue overflow, no fd could be created for one). `onError` when the queue can no
   * longer be read (nothing more will come).
   */
  async listen(onExec: (pid: number, fd: number) => void, onLost: () => void, onError: (err: Error) => void): Promise<void> {
    this.offPoll = await watchFd(this.fd, POLLIN, () => this.drain(onExec, onLost), (err) => { if (!this.closed) onError(err); });
    // anything queued before the poller looked
    queueMicrotask(() => { try { this.drain(onExec, onLost); } catch (err) { onError(err instanceof Error ? err : new Error(String(err))); } });
  }

  /** Read the queue until it is empty. */
  private drain(onExec: (pid: number, fd: number) => void, onLost: () => void): void {
    while (!this.closed) {
      let n: number;
      try {
        n = readSync(this.fd, this.buf, 0, this.buf.length, null);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === "EAGAIN" || code === "EWOULDBLOCK") return;
        if (code === "EINTR") continue;
        // EMFILE/ENFILE/ENOMEM…: the kernel could not hand us this event (it is dropped)
        if (code === "EMFILE" || code === "ENFILE" || code === "ENOMEM" || code === "ENODEV" || code === "EOVERFLOW" || code === "EPERM" || code === "ENXIO") { onLost(); continue; }
        throw err;
      }
      if (n <= 0) return;
      for (const ev of parseFanotifyEvents(this.buf.subarray(0, n))) {
        if (ev.what === "exec") {
          if (this.closed) { closeQuietly(ev.fd); continue; }
          onExec(ev.pid, ev.fd);
        } else if (ev.what === "overflow") onLost();
        else if (ev.fd >= 0) closeQuietly(ev.fd);
      }
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.offPoll?.();
    this.closeFd(this.fd);
  }
}

/** Close an event's fd (once: a number closed twice may by then name another file). */
export function closeQuietly(fd: number): void {
  try { closeSync(fd); } catch { /* EBADF */ }
}
