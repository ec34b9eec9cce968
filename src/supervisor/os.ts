/**
 * What the supervisor asks of the operating system besides spawning, serving and signal handlers
 * (those stay in main.ts): the real clock, killing a process group and whether one is still alive
 * (/proc), whether a DATA_DIR lock's pid is a running supervisor, and reading the Procfile.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { abortableSleep } from "../shared/backoff.ts";
import {
  type ProcEntry,
  ProcfileError,
  parseProcfile,
  selectProcesses,
  startOrder,
} from "../shared/procfile.ts";
import type { Clock } from "./supervisor.ts";

export const realClock: Clock = {
  now: () => Date.now(),
  sleep: async (ms, signal) => {
    await abortableSleep(ms, signal);
  },
};

export function killGroup(pid: number, signal: "SIGTERM" | "SIGKILL"): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // ESRCH: the group is already gone
  }
}

/** True while a non-zombie process of group `pgid` exists (Linux: /proc; elsewhere kill -0). */
export function groupAlive(pgid: number): boolean {
  if (!existsSync("/proc/self/stat")) {
    try {
      process.kill(-pgid, 0);
      return true;
    } catch {
      return false;
    }
  }
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, "utf8");
      const [state, , pgrp] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(pgrp) === pgid && state !== "Z" && state !== "X") return true;
    } catch {
      // gone meanwhile
    }
  }
  return false;
}

/** The supervisor pid of a DATA_DIR lock is still running (a live pipbot process, not a reused pid). */
export function isSupervisorPid(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
  if (!existsSync("/proc/self/cmdline")) return true;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    if (/^[ZX]/.test(stat.slice(stat.lastIndexOf(")") + 2))) return false;
    return /cli\.ts|pipbot/.test(readFileSync(`/proc/${pid}/cmdline`, "utf8"));
  } catch {
    return false;
  }
}

/** The Procfile at `path`, only the `only` processes when given, in start order. */
export function loadProcesses(path: string, only: string[] | undefined): ProcEntry[] {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new ProcfileError(
      `cannot read Procfile ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`,
    );
  }
  return startOrder(selectProcesses(parseProcfile(text, path), only));
}
