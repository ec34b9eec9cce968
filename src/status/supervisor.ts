/**
 * `pipbot status`'s supervisor section: what the supervisor last wrote to
 * DATA_DIR/supervisor-status.json (each child's pid, state, uptime, restarts, last exit and its
 * reason), and whether that supervisor is still running. Pure apart from reading the file.
 */
import { existsSync, statSync } from "node:fs";
import { resolve } from "node:path";
import { readStatusFile, type SupervisorView, statusFilePath } from "../shared/supervisor-status.ts";
import { formatDuration } from "./format.ts";

export interface SupervisorSection {
  /** The status file read. */
  path: string;
  /** Its pid is a running process (false: the supervisor is gone; the view is what it last saw). */
  running: boolean;
  view: SupervisorView;
}

/**
 * The status file to read: DATA_DIR's when set, else the newest of ./data and ./data/demo (where
 * `pipbot start` and `pipbot demo` keep their data by default), a relative path resolved against
 * `base`, the Procfile's directory (where the supervisor resolves it: withDataDirFrom).
 */
export function statusFileFor(dataDir: string | undefined, base: string): string | null {
  if (dataDir?.trim()) return statusFilePath(resolve(base, dataDir.trim()));
  const found = ["./data", "./data/demo"]
    .map((d) => statusFilePath(resolve(base, d)))
    .filter((p) => existsSync(p))
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
  return found[0] ?? null;
}

export function readSupervisorSection(
  path: string | null,
  alive: (pid: number) => boolean,
): SupervisorSection | null {
  if (!path) return null;
  const view = readStatusFile(path);
  if (!view) return null;
  const running = view.state !== "stopped" && alive(view.pid);
  return { path, running, view };
}

function exitText(e: NonNullable<SupervisorView["children"][number]["lastExit"]>, nowMs: number): string {
  return `last exit ${e.reason} ${formatDuration(Math.max(0, nowMs - e.at))} ago after ${formatDuration(e.uptimeMs)} up (${e.action})`;
}

/** The human lines: the supervisor, then one indented line per child. */
export function formatSupervisor(s: SupervisorSection | null, nowMs: number): string[] {
  if (!s)
    return [
      "supervisor  no status file (DATA_DIR/supervisor-status.json): not started with pipbot start here",
    ];
  const v = s.view;
  const head = s.running
    ? `supervisor  pid ${v.pid} ${v.state} · up ${formatDuration(Math.max(0, nowMs - v.startedAt))} · ${s.path}`
    : `supervisor  NOT RUNNING (pid ${v.pid}, last ${v.state} ${formatDuration(Math.max(0, nowMs - v.updatedAt))} ago) · ${s.path}`;
  const width = Math.max(7, ...v.children.map((c) => c.name.length));
  const lines = v.children.map((c) => {
    const up = c.startedAt === null ? "" : ` · up ${formatDuration(Math.max(0, nowMs - c.startedAt))}`;
    const pid = c.pid === null ? "pid -" : `pid ${c.pid}`;
    const last = c.lastExit ? exitText(c.lastExit, nowMs) : "last exit none";
    return `  ${c.name.padEnd(width)} ${pid} · ${c.state}${up} · restarts ${c.restarts} · ${last}`;
  });
  return [head, ...lines];
}
