/**
 * Linux reading for the executed collector: the package index from dpkg's file lists and
 * diversions, `rpm -qla` where rpm is installed, the snap/flatpak trees; program executions from
 * fanotify with the executed file's fd, else the agent's process event source (event-source.ts:
 * which one, and the ≈1 ms limit of the fallback); the process facts from /proc; the removable
 * medium from mountinfo and the media collector's reader.
 */
import { basename } from "node:path";
import { existsSync, readdirSync, readFileSync, readlinkSync, realpathSync, statSync, watch } from "node:fs";
import { readdir, readFile, stat } from "node:fs/promises";
import type { Logger } from "../../../lib/log.js";
import { isAlive, parseCmdline, parseProcStat } from "../../os/linux/procfs.js";
import { readProcBuffer } from "../../os/linux/proc-read.js";
import { ledgerSerial } from "../media/ledger-serial.js";
import { LinuxMediaReader } from "../media/linux.js";
import { parseMountinfo } from "../media/parse-linux.js";
import type { Medium } from "../media/types.js";
import { PathIndex } from "./package-index.js";
import { LINUX_PACKAGE_TREES, withMergedUsr, parseDpkgDiversions, parseDpkgList, parseExeLink, parsePasswd, parseRpmQla, parseStatusUids, userFlatpakTrees } from "./parse-linux.js";
import type { ExecutedPlatform, MediumLink, ProcessStart, ProcessStartSource, StartedProcess } from "./platform.js";
import { linuxProcessStarts, runningProcesses } from "./event-source.js";
import { exec } from "../../../lib/exec.js";

export interface LinuxExecutedOptions {
  procRoot?: string;
  dpkgDir?: string;
  /** run `rpm -qla` (default: when rpm is on PATH) */
  rpm?: boolean;
  homesRoot?: string;
  log?: Logger;
}

function silentLogger(): Logger {
  const noop = () => undefined;
  const log: Record<string, unknown> = { level: "silent" };
  for (const m of ["fatal", "error", "warn", "info", "debug", "trace"]) log[m] = noop;
  log.child = () => log;
  return log as unknown as Logger;
}

/** where rpm keeps its database (Fedora ≥ 36 and openSUSE: /usr/lib/sysimage/rpm; older: /var/lib/rpm) */
const RPM_DB_DIRS = ["/var/lib/rpm", "/usr/lib/sysimage/rpm"];

function rpmQla(): Promise<string | undefined> {
  // no rpm database: nothing to ask (on Debian each rebuild would otherwise try every PATH entry for `rpm`)
  if (!RPM_DB_DIRS.some((d) => existsSync(d))) return Promise.resolve(undefined);
  // rpm absent (ENOENT) or failed: no rpm paths
  return exec("rpm", ["-qla"], { maxBuffer: 256 * 1024 * 1024, timeoutMs: 120_000 }).then((r) => (r.code === 0 ? r.stdout : undefined), () => undefined);
}

function readComm(dir: string): string | undefined {
  try { return readProcBuffer(`${dir}/comm`).toString("utf8").replace(/\n$/, ""); } catch { return undefined; }
}

export class LinuxExecutedPlatform implements ExecutedPlatform {
  readonly os = "linux" as const;
  private readonly procRoot: string;
  private readonly dpkgDir: string;
  private readonly media: LinuxMediaReader;
  private mediaCache?: { token: string; patterns: string; media: Medium[] };
  private passwd?: { mtimeMs: number; users: Map<number, string> };

  constructor(private readonly opts: LinuxExecutedOptions = {}) {
    this.procRoot = opts.procRoot ?? "/proc";
    this.dpkgDir = opts.dpkgDir ?? "/var/lib/dpkg";
    this.media = new LinuxMediaReader(opts.log);
  }

  async buildIndex(): Promise<PathIndex> {
    const index = new PathIndex();
    // top-level symlinks into /usr (merged /usr): /bin → /usr/bin, /lib64 → /usr/lib64…
    const links = new Map<string, string>();
    for (const top of ["/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"]) {
      try {
        const real = realpathSync(top);
        if (real !== top) links.set(top, real);
      } catch { /* absent */ }
    }
    const add = (paths: string[], source: string) => index.addPaths(withMergedUsr(paths, links), source);
    const infoDir = `${this.dpkgDir}/info`;
    let lists: string[] = [];
    try { lists = (await readdir(infoDir)).filter((f) => f.endsWith(".list")); } catch { /* not a dpkg system */ }
    // a few files at a time: the whole set is ≈800 files, 7.7 MB on the development machine
    for (let i = 0; i < lists.length; i += 32) {
      const texts = await Promise.all(lists.slice(i, i + 32).map((f) => readFile(`${infoDir}/${f}`, "utf8").catch(() => "")));
      texts.forEach((t, j) => add(parseDpkgList(t), `dpkg:${lists[i + j]!.slice(0, -5)}`));
    }
    try { add(parseDpkgDiversions(await readFile(`${this.dpkgDir}/diversions`, "utf8")), "dpkg:diversion"); } catch { /* none */ }
    if (this.opts.rpm ?? true) {
      const text = await rpmQla();
      if (text) add(parseRpmQla(text), "rpm");
    }
    for (const t of LINUX_PACKAGE_TREES) index.addTree(t.root, t.source);
    const homesRoot = this.opts.homesRoot ?? "/home";
    let homes: string[] = ["/root"];
    try { homes = homes.concat(readdirSync(homesRoot).map((h) => `${homesRoot}/${h}`)); } catch { /* no homes */ }
    for (const t of userFlatpakTrees(homes)) index.addTree(t.root, t.source);
    return index;
  }

