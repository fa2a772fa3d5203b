/** The decision moved to policies/decide.ts (shared by the server's ingest and the agent's `kyoka snapshot`). */
export * from "../policies/decide.js";
