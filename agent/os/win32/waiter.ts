/**
 * One waiting thread for every Win32 event the agent listens to (registry change notifications,
 * the stop event, address/route change notifications): WaitForMultipleObjects run through koffi's
 * asynchronous call (one worker thread blocked, never the event loop), re-issued after each
 * wake-up. A private "wake" event interrupts the wait when the set of events changes or on close.
 *
 * Each registered event has a callback run on the JS thread when it is signalled. Events are
 * auto-reset (CreateEventW with bManualReset = 0), so a signal is consumed by the wait.
 */
import { WAIT_FAILED, WAIT_OBJECT_0, WAIT_TIMEOUT, win32 } from "./ffi.js";

const MAX_WAIT_OBJECTS = 64;

export interface Registration {
  event: number;
  close(): void;
}

export class EventWaiter {
  private readonly wake: number;
  private readonly handlers = new Map<number, () => void>();
  private waiting = false;
  private closed = false;

  constructor(private readonly onError: (err: unknown) => void = () => undefined) {
    this.wake = win32().CreateEventW(null, 0, 0, null) as number;
  }

  /** A new auto-reset event whose signal runs `fn`. */
  add(fn: () => void, event?: number): Registration {
    const w = win32();
    const ev = event ?? (w.CreateEventW(null, 0, 0, null) as number);
    if (!ev) throw new Error("CreateEventW failed");
    if (this.handlers.size + 1 >= MAX_WAIT_OBJECTS) throw new Error(`at most ${MAX_WAIT_OBJECTS - 1} events can be waited on`);
    this.handlers.set(ev, fn);
    this.rewait();
    return {
      event: ev,
      close: () => {
        if (!this.handlers.delete(ev)) return;
        this.rewait();
        if (event === undefined) w.CloseHandle(ev);
      },
    };
  }

  private rewait(): void {
    if (this.closed) return;
    if (this.waiting) {
      win32().SetEvent(this.wake);
      return;
    }
    this.loop();
  }

  private loop(): void {
    if (this.closed || this.handlers.size === 0) return;
    const handles = [this.wake, ...this.handlers.keys()];
    this.waiting = true;
    // a bounded wait (60 s) so a lost wake can never park the thread for good
    win32().WaitForMultipleObjects.async(handles.length, handles, 0, 60_000, (err: unknown, rc: number) => {
      this.waiting = false;
      if (this.closed) return;
      if (err) {
        this.onError(err);
        return;
      }
      if (rc === WAIT_FAILED) {
        this.onError(new Error(`WaitForMultipleObjects failed: Win32 error ${win32().GetLastError() as number}`));
        return;
      }
      if (rc !== WAIT_TIMEOUT && rc > WAIT_OBJECT_0 && rc < WAIT_OBJECT_0 + handles.length) {
        const fn = this.handlers.get(handles[rc - WAIT_OBJECT_0]!);
        try {
          fn?.();
        } catch (e) {
          this.onError(e);
        }
      }
      this.loop();
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    const w = win32();
    w.SetEvent(this.wake);
    this.handlers.clear();
    // the wake handle is released once the pending wait has returned (it is still in its array)
    setTimeout(() => w.CloseHandle(this.wake), 1000).unref();
  }
}

let shared: EventWaiter | undefined;

/** The process-wide waiter (one blocked worker thread for all events). */
export function sharedWaiter(onError?: (err: unknown) => void): EventWaiter {
  shared ??= new EventWaiter(onError);
  return shared;
}
