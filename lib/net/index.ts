/** Network address utilities (pure): IP/CIDR and MAC. */
export * from "./ip.js";
export * from "./mac.js";
