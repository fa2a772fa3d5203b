/**
 * Reading procfs files cheaply: one open, as few read(2) calls as possible into a reused buffer,
 * one close. procfs reports size 0 and seq_file tables (/proc/net/tcp) are regenerated per read
 * call, so large reads into one buffer cost the kernel and the agent less than readFileSync.
 * Shared by procfs.ts (processes) and sockets.ts (socket tables).
 */
import { closeSync, openSync, readSync } from "node:fs";

let buffer = Buffer.allocUnsafe(256 * 1024);

/**
 * The file's bytes. The returned Buffer is a view of a shared buffer: valid only until the next
 * call — decode or copy it at once.
 */
export function readProcBuffer(path: string): Buffer {
  const fd = openSync(path, "r");
  try {
    let len = 0;
    for (;;) {
      if (len === buffer.length) {
        const bigger = Buffer.allocUnsafe(buffer.length * 2);
        buffer.copy(bigger, 0, 0, len);
        buffer = bigger;
      }
      const n = readSync(fd, buffer, len, buffer.length - len, null);
      if (n === 0) break;
      len += n;
    }
    return buffer.subarray(0, len);
  } finally {
    closeSync(fd);
  }
}

/** The file as latin1 text (procfs tables are ASCII). */
export function readProcFile(path: string): string {
  return readProcBuffer(path).toString("latin1");
}

/**
 * A procfs file kept open and read again from offset 0 (pread) — for a small file looked at
 * several times a second (/proc/net/snmp): no path walk, no open and no close per look, into a
 * buffer of its own. A failed read closes the fd; the next read opens the file again.
 */
export class HeldProcFile {
  private fd: number | undefined;
  private buf = Buffer.allocUnsafe(8192);

  constructor(readonly path: string) {}

  /** The file's bytes now: a view of this object's buffer, valid until the next read. */
  read(): Buffer {
    this.fd ??= openSync(this.path, "r");
    try {
      let len = 0;
      for (;;) {
        if (len === this.buf.length) {
          const bigger = Buffer.allocUnsafe(this.buf.length * 2);
          this.buf.copy(bigger, 0, 0, len);
          this.buf = bigger;
        }
        const n = readSync(this.fd, this.buf, len, this.buf.length - len, len);
        if (n === 0) break;
        len += n;
      }
      return this.buf.subarray(0, len);
    } catch (err) {
      this.close();
      throw err;
    }
  }

  close(): void {
    if (this.fd === undefined) return;
    try { closeSync(this.fd); } catch { /* already closed */ }
    this.fd = undefined;
  }
}
