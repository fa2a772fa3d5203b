/**
 * The glob matcher (policies/matchers/glob.ts) on hostile input: time per match for the cases of
 * issue 11 (a 120 KB name against `*bit*torrent*client*`, `*a*b*c*` against 6 KB of `a`), and how
 * the time grows with the text (it should double when the text doubles: linear, no backtracking
 * blow-up). Usage: npx tsx bench/glob.ts
 */
import { compileGlob } from "../policies/matchers/glob.js";

function time(glob: string, text: string, runs: number): number {
  const g = compileGlob(glob);
  g.test(text);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < runs; i++) g.test(text);
  return Number(process.hrtime.bigint() - t0) / 1e6 / runs;
}

const rows: Array<Record<string, string | number>> = [];
for (const kb of [6, 12, 24, 48, 96, 120]) {
  const n = kb * 1024;
  rows.push({ glob: "*bit*torrent*client*", text: `${kb} KB "bitbit…"`, msPerMatch: +time("*bit*torrent*client*", "bit".repeat(Math.ceil(n / 3)).slice(0, n), 20).toFixed(3) });
  rows.push({ glob: "*a*b*c*", text: `${kb} KB "aaa…"`, msPerMatch: +time("*a*b*c*", "a".repeat(n), 20).toFixed(3) });
}
console.table(rows);
