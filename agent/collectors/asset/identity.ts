/** The PC identity and asset keys live in policies/asset-identity.ts (the server matches the ledger with them). */
export * from "../../../policies/asset-identity.js";
