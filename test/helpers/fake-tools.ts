/**
 * Fake command-line tools first on PATH, for parity tests against systeminformation: it runs
 * `lsblk`, `dmidecode`, `who`… through a shell with the process's PATH, so a fake script that
 * prints a fixture (or runs the real tool on a fixture file) makes it read that fixture.
 */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * Run `fn` with `tools` (name → shell script body, without the #! line) first on PATH and `env`
 * set; PATH and the other variables are restored afterwards, even when `fn` throws.
 */
export async function withFakeTools<T>(tools: Record<string, string>, fn: () => Promise<T>, env: Record<string, string> = {}): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), "kyoka-fake-tools-"));
  for (const [name, body] of Object.entries(tools)) {
    writeFileSync(join(dir, name), `#!/bin/sh\n${body}\n`);
    chmodSync(join(dir, name), 0o755);
  }
  const saved = new Map<string, string | undefined>();
  const set = { ...env, PATH: `${dir}:${process.env.PATH ?? ""}` };
  for (const [k, v] of Object.entries(set)) {
    saved.set(k, process.env[k]);
    process.env[k] = v;
  }
  try {
    return await fn();
  } finally {
    for (const [k, v] of saved) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A shell word for `s` (single-quoted). */
export const shellQuote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
