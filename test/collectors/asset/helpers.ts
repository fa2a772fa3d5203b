import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { RawInventory } from "../../../agent/collectors/asset/inventory.js";

const fixtures = fileURLToPath(new URL("../../fixtures/", import.meta.url));

export function loadRaw(os: "linux" | "win32" | "darwin", name: string): RawInventory {
  return JSON.parse(readFileSync(`${fixtures}${os}/asset/${name}`, "utf8")) as RawInventory;
}
export const rawLinux = () => loadRaw("linux", "si-vm.json");
export const rawWindows = () => loadRaw("win32", "si-latitude.json");
export const rawMac = () => loadRaw("darwin", "si-macbook.json");
