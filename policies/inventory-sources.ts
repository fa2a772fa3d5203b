/**
 * The systeminformation calls one asset snapshot makes (all in parallel; none spawns per-process
 * commands). Its own module without zod: the agent's normalize.ts (loaded by the one-shot
 * `kyoka snapshot`) needs only this list.
 */
export const SOURCES = [
  "system", "bios", "baseboard", "cpu", "memLayout", "diskLayout", "networkInterfaces", "osInfo", "uuid", "users",
] as const;
