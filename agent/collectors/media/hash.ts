/**
 * A small pool for SHA-256 of files written to media: at most `concurrency` files are read at
 * once, each streamed in 1 MiB chunks (every chunk is an event-loop turn), so a 4 GB file costs
 * one stream's memory and never stalls the agent.
 */
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";

export class HashPool {
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly concurrency = 2, private readonly chunkBytes = 1024 * 1024) {}

  /** Number of hashes running or queued. */
  get pending(): number {
    return this.active + this.waiting.length;
  }

  async sha256(path: string, signal?: AbortSignal): Promise<string> {
    if (this.active >= this.concurrency) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.active++;
    try {
      const hash = createHash("sha256");
      const stream = createReadStream(path, { highWaterMark: this.chunkBytes, signal });
      for await (const chunk of stream) hash.update(chunk as Buffer);
      return hash.digest("hex");
    } finally {
      this.active--;
      this.waiting.shift()?.();
    }
  }
}
