/**
 * Mount table changes as they happen: poll(2) on /proc/self/mountinfo reports POLLPRI|POLLERR
 * when a filesystem was mounted, unmounted or moved in our mount namespace since the last poll
 * (fs/proc_namespace.c). Node cannot poll a file, so the poll runs on a libuv pool thread through
 * koffi (one of the pool's threads is held while watching); a pipe in the same poll set ends it
 * at stop(). Rejects where koffi/libc cannot be loaded (the caller polls instead).
 */
import { loadLibc } from "./netlink.js";

const O_RDONLY = 0;
const O_CLOEXEC = 0o2000000;
const O_NONBLOCK = 0o4000;
const POLLIN = 0x1;
const POLLPRI = 0x2;
const POLLERR = 0x8;

export async function watchMounts(onChange: () => void, onError: (err: Error) => void, path = "/proc/self/mountinfo"): Promise<() => void> {
  const libc = await loadLibc();
  const mfd = libc.open(path, O_RDONLY | O_CLOEXEC);
  if (mfd < 0) throw new Error(`open ${path}: errno ${libc.errno()}`);
  const pipe = new Int32Array(2);
  if (libc.pipe2(pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
    libc.close(mfd);
    throw new Error(`pipe2: errno ${libc.errno()}`);
  }
  // struct pollfd { int fd; short events; short revents; } × 2: the mount table, the stop pipe
  const fds = Buffer.alloc(16);
  fds.writeInt32LE(mfd, 0);
  fds.writeInt16LE(POLLPRI, 4);
  fds.writeInt32LE(pipe[0]!, 8);
  fds.writeInt16LE(POLLIN, 12);
  let stopped = false;
  let failures = 0;
  const loop = (): void => {
    fds.writeInt16LE(0, 6);
    fds.writeInt16LE(0, 14);
    libc.pollAsync(fds, 2, -1, (err, n) => {
      if (stopped) {
        libc.close(mfd);
        libc.close(pipe[0]!);
        libc.close(pipe[1]!);
        return;
      }
      // -1 is EINTR (a signal reached the pool thread) unless it keeps happening
      failures = err || n < 0 ? failures + 1 : 0;
      if (failures > 20) {
        stopped = true;
        libc.close(mfd);
        libc.close(pipe[0]!);
        libc.close(pipe[1]!);
        onError(err instanceof Error ? err : new Error(`poll ${path} keeps failing`));
        return;
      }
      if (n > 0 && fds.readInt16LE(6) & (POLLPRI | POLLERR)) onChange();
      loop();
    });
  };
  loop();
  return () => {
    if (stopped) return;
    stopped = true;
    libc.write(pipe[1]!, Buffer.from("x"), 1);
  };
}
