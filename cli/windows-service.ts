/**
 * `kyoka agent --service` on Windows: the agent as a Windows service that speaks to the service
 * control manager (SCM) itself, through koffi (advapi32) — no wrapper program (WinSW, srvany) to
 * ship. How (docs: "Service Program Tasks"):
 *
 * - StartServiceCtrlDispatcherW runs as a koffi async call, on a worker thread: it connects to the
 *   SCM and blocks until the service has stopped;
 * - the SCM calls ServiceMain and the control handler on its threads; koffi queues those calls to
 *   the main thread, which is free (the dispatcher call is asynchronous), so they run as plain JS;
 * - ServiceMain registers the handler, reports RUNNING and starts the agent (a failed start is
 *   reported as STOPPED with an error); STOP and SHUTDOWN report STOP_PENDING (with a wait hint),
 *   stop the agent as SIGTERM does (the queue is flushed; the whole stop is bounded to
 *   STOP_TIMEOUT_MS, inside the wait hint), then report STOPPED with the exit code: a failed start
 *   or stop is reported as an error, so the service's failure actions (restart) apply;
 * - once STOPPED is reported the process ends, with TerminateProcess on itself (the log is written
 *   synchronously, the queue is closed): when the dispatcher returns, or EXIT_AFTER_STOPPED_MS
 *   later if it does not. Not process.exit: Node's exit waits for its worker threads, and a
 *   collector abandoned by a bounded stop can leave one in a blocking wait (measured under Wine: a
 *   stop requested during the agent's start abandoned three collectors, and after STOPPED the
 *   process stayed alive for good — holding kyoka.exe, so `msiexec /x` could not delete it).
 *
 * Started from a console instead of by the SCM, the dispatcher fails with
 * ERROR_FAILED_SERVICE_CONTROLLER_CONNECT and the command says how to run the agent in a console.
 */
import { createRequire } from "node:module";
import type { Logger } from "../lib/log.js";

const SERVICE_WIN32_OWN_PROCESS = 0x10;
const SERVICE_STOPPED = 1;
const SERVICE_START_PENDING = 2;
const SERVICE_STOP_PENDING = 3;
const SERVICE_RUNNING = 4;
const SERVICE_ACCEPT_STOP = 0x1;
const SERVICE_ACCEPT_SHUTDOWN = 0x4;
const SERVICE_CONTROL_STOP = 1;
const SERVICE_CONTROL_INTERROGATE = 4;
const SERVICE_CONTROL_SHUTDOWN = 5;
const NO_ERROR = 0;
const ERROR_CALL_NOT_IMPLEMENTED = 120;
const ERROR_SERVICE_SPECIFIC_ERROR = 1066;
const ERROR_FAILED_SERVICE_CONTROLLER_CONNECT = 1063;

export const SERVICE_NAME = "kyoka-agent";
/** the agent's stop (normally < 5 s) is given this long before STOPPED is reported as an error */
export const STOP_TIMEOUT_MS = 10_000;
/** STOP_PENDING's wait hint: the SCM waits this long for STOPPED */
const STOP_WAIT_HINT_MS = STOP_TIMEOUT_MS + 5_000;
/** after STOPPED, the process ends at the latest this long later */
export const EXIT_AFTER_STOPPED_MS = 3_000;

interface Status { state: number; exitCode?: number; waitHintMs?: number }

