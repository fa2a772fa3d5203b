/**
 * Small durable files in the agent's state dir: each collector's last known state
 * (`<stateDir>/state/<name>.json`) and the policy in force (`<stateDir>/policy.json`).
 * Every write is atomic: write a temp file, fsync it, rename it over the old one, fsync the folder.
 */
import { randomBytes } from "node:crypto";
import { mkdir, open, readFile, rename, unlink } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import type { StateStore } from "./collector.js";
import type { Logger } from "../lib/log.js";
import { Policy } from "../policies/policy.js";

/** Write `data` to `file` atomically (tmp + fsync + rename + fsync of the folder). */
export async function writeFileAtomic(file: string, data: string | Uint8Array, mode = 0o644): Promise<void> {
  const dir = dirname(file);
  await mkdir(dir, { recursive: true });
  const tmp = join(dir, `.${basename(file)}.${randomBytes(4).toString("hex")}.tmp`);
  const fh = await open(tmp, "w", mode);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } catch (err) {
    await fh.close();
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  await fh.close();
  try {
    await rename(tmp, file);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    throw err;
  }
  await fsyncDir(dir);
}

/** fsync a folder so a rename or a new file in it survives a power loss (no-op where unsupported). */
export async function fsyncDir(dir: string): Promise<void> {
  if (process.platform === "win32") return;
  let fh;
  try {
    fh = await open(dir, "r");
    await fh.sync();
  } catch {
    // some filesystems refuse fsync on a directory; the rename is still atomic
  } finally {
    await fh?.close();
  }
}

/** One collector's state: a JSON object of keys, loaded once, rewritten atomically on each set. */
export class FileStateStore implements StateStore {
  private values: Record<string, unknown> = {};
  private writing: Promise<void> = Promise.resolve();

  constructor(readonly file: string, private readonly log: Logger) {}

  /** Read the file; a missing file is an empty state, a corrupt one is logged and ignored. */
  async load(): Promise<void> {
    let text: string;
    try {
      text = await readFile(this.file, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
      this.values = {};
      return;
    }
    try {
      const parsed: unknown = JSON.parse(text);
      if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) throw new Error("not a JSON object");
      this.values = parsed as Record<string, unknown>;
    } catch (err) {
      this.log.warn({ file: this.file, err: (err as Error).message }, "state file is corrupt: starting from an empty state");
      this.values = {};
    }
  }

  get<T>(key: string): T | undefined {
    return this.values[key] as T | undefined;
  }

  set<T>(key: string, value: T): Promise<void> {
    this.values[key] = value;
    // Writes are serialized; each one writes the whole object as it is when its turn comes.
    const next = this.writing.catch(() => undefined).then(() => writeFileAtomic(this.file, JSON.stringify(this.values)));
    this.writing = next;
    return next;
  }
}

/** The state stores of every collector, one file each under `<stateDir>/state/`. */
export class StateStores {
  private readonly stores = new Map<string, FileStateStore>();

  constructor(private readonly stateDir: string, private readonly log: Logger) {}

  /** The (loaded) store of collector `name`; the same instance across restarts of the collector. */
  async forCollector(name: string): Promise<FileStateStore> {
    let store = this.stores.get(name);
    if (!store) {
      if (!/^[A-Za-z0-9_.-]+$/.test(name) || name.startsWith(".")) throw new Error(`invalid collector name for a state file: ${name}`);
      store = new FileStateStore(join(this.stateDir, "state", `${name}.json`), this.log);
      await store.load();
      this.stores.set(name, store);
    }
    return store;
  }
}

export interface PolicyInForce {
  /** the server's version number; null for the built-in or config-file policy */
  version: number | null;
  policy: Policy;
}

/**
 * The policy in force: the last one the server pushed (persisted in `<stateDir>/policy.json`),
 * else the fallback (config file or built-in default). Listeners hear every change.
 */
/** The text of `policy.json` as PolicyStore keeps it; throws when it is not a valid versioned policy. */
export function parsePersistedPolicy(text: string): { version: number; policy: Policy } {
  const raw = JSON.parse(text) as { version?: unknown; policy?: unknown };
  const policy = Policy.parse(raw.policy);
  if (typeof raw.version !== "number" || !Number.isInteger(raw.version) || raw.version < 1) throw new Error("bad version");
  return { version: raw.version, policy };
}

export class PolicyStore {
  private current: PolicyInForce;
  private readonly listeners = new Set<(policy: Policy, version: number | null) => void>();

  constructor(private readonly stateDir: string, fallback: Policy, private readonly log: Logger) {
    this.current = { version: null, policy: fallback };
  }

  get file(): string {
    return join(this.stateDir, "policy.json");
  }

  /** Load the persisted server policy, if any and valid. */
  async load(): Promise<void> {
    let text: string;
    try {
      text = await readFile(this.file, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
      throw err;
    }
    try {
      this.current = parsePersistedPolicy(text);
    } catch (err) {
      this.log.warn({ file: this.file, err: (err as Error).message }, "persisted policy is unreadable: using the default policy until the server sends one");
    }
  }

  get(): PolicyInForce {
    return this.current;
  }

  policy(): Policy {
    return this.current.policy;
  }

  version(): number | null {
    return this.current.version;
  }

  /** Persist a policy pushed by the server, make it current and notify listeners. */
  async set(version: number, policy: Policy): Promise<void> {
    await writeFileAtomic(this.file, JSON.stringify({ version, policy, receivedAt: new Date().toISOString() }));
    this.current = { version, policy };
    for (const listener of [...this.listeners]) {
      try {
        listener(policy, version);
      } catch (err) {
        this.log.error({ err }, "a policy listener threw; the policy is still in force");
      }
    }
  }

  onChange(listener: (policy: Policy, version: number | null) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
