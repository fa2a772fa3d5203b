/** Helpers for the live executed-collector tests: unique programs, a .deb that installs one. */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { chmodSync, copyFileSync, mkdirSync, readFileSync, writeFileSync, appendFileSync } from "node:fs";
import { join } from "node:path";

/** The program every test copies: sleep(1) from coreutils (a real ELF that stays running while we look). */
export const SLEEP = "/usr/bin/sleep";

/**
 * A program no one else has: sleep with random bytes appended (an ELF ignores trailing bytes), so
 * its SHA-256 is new to the collector. Returns its path and SHA-256.
 */
export function uniqueProgram(dir: string, name: string): { path: string; sha256: string } {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, name);
  copyFileSync(SLEEP, path);
  appendFileSync(path, randomBytes(64));
  chmodSync(path, 0o755);
  return { path, sha256: createHash("sha256").update(readFileSync(path)).digest("hex") };
}

/** A copy of a program at another path (same bytes, same SHA-256). */
export function copyProgram(from: string, to: string): string {
  copyFileSync(from, to);
  chmodSync(to, 0o755);
  return to;
}

/** Start `path 300` (sleep) and return the child; killed by the caller. */
export function runProgram(path: string, args: string[] = ["300"]): ChildProcess {
  const child = spawn(path, args, { stdio: "ignore" });
  if (child.pid === undefined) throw new Error(`could not start ${path}`);
  return child;
}

/** A .deb whose only file is a program at /usr/lib/<name>/<name> (a unique copy of sleep). */
export function buildProgramDeb(dir: string, name: string): { deb: string; installedPath: string; sha256: string } {
  const root = join(dir, `${name}-root`);
  const libDir = join(root, "usr", "lib", name);
  const prog = uniqueProgram(libDir, name);
  mkdirSync(join(root, "DEBIAN"), { recursive: true });
  writeFileSync(join(root, "DEBIAN", "control"), [
    `Package: ${name}`, "Version: 1.0", "Architecture: all", "Maintainer: Kyoka Test <test@example.invalid>",
    "Section: misc", "Priority: optional", "Description: kyoka test package with a program", "",
  ].join("\n"));
  const deb = join(dir, `${name}_1.0_all.deb`);
  execFileSync("dpkg-deb", ["--build", "--root-owner-group", root, deb], { stdio: "pipe" });
  return { deb, installedPath: `/usr/lib/${name}/${name}`, sha256: prog.sha256 };
}
