/** Glob with * and ? (case-insensitive), anchored. Its own module: p2p/compile.ts needs only this, not the matchers. */
export function globToRegExp(glob: string): RegExp {
  const re = glob.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".");
  return new RegExp(`^${re}$`, "i");
}
