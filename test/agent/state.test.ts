import { readdir, readFile, writeFile, mkdir } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { FileStateStore, PolicyStore, StateStores } from "../../agent/state.js";
import { Policy } from "../../policies/policy.js";
import { silentLog, tempDir } from "./helpers.js";

let dir: string;
let cleanup: () => Promise<void>;
beforeEach(async () => {
  ({ dir, cleanup } = await tempDir());
});
afterEach(async () => {
  await cleanup();
});

describe("FileStateStore", () => {
  it("persists every set before resolving and leaves no temp files, even with concurrent sets", async () => {
    const stores = new StateStores(dir, silentLog());
    const s = await stores.forCollector("software");
    await Promise.all([s.set("a", 1), s.set("b", [1, 2]), s.set("a", 3)]);
    expect(JSON.parse(await readFile(join(dir, "state", "software.json"), "utf8"))).toEqual({ a: 3, b: [1, 2] });
    expect((await readdir(join(dir, "state"))).filter((n) => n.endsWith(".tmp"))).toEqual([]);
    expect(await stores.forCollector("software")).toBe(s); // one instance across restarts

    const reloaded = await new StateStores(dir, silentLog()).forCollector("software");
    expect(reloaded.get("a")).toBe(3);
    expect(reloaded.get("missing")).toBeUndefined();
  });

  it("starts empty from a corrupt file and refuses a collector name that is not a plain file name", async () => {
    await mkdir(join(dir, "state"), { recursive: true });
    await writeFile(join(dir, "state", "media.json"), "{torn");
    const s = new FileStateStore(join(dir, "state", "media.json"), silentLog());
    await s.load();
    expect(s.get("anything")).toBeUndefined();
    await s.set("k", "v");
    expect(JSON.parse(await readFile(join(dir, "state", "media.json"), "utf8"))).toEqual({ k: "v" });
    await expect(new StateStores(dir, silentLog()).forCollector("../escape")).rejects.toThrow(/invalid collector name/);
  });
});

describe("PolicyStore", () => {
  it("uses the fallback until a server policy is set, persists it, and notifies listeners", async () => {
    const fallback = Policy.parse({ heartbeatSeconds: 45 });
    const store = new PolicyStore(dir, fallback, silentLog());
    await store.load();
    expect(store.get()).toEqual({ version: null, policy: fallback });
    const heard: (number | null)[] = [];
    const off = store.onChange((_p, v) => heard.push(v));
    await store.set(4, Policy.parse({ heartbeatSeconds: 5 }));
    off();
    await store.set(5, Policy.parse({}));
    expect(heard).toEqual([4]);

    const again = new PolicyStore(dir, fallback, silentLog());
    await again.load();
    expect(again.version()).toBe(5);
    expect(again.policy().heartbeatSeconds).toBe(30);
  });

  it("ignores an unreadable persisted policy and keeps the fallback", async () => {
    await writeFile(join(dir, "policy.json"), JSON.stringify({ version: 2, policy: { heartbeatSeconds: "x" } }));
    const store = new PolicyStore(dir, Policy.parse({}), silentLog());
    await store.load();
    expect(store.version()).toBeNull();
  });
});
