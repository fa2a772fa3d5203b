/** Run a TypeScript module script in a child node inside a new user namespace (root mapped), as a container would. */
import { spawn } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../..", import.meta.url));

/** The script runs from the repository root (imports like "./agent/…ts"); resolves with its exit code, stdout and stderr. */
export async function runInUserNamespace(script: string): Promise<{ code: number | null; out: string; err: string }> {
  const p = spawn("unshare", ["--user", "--map-root-user", process.execPath, "--import", "tsx", "--input-type=module", "-e", script], { cwd: root, stdio: ["ignore", "pipe", "pipe"] });
  let out = "", err = "";
  p.stdout!.on("data", (d) => { out += d; });
  p.stderr!.on("data", (d) => { err += d; });
  const [code] = await once(p, "exit") as [number | null];
  return { code, out, err };
}
