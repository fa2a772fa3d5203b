/**
 * Node/V8 settings for the long-lived agent. V8 sizes its young generation for throughput (up to
 * 16–32 MiB of semi-spaces that stay resident); a daemon that allocates little per second does
 * not need it. Measured with every collector on (BENCHMARKS.md, "agent idle"): mean RSS of the
 * agent's process tree 150.7 MB → 88.9 MB. `--v8-pool-size=1` keeps one V8 worker thread instead
 * of one per core. Both are allowed in NODE_OPTIONS, which the single executables honour too, so
 * the installed services set them there: the .deb's unit (installers/linux/kyoka-agent.service,
 * `Environment="NODE_OPTIONS=…"`), the MSI and the PowerShell install (the service key's
 * `Environment` REG_MULTI_SZ, read by Windows' service manager at start; a single executable
 * takes no Node flags on its command line). `kyoka local` passes them to the agent it starts.
 * They must be given at start: V8 ignores them once the heap exists.
 */
export const AGENT_NODE_FLAGS = ["--max-semi-space-size=1", "--v8-pool-size=1"] as const;

/** NODE_OPTIONS for a child agent: the caller's own options plus AGENT_NODE_FLAGS (not repeated). */
export function agentNodeOptions(existing = process.env.NODE_OPTIONS ?? ""): string {
  const have = existing.split(/\s+/).filter(Boolean);
  const names = new Set(have.map((f) => f.split("=")[0]));
  return [...have, ...AGENT_NODE_FLAGS.filter((f) => !names.has(f.split("=")[0]))].join(" ");
}
