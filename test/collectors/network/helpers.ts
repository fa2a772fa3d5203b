/** Test helpers for the network collector (its fake context is test/helpers/collector-context.ts). */

/** Wait until `check` returns a value (not undefined/false); fail with `describe()` after timeout. */
export async function waitFor<T>(check: () => T | undefined | false, describe: () => string, timeoutMs = 15_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = check();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out waiting: ${describe()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
