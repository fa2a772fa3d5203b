/**
 * policy.p2p.response = terminate: SIGTERM, then SIGKILL after a grace period, confirming the
 * process (pid, start time) is gone. Used by the P2P collector (index.ts).
 */
export interface TerminateResult {
  response: "terminated" | "terminate_failed";
  signal?: "SIGTERM" | "SIGKILL";
  error?: string;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** SIGTERM, wait up to graceMs, then SIGKILL; confirm the process (pid, startTime) is gone. */
export async function terminateProcess(pid: number, startTime: number | undefined, isAlive: (pid: number, st?: number) => boolean, graceMs: number): Promise<TerminateResult> {
  if (pid <= 1 || pid === process.pid) return { response: "terminate_failed", error: "refusing to signal this pid" };
  const waitGone = async (ms: number) => {
    const until = Date.now() + ms;
    while (Date.now() < until) {
      if (!isAlive(pid, startTime)) return true;
      await sleep(50);
    }
    return !isAlive(pid, startTime);
  };
  try {
    process.kill(pid, "SIGTERM");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ESRCH") return { response: "terminated", signal: "SIGTERM" };
    return { response: "terminate_failed", error: `SIGTERM: ${code ?? String(err)}` };
  }
  if (await waitGone(graceMs)) return { response: "terminated", signal: "SIGTERM" };
  try {
    if (isAlive(pid, startTime)) process.kill(pid, "SIGKILL");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== "ESRCH") return { response: "terminate_failed", error: `SIGKILL: ${code ?? String(err)}` };
  }
  if (await waitGone(2000)) return { response: "terminated", signal: "SIGKILL" };
  return { response: "terminate_failed", error: "still running after SIGKILL" };
}
