/**
 * Network namespaces seen from /proc: every namespace that holds a process, with its pids
 * (grouped by the inode of /proc/<pid>/ns/net), so sockets in containers and test namespaces are
 * read too. Used by sockets.ts and socket-owners.ts.
 */
import { readdirSync, readlinkSync } from "node:fs";
import { join } from "node:path";

/** `net:[4026531840]` → 4026531840 */
export function parseNsLink(link: string): number | undefined {
  const m = /^net:\[(\d+)\]$/.exec(link);
  return m ? Number(m[1]) : undefined;
}

export interface NetNamespace {
  /** inode of the namespace (the number in `net:[…]`) */
  inode: number;
  /** live processes in it, ascending */
  pids: number[];
  /** the agent's own namespace */
  own: boolean;
}

export function listPids(procRoot: string): number[] {
  const pids: number[] = [];
  for (const name of readdirSync(procRoot)) {
    const c = name.charCodeAt(0);
    if (c >= 48 && c <= 57) {
      const n = Number(name);
      if (Number.isInteger(n)) pids.push(n);
    }
  }
  return pids.sort((a, b) => a - b);
}

/**
 * Every network namespace that holds a process, with its pids. `cache` (pid → ns inode) saves
 * one readlink per known pid per call; pass the same Map across calls.
 */
export function listNetNamespaces(procRoot = "/proc", cache?: Map<number, number>): NetNamespace[] {
  const own = parseNsLink(safeReadlink(join(procRoot, "self/ns/net")) ?? "");
  const byNs = new Map<number, number[]>();
  const pids = listPids(procRoot);
  const live = new Set(pids);
  if (cache) for (const pid of cache.keys()) if (!live.has(pid)) cache.delete(pid);
  for (const pid of pids) {
    let ns = cache?.get(pid);
    if (ns === undefined) {
      ns = parseNsLink(safeReadlink(join(procRoot, String(pid), "ns/net")) ?? "");
      if (ns === undefined) continue; // exited, or a kernel thread we may not inspect
      cache?.set(pid, ns);
    }
    let list = byNs.get(ns);
    if (!list) byNs.set(ns, (list = []));
    list.push(pid);
  }
  if (own !== undefined && !byNs.has(own)) byNs.set(own, []);
  return [...byNs].map(([inode, list]) => ({ inode, pids: list, own: inode === own }));
}

export function safeReadlink(path: string): string | undefined {
  try {
    return readlinkSync(path);
  } catch {
    return undefined;
  }
}
