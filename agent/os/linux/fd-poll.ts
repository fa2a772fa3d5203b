/**
 * Readiness of file descriptors Node cannot watch itself (the mount table's POLLPRI, a fanotify
 * queue): one poll(2) on a libuv pool thread through koffi for every watched fd of the process,
 * so however many watchers run, one pool thread is held (none while nothing is watched). A pipe
 * in the poll set wakes it when the set changes.
 *
 *   const off = await watchFd(fd, POLLIN, (revents) => …, (err) => …);   // … off()
 *
 * `onReady` runs on the main thread with the fd's revents, before the next poll: a level-triggered
 * fd (POLLIN) must be drained there, or the poll returns at once again. Rejects where koffi/libc
 * cannot be loaded (the caller polls instead).
 */
import { loadLibc } from "./netlink.js";

export const POLLIN = 0x1;
export const POLLPRI = 0x2;
export const POLLERR = 0x8;
export const POLLHUP = 0x10;
export const POLLNVAL = 0x20;

const O_CLOEXEC = 0o2000000;
const O_NONBLOCK = 0o4000;

interface Watch {
  fd: number;
  events: number;
  onReady: (revents: number) => void;
  onError: (err: Error) => void;
}

type Libc = Awaited<ReturnType<typeof loadLibc>>;

class FdPoller {
  private readonly watches = new Set<Watch>();
  private running = false;
  private failures = 0;
  private readonly wakeBuf = Buffer.alloc(64);

  constructor(private readonly libc: Libc, private readonly pipe: Int32Array) {}

  add(w: Watch): () => void {
    this.watches.add(w);
    if (this.running) this.wake(); else this.loop();
    return () => {
      if (!this.watches.delete(w)) return;
      if (this.running) this.wake();
    };
  }

  private wake(): void {
    this.libc.write(this.pipe[1]!, Buffer.from("x"), 1);
  }

  private loop(): void {
    if (this.watches.size === 0) { this.running = false; return; }
    this.running = true;
    // struct pollfd { int fd; short events; short revents; } × (1 + watches): the wake pipe first
    const list = [...this.watches];
    const fds = Buffer.alloc(8 * (list.length + 1));
    fds.writeInt32LE(this.pipe[0]!, 0);
    fds.writeInt16LE(POLLIN, 4);
    list.forEach((w, i) => { fds.writeInt32LE(w.fd, 8 * (i + 1)); fds.writeInt16LE(w.events, 8 * (i + 1) + 4); });
    this.libc.pollAsync(fds, list.length + 1, -1, (err, n) => {
      // -1 is EINTR (a signal reached the pool thread) unless it keeps happening
      this.failures = err || n < 0 ? this.failures + 1 : 0;
      if (this.failures > 20) {
        this.failures = 0;
        const failed = [...this.watches];
        this.watches.clear();
        this.running = false;
        for (const w of failed) w.onError(err instanceof Error ? err : new Error("poll keeps failing"));
        return;
      }
      if (n > 0) {
        if (fds.readInt16LE(6) & POLLIN) while (this.libc.read(this.pipe[0]!, this.wakeBuf, this.wakeBuf.length) > 0) { /* drained */ }
        list.forEach((w, i) => {
          const revents = fds.readInt16LE(8 * (i + 1) + 6);
          if (!revents || !this.watches.has(w)) return;
          if (revents & POLLNVAL) { this.watches.delete(w); w.onError(new Error(`fd ${w.fd} is not open (POLLNVAL)`)); return; }
          try { w.onReady(revents); } catch (e) { this.watches.delete(w); w.onError(e instanceof Error ? e : new Error(String(e))); }
        });
      }
      this.loop();
    });
  }
}

let pollerPromise: Promise<FdPoller> | undefined;

function poller(): Promise<FdPoller> {
  pollerPromise ??= (async () => {
    const libc = await loadLibc();
    const pipe = new Int32Array(2);
    if (libc.pipe2(pipe, O_CLOEXEC | O_NONBLOCK) < 0) throw new Error(`pipe2: errno ${libc.errno()}`);
    return new FdPoller(libc, pipe);
  })();
  pollerPromise.catch(() => { pollerPromise = undefined; });
  return pollerPromise;
}

/** Call `onReady(revents)` whenever `fd` is ready for `events`; returns the function that stops watching (the fd stays open: the caller closes it after). */
export async function watchFd(fd: number, events: number, onReady: (revents: number) => void, onError: (err: Error) => void): Promise<() => void> {
  return (await poller()).add({ fd, events, onReady, onError });
}
