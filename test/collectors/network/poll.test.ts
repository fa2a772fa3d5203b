/**
 * The network collector's reconciling poll while change notices run (issue 18: events instead of
 * polls): with a live watch the poll takes no fingerprint (no getifaddrs dump, no procfs reads)
 * and re-reads only when the full-read period has passed; when the watch fails, the fingerprint
 * is the safety net again. A fake attachment reader counts what the poll asks of it.
 */
import { afterEach, describe, expect, it } from "vitest";
import { NetworkCollector } from "../../../agent/collectors/network/collector.js";
import type { AttachmentReader, InterfaceState, WatchSource } from "../../../agent/collectors/network/types.js";
import { recordingContext } from "../../helpers/collector-context.js";
import { waitFor } from "../../helpers/kyoka.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function fakeReader(withWatch: boolean) {
  const calls = { reads: 0, fingerprints: 0 };
  let fail: ((err: unknown) => void) | undefined;
  const state: InterfaceState[] = [];
  const reader: AttachmentReader = {
    read: async () => { calls.reads++; return state; },
    routes: async () => [],
    fingerprint: () => { calls.fingerprints++; return "same"; },
    ...(withWatch ? {
      watch: (_onChange: () => void, onError: (err: unknown) => void, onSource?: (s: WatchSource) => void) => {
        fail = onError;
        setImmediate(() => onSource?.({ name: "fake notices", debounceMs: 10 }));
        return () => undefined;
      },
    } : {}),
  };
  return { reader, calls, failWatch: (err: unknown) => fail?.(err) };
}

const collectors: NetworkCollector[] = [];
afterEach(async () => {
  for (const c of collectors.splice(0)) await c.stop();
});

describe("the network poll while change notices run", () => {
  it("takes no fingerprint while the watch is live, and takes one every poll again once it failed", async () => {
    const { reader, calls, failWatch } = fakeReader(true);
    const ctx = recordingContext({ network: { pollSeconds: 0.05 } });
    const c = new NetworkCollector({ attachment: reader, sockets: null, fullReadMs: 3_600_000 });
    collectors.push(c);
    await c.start(ctx);
    await waitFor(() => c.watchSource, "the watch's source");
    const fp0 = calls.fingerprints, reads0 = calls.reads;
    await sleep(400); // ≈ 8 polls
    expect(calls.fingerprints).toBe(fp0);
    expect(calls.reads).toBe(reads0);
    failWatch(new Error("the monitor died"));
    await waitFor(() => calls.fingerprints >= fp0 + 3 || undefined, "fingerprints after the failure");
    expect(calls.reads).toBe(reads0); // the fingerprint did not move: still no read
  });

  it("without a watch the fingerprint is taken every poll", async () => {
    const { reader, calls } = fakeReader(false);
    const ctx = recordingContext({ network: { pollSeconds: 0.05 } });
    const c = new NetworkCollector({ attachment: reader, sockets: null, fullReadMs: 3_600_000 });
    collectors.push(c);
    await c.start(ctx);
    await waitFor(() => calls.fingerprints >= 4 || undefined, "four fingerprints");
    expect(calls.reads).toBe(1); // the start only: the fingerprint never moved
  });

  it("with a live watch the full read still comes once the full-read period has passed", async () => {
    const { reader, calls } = fakeReader(true);
    const ctx = recordingContext({ network: { pollSeconds: 0.05 } });
    const c = new NetworkCollector({ attachment: reader, sockets: null, fullReadMs: 150 });
    collectors.push(c);
    await c.start(ctx);
    await waitFor(() => c.watchSource, "the watch's source");
    await waitFor(() => calls.reads >= 3 || undefined, "three reads");
    expect(calls.fingerprints).toBeLessThanOrEqual(calls.reads); // taken with the full reads only
  });
});
