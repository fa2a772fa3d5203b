/** A command-line usage error: main.ts prints its message and exits 2. Its own module, so main.ts does not load yaml and zod (config.ts) before every command. */
export class UsageError extends Error {}
