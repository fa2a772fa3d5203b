/** Rewrites the generated part of docs/controls.md from policies/catalog.yaml (npm run docs:controls). */
import { readFileSync, writeFileSync } from "node:fs";
import { loadCatalog } from "../policies/catalog.js";
import { withControlsSection } from "../policies/controls-doc.js";

const path = new URL("../docs/controls.md", import.meta.url);
const before = readFileSync(path, "utf8");
const after = withControlsSection(before, loadCatalog());
if (after !== before) writeFileSync(path, after);
process.stdout.write(after === before ? "docs/controls.md is current\n" : "docs/controls.md rewritten\n");
