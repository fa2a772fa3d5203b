/**
 * The agent's default state folder, on its own (no yaml, zod or server modules): `kyoka snapshot`
 * and `kyoka status` need only this, and cli/config.ts (which re-exports it) loads the server's
 * config schemas.
 */
export function defaultStateDir(): string {
  if (process.platform === "win32") return `${process.env.ProgramData ?? "C:\\ProgramData"}\\kyoka`;
  if (process.platform === "darwin") return "/Library/Application Support/kyoka";
  return process.getuid?.() === 0 ? "/var/lib/kyoka" : `${process.env.HOME ?? "."}/.kyoka`;
}
