/**
 * kyoka's version and build. A single executable (installers/) carries both, baked in when it was
 * bundled (installers/sea/entry.ts sets `globalThis.kyokaBuild` before any other module runs);
 * from a checkout the version is package.json's and the build is the git commit
 * (`git describe --always --dirty`), or "dev" when there is no git.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { packageRoot } from "./paths.js";

export interface BuildInfo {
  version: string;
  /** the commit the build was made from (`abc123def456`, `-dirty` when the tree had changes), or "dev" */
  commit: string;
  /** when the single executable was bundled (ISO date); absent from a checkout */
  date?: string;
}

/** Set by the single executable's entry: the build it was bundled from. */
export function bakedBuild(): BuildInfo | undefined {
  return (globalThis as { kyokaBuild?: BuildInfo }).kyokaBuild;
}

let cachedVersion: string | undefined;
/** kyoka's version: the baked one, else package.json's ("0.0.0" if unreadable). Cheap: no git. */
export function kyokaVersion(): string {
  const baked = bakedBuild();
  if (baked) return baked.version;
  if (cachedVersion === undefined) {
    try {
      cachedVersion = (JSON.parse(readFileSync(join(packageRoot, "package.json"), "utf8")) as { version?: string }).version ?? "0.0.0";
    } catch {
      cachedVersion = "0.0.0";
    }
  }
  return cachedVersion;
}

/** The version and the build; from a checkout this runs git once (only `--version` needs it). */
export function buildInfo(): BuildInfo {
  const baked = bakedBuild();
  if (baked) return baked;
  let commit = "dev";
  try {
    commit = execFileSync("git", ["describe", "--always", "--dirty", "--abbrev=12"], {
      cwd: packageRoot, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"], timeout: 5000,
    }).trim() || "dev";
  } catch {
    // not a git checkout, or no git: "dev"
  }
  return { version: kyokaVersion(), commit };
}

/** `0.1.0 (build 7a6de5c1b2c3, 2026-12-03)` — what `kyoka --version` prints. */
export function versionLine(info: BuildInfo = buildInfo()): string {
  return `${info.version} (build ${info.commit}${info.date ? `, ${info.date}` : ""})`;
}
