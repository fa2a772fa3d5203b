/**
 * Mount table changes as they happen: poll(2) on /proc/self/mountinfo reports POLLPRI|POLLERR
 * when a filesystem was mounted, unmounted or moved in our mount namespace since the last poll
 * (fs/proc_namespace.c). Node cannot poll a file, so the process's shared fd poller (fd-poll.ts:
 * one libuv pool thread for every such fd) watches it. Rejects where koffi/libc cannot be loaded
 * (the caller polls instead).
 */
import { POLLERR, POLLPRI, watchFd } from "./fd-poll.js";
import { loadLibc } from "./netlink.js";

const O_RDONLY = 0;
const O_CLOEXEC = 0o2000000;

export async function watchMounts(onChange: () => void, onError: (err: Error) => void, path = "/proc/self/mountinfo"): Promise<() => void> {
  const libc = await loadLibc();
  const mfd = libc.open(path, O_RDONLY | O_CLOEXEC);
  if (mfd < 0) throw new Error(`open ${path}: errno ${libc.errno()}`);
  let stopped = false;
  const end = (): void => {
    if (stopped) return;
    stopped = true;
    off?.();
    libc.close(mfd);
  };
  let off: (() => void) | undefined;
  try {
    off = await watchFd(mfd, POLLPRI, (revents) => { if (revents & (POLLPRI | POLLERR)) onChange(); }, (err) => { end(); onError(err); });
  } catch (err) {
    libc.close(mfd);
    throw err;
  }
  return end;
}
