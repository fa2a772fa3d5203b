/**
 * Helpers for the installer tests: build what a test needs with installers/build.sh (each output is
 * rebuilt only when the sources changed; one build at a time across test files), run a built
 * executable as a child process, and a PATH without Node.js.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, statSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { root } from "../helpers/kyoka.js";

export const outDir = join(root, "installers/out");
export const version = (JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string }).version;

/** `bash installers/build.sh <targets…>` under a lock (several test files may ask at once). */
export function buildInstallers(...targets: string[]): void {
  execFileSync("flock", ["/tmp/kyoka-installers-build.lock", "bash", join(root, "installers/build.sh"), ...targets], {
    cwd: root, stdio: ["ignore", "inherit", "inherit"], timeout: 900_000,
  });
}

/** The commit the executables were built from, as build.sh names it. */
export function gitDescribe(): string {
  return execFileSync("git", ["describe", "--always", "--dirty", "--abbrev=12"], { cwd: root, encoding: "utf8" }).trim();
}

const nodeNames = new Set(["node", "nodejs", "npm", "npx", "corepack"]);

/**
 * A folder of symlinks to every program on the usual PATH except Node.js and npm: a PC without
 * Node, for the programs the agent runs (ip, lsblk, dpkg-query…).
 */
export function pathWithoutNode(dir: string): string {
  const bin = join(dir, "bin");
  mkdirSync(bin, { recursive: true });
  for (const d of ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"]) {
    let names: string[];
    try { names = readdirSync(d); } catch { continue; }
    for (const n of names) {
      if (nodeNames.has(n)) continue;
      try {
        if (!statSync(join(d, n)).isFile()) continue;
        symlinkSync(join(d, n), join(bin, n));
      } catch {
        // a name already linked from an earlier folder, or a dangling link
      }
    }
  }
  return bin;
}

/** Run a program (a built executable) with output collected. */
export { runProgram } from "../helpers/kyoka.js";
