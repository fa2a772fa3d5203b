/** `kyoka snapshot --json` section "hardware": one inventory read, without the collector's scheduler (node-cron). */
import type { SnapshotSource } from "../../collector.js";
import { pcIdentity } from "./identity.js";
import { normalize } from "./normalize.js";
import { readSystemInformation } from "./platform.js";

export const assetSnapshotSource: SnapshotSource = {
  name: "hardware",
  async snapshot() {
    const inv = normalize(await readSystemInformation());
    const id = pcIdentity(inv);
    return { pcId: id.id, pcIdBasis: id.basis, ...inv };
  },
};
