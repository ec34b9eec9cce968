/**
 * What the supervisor is given: its timing settings and the adapters to the OS (`spawn`,
 * `killGroup`, `clock`, `fetch`, `output`, …). main.ts passes the real ones; tests pass fakes.
 */
import type { Logger } from "pino";
import type { ProcEntry } from "../shared/procfile.ts";
import type { SupervisorView } from "../shared/supervisor-status.ts";
import type { Clock, OutputFn, SpawnFn } from "./child.ts";
import type { BackoffSettings, CrashLoopSettings } from "./policy.ts";
import type { FetchLike, ReadinessCheck } from "./readiness.ts";

export type GroupSignal = "SIGTERM" | "SIGKILL";

/** Send `signal` to the whole process group led by `pid` (errors such as ESRCH are ignored). */
export type KillGroupFn = (pid: number, signal: GroupSignal) => void;

export interface SupervisorSettings {
  readyTimeoutMs: number;
  shutdownBudgetMs: number;
  graceMs: number;
  backoff: BackoffSettings;
  crashLoop: CrashLoopSettings;
  /** Readiness poll interval (default 10 ms: a refused loopback connect costs next to nothing). */
  pollMs?: number;
}

export interface SupervisorDeps {
  processes: { entry: ProcEntry; check: ReadinessCheck }[];
  settings: SupervisorSettings;
  spawn: SpawnFn;
  killGroup: KillGroupFn;
  clock: Clock;
  fetch: FetchLike;
  output: OutputFn;
  logger: Logger;
  /** This process's pid (shown in the status view). */
  pid?: number;
  /** Called with the supervisor's view on every change (main.ts writes the status file). */
  onChange?: (view: SupervisorView) => void;
  /** Called once every process is ready (the demo prints its banner here). */
  onReady?: () => void;
  /** Redacts a child's raw line before it is kept for quoting in a failure message. */
  scrub?: (text: string) => string;
  /** True while a process of the group led by `pid` is still running (zombies do not count). */
  groupAlive?: (pid: number) => boolean;
}
