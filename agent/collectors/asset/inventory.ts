/**
 * The inventory wire type lives in policies/inventory.ts (the server reads it too); normalize(),
 * failed() and the source list are the agent's (normalize.ts, no zod: the one-shot `kyoka snapshot`
 * imports only that module).
 */
export * from "../../../policies/inventory.js";
export { SOURCES, normalize, failed, type RawInventory } from "./normalize.js";