  async indexToken(): Promise<string> {
    const paths = [`${this.dpkgDir}/status`, `${this.dpkgDir}/info`, `${this.dpkgDir}/diversions`, "/var/lib/rpm", "/var/lib/rpm/rpmdb.sqlite", "/var/lib/rpm/Packages", "/usr/lib/sysimage/rpm", "/usr/lib/sysimage/rpm/rpmdb.sqlite"];
    const parts = await Promise.all(paths.map(async (p) => {
      try { const s = await stat(p); return `${s.mtimeMs}:${s.size}`; } catch { return "-"; }
    }));
    return parts.join("|");
  }

  watchIndex(onChange: () => void): () => void {
    // dpkg replaces `status` by rename and writes info/*.list: watching the folder sees both
    const watchers = [this.dpkgDir, ...RPM_DB_DIRS].flatMap((dir) => {
      try {
        const w = watch(dir, { persistent: false }, (_e, name) => {
          if (!name || name === "status" || name === "diversions" || /^rpmdb|^Packages/.test(String(name))) onChange();
        });
        w.on("error", () => undefined);
        return [w];
      } catch { return []; }
    });
    return () => watchers.forEach((w) => w.close());
  }

  processStarts(): ProcessStartSource {
    const log = this.opts.log ?? silentLogger();
    return linuxProcessStarts(log, this.procRoot);
  }

  async running(): Promise<ProcessStart[]> {
    return runningProcesses(this.procRoot);
  }

  private userName(uid: number): string | undefined {
    try {
      const st = statSync("/etc/passwd");
      if (!this.passwd || this.passwd.mtimeMs !== st.mtimeMs) this.passwd = { mtimeMs: st.mtimeMs, users: parsePasswd(readFileSync("/etc/passwd", "utf8")) };
      return this.passwd.users.get(uid);
    } catch {
      return undefined;
    }
  }

  describe(start: ProcessStart): StartedProcess | undefined {
    const dir = `${this.procRoot}/${start.pid}`;
    let link: string | undefined;
    try { link = readlinkSync(`${dir}/exe`); } catch { /* exited (or a kernel thread) */ }
    // the source named the program (fanotify: from the executed file itself): reported even when
    // the process is gone already; else the process's own link, or nothing
    const named = start.exe ?? link;
    if (named === undefined) return undefined;
    const { path, deleted } = parseExeLink(named);
    // fanotify tells of an exec before it completes: until then /proc shows the program before it
    // (its command line is the parent's). Done when the exe link or the comm names the new program
    // (a script: the comm is the script's name, the exe its interpreter's).
    const execDone = start.readPath === undefined || (link !== undefined && parseExeLink(link).path === path) || readComm(dir) === basename(path).slice(0, 15);
    let ppid = start.ppid, startTime = start.startTime;
    if (ppid === undefined || startTime === undefined) {
      try {
        const s = parseProcStat(readProcBuffer(`${dir}/stat`).toString("latin1"));
        ppid ??= s?.ppid;
        startTime ??= s?.startTime;
      } catch { /* exited */ }
    }
    let uid: number | undefined;
    try { uid = parseStatusUids(readProcBuffer(`${dir}/status`).toString("latin1"))?.uid; } catch { /* exited */ }
    let cmdline: string[] | undefined;
    if (execDone) try { cmdline = parseCmdline(readProcBuffer(`${dir}/cmdline`)); } catch { /* exited */ }
    let parentExe: string | undefined;
    if (ppid !== undefined && ppid > 0) {
      try { parentExe = parseExeLink(readlinkSync(`${this.procRoot}/${ppid}/exe`)).path; } catch { /* gone, or a kernel thread */ }
    }
    const user = uid !== undefined ? this.userName(uid) : undefined;
    return {
      pid: start.pid, path, ...(deleted ? { deleted } : {}), readPath: start.readPath ?? `${dir}/exe`,
      ...(ppid !== undefined ? { ppid } : {}), ...(parentExe ? { parentExe } : {}),
      ...(uid !== undefined ? { uid } : {}), ...(user ? { user } : {}),
      ...(startTime !== undefined ? { startTime } : {}), ...(cmdline ? { cmdline } : {}),
    };
  }

  async medium(path: string, treatAsRemovable: readonly string[]): Promise<MediumLink | null> {
    let mountText: string;
    try { mountText = readFileSync(`${this.procRoot}/self/mountinfo`, "utf8"); } catch { return null; }
    let best: { mountPoint: string; source: string } | undefined;
    for (const m of parseMountinfo(mountText)) {
      const mp = m.mountPoint === "/" ? "/" : `${m.mountPoint}/`;
      if ((path.startsWith(mp) || path === m.mountPoint) && (!best || m.mountPoint.length >= best.mountPoint.length)) best = m;
    }
    // only block devices can be removable media (not tmpfs, overlay, proc…)
    if (!best || !best.source.startsWith("/dev/")) return null;
    const token = await this.media.changeToken();
    const patterns = treatAsRemovable.join("\0");
    if (!this.mediaCache || this.mediaCache.token !== token || this.mediaCache.patterns !== patterns) {
      this.mediaCache = { token, patterns, media: await this.media.list({ treatAsRemovable }) };
    }
    let source = best.source;
    try { source = realpathSync(source); } catch { /* keep it */ }
    const m = this.mediaCache.media.find((x) => x.mount === best!.mountPoint) ?? this.mediaCache.media.find((x) => x.device === source);
    if (!m) return null;
    return { device: m.device, mount: m.mount, ...ledgerSerial(m), vendorId: m.vendorId, productId: m.productId, label: m.label };
  }

  isAlive(pid: number, startTime?: number): boolean {
    return isAlive(pid, startTime, this.procRoot);
  }
}