export interface ServiceHooks {
  log: Logger;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** Run as the Windows service `name` until the SCM stops it. Resolves with the process exit code. */
export async function runWindowsService(hooks: ServiceHooks, name = SERVICE_NAME): Promise<number> {
  if (process.platform !== "win32") throw new Error("--service is for Windows services; on Linux the systemd unit runs `kyoka agent --config …`");
  const koffi = createRequire(import.meta.url)("koffi") as typeof import("koffi");
  const advapi = koffi.load("advapi32.dll");
  const kernel32 = koffi.load("kernel32.dll");

  koffi.struct("SERVICE_STATUS", {
    dwServiceType: "uint32", dwCurrentState: "uint32", dwControlsAccepted: "uint32", dwWin32ExitCode: "uint32",
    dwServiceSpecificExitCode: "uint32", dwCheckPoint: "uint32", dwWaitHint: "uint32",
  });
  const ServiceMainProto = koffi.proto("void __stdcall ServiceMainProc(uint32 argc, void *argv)");
  koffi.proto("uint32 __stdcall HandlerExProc(uint32 control, uint32 eventType, void *eventData, void *context)");
  const entry = koffi.struct("SERVICE_TABLE_ENTRYW", { lpServiceName: "str16", lpServiceProc: koffi.pointer(ServiceMainProto) });
  koffi.struct("SERVICE_TABLE", { service: entry, end: entry });

  const StartServiceCtrlDispatcherW = advapi.func("bool __stdcall StartServiceCtrlDispatcherW(_In_ SERVICE_TABLE *table)");
  const RegisterServiceCtrlHandlerExW = advapi.func("void * __stdcall RegisterServiceCtrlHandlerExW(str16 name, HandlerExProc *handler, void *context)");
  const SetServiceStatus = advapi.func("bool __stdcall SetServiceStatus(void *handle, _In_ SERVICE_STATUS *status)");
  const GetLastError = kernel32.func("uint32 __stdcall GetLastError()");
  const GetCurrentProcess = kernel32.func("void * __stdcall GetCurrentProcess()");
  const TerminateProcess = kernel32.func("bool __stdcall TerminateProcess(void *process, uint32 code)");

  const log = hooks.log.child({ component: "service" });
  let handle: unknown = null;
  let checkPoint = 0;
  let stopping: Promise<void> | undefined;
  let exitCode = 0;

  const report = (s: Status): void => {
    if (!handle) return;
    const pending = s.state === SERVICE_START_PENDING || s.state === SERVICE_STOP_PENDING;
    const ok = SetServiceStatus(handle, {
      dwServiceType: SERVICE_WIN32_OWN_PROCESS,
      dwCurrentState: s.state,
      dwControlsAccepted: s.state === SERVICE_RUNNING ? SERVICE_ACCEPT_STOP | SERVICE_ACCEPT_SHUTDOWN : 0,
      dwWin32ExitCode: s.exitCode ? ERROR_SERVICE_SPECIFIC_ERROR : NO_ERROR,
      dwServiceSpecificExitCode: s.exitCode ?? 0,
      dwCheckPoint: pending ? ++checkPoint : 0,
      dwWaitHint: s.waitHintMs ?? 0,
    }) as boolean;
    if (!ok) log.warn({ state: s.state, error: GetLastError() }, "SetServiceStatus failed");
  };

  /** End this process now with the exit code (see the header: never process.exit here). */
  const end = (why: string): void => {
    log.info({ exitCode, why }, "service process ending");
    const ok = TerminateProcess(GetCurrentProcess(), exitCode) as boolean;
    // not reached on Windows; logged if it ever is
    log.error({ ok, error: ok ? 0 : GetLastError() }, "TerminateProcess on this process returned: exiting through Node");
    process.exit(exitCode);
  };

  /** Report STOPPED (the last thing this process tells the SCM) and make sure the process ends. */
  const stopped = (): void => {
    log.info({ exitCode }, "reporting the service stopped");
    process.exitCode = exitCode;
    report({ state: SERVICE_STOPPED, exitCode });
    // the dispatcher returns now and ends the process; should it not, this timer does
    setTimeout(() => end(`the service control dispatcher did not return ${EXIT_AFTER_STOPPED_MS} ms after STOPPED`), EXIT_AFTER_STOPPED_MS);
  };

  let started: Promise<void> = Promise.resolve();
  const stop = (why: string): Promise<void> => {
    stopping ??= (async () => {
      log.info({ why }, "service stop requested: stopping the agent");
      report({ state: SERVICE_STOP_PENDING, waitHintMs: STOP_WAIT_HINT_MS });
      // a stop during the start waits for the start to finish; the whole stop is bounded
      const work = started.catch(() => undefined).then(() => hooks.stop());
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<"timeout">((resolve) => {
        timer = setTimeout(() => resolve("timeout"), STOP_TIMEOUT_MS);
      });
      try {
        if ((await Promise.race([work, timeout])) === "timeout") {
          log.error({ timeoutMs: STOP_TIMEOUT_MS }, "the agent did not stop in time: reporting the service stopped with an error");
          exitCode = 1;
        }
      } catch (err) {
        log.error({ err }, "error while stopping");
        exitCode = 1;
      } finally {
        clearTimeout(timer);
      }
      stopped();
    })();
    return stopping;
  };

  const handler = koffi.register((control: number) => {
    if (control === SERVICE_CONTROL_STOP || control === SERVICE_CONTROL_SHUTDOWN) {
      // after the handler has returned to the SCM (SetServiceStatus is not called from inside it)
      setImmediate(() => void stop(control === SERVICE_CONTROL_STOP ? "stop" : "shutdown"));
      return NO_ERROR;
    }
    if (control === SERVICE_CONTROL_INTERROGATE) return NO_ERROR;
    return ERROR_CALL_NOT_IMPLEMENTED;
  }, "HandlerExProc *");

  const serviceMain = koffi.register(() => {
    handle = RegisterServiceCtrlHandlerExW(name, handler, null);
    if (!handle) {
      log.error({ error: GetLastError() }, "RegisterServiceCtrlHandlerExW failed");
      return;
    }
    // RUNNING at once (the agent's start — enrollment, first scans — takes seconds, and a
    // START_PENDING service cannot be stopped): a failed start is reported as STOPPED with an error
    report({ state: SERVICE_START_PENDING, waitHintMs: 30_000 });
    report({ state: SERVICE_RUNNING });
    started = hooks.start();
    started.then(
      () => log.info({ service: name }, "running as a Windows service"),
      (err: unknown) => {
        if (stopping) return;
        log.error({ err }, "the agent failed to start: reporting the service stopped with an error");
        exitCode = 1;
        stopping = Promise.resolve();
        stopped();
      },
    );
  }, koffi.pointer(ServiceMainProto));

  try {
    const connected = await new Promise<boolean>((resolve, reject) => {
      StartServiceCtrlDispatcherW.async({ service: { lpServiceName: name, lpServiceProc: serviceMain }, end: { lpServiceName: null, lpServiceProc: null } },
        (err: unknown, ok: boolean) => (err ? reject(err as Error) : resolve(ok)));
    });
    if (!connected) {
      const error = GetLastError();
      if (error === ERROR_FAILED_SERVICE_CONTROLLER_CONNECT) {
        throw new Error("--service: not started by the Windows service control manager; to run the agent in a console, leave out --service");
      }
      throw new Error(`--service: StartServiceCtrlDispatcherW failed (Windows error ${error})`);
    }
    // the dispatcher returns once the service has reported STOPPED; should it return before a
    // stop was even requested (the SCM went away), the agent is still stopped properly
    await (stopping ?? stop("the service control dispatcher returned"));
    end("the service control dispatcher returned");
    return exitCode;
  } finally {
    koffi.unregister(serviceMain);
    koffi.unregister(handler);
  }
}
