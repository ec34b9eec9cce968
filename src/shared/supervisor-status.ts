/**
 * The supervisor's view, as a file: `DATA_DIR/supervisor-status.json`, rewritten atomically
 * (temp file + rename) by `pipbot start` on every change (a child started, got ready, exited,
 * restarts; the supervisor stops), and read by `pipbot status`. A file rather than an endpoint:
 * no port, no token, readable even when the supervisor is gone (then it says what it last saw,
 * and the reader checks the pid). See docs/SUPERVISOR.md "Status file".
 */
import { readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export const STATUS_FILE = "supervisor-status.json";

export type ChildState = "waiting" | "starting" | "ready" | "restarting" | "stopping" | "stopped" | "failed";

export interface ChildExit {
  code: number | null;
  signal: string | null;
  /** epoch ms */
  at: number;
  uptimeMs: number;
  /** What the supervisor made of it: "restart", "stopped", "crash_loop", "startup_failure". */
  action: string;
  /** Human text, e.g. "killed by SIGKILL". */
  reason: string;
}

export interface ChildView {
  name: string;
  pid: number | null;
  state: ChildState;
  /** epoch ms the current instance started */
  startedAt: number | null;
  restarts: number;
  lastExit: ChildExit | null;
}

export interface SupervisorView {
  pid: number;
  /** epoch ms */
  startedAt: number;
  updatedAt: number;
  state: "idle" | "starting" | "running" | "stopping" | "stopped";
  children: ChildView[];
}

export function statusFilePath(dataDir: string): string {
  return join(dataDir, STATUS_FILE);
}

/** Write atomically: a reader sees the old file or the new one, never half of one. */
export function writeStatusFile(path: string, view: SupervisorView): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(view, null, 2)}\n`);
  renameSync(tmp, path);
}

/** The file's view, or null when there is none (never started here) or it cannot be parsed. */
export function readStatusFile(path: string): SupervisorView | null {
  try {
    const v = JSON.parse(readFileSync(path, "utf8")) as SupervisorView;
    return typeof v.pid === "number" && Array.isArray(v.children) ? v : null;
  } catch {
    return null;
  }
}
