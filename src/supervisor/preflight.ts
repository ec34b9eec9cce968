/**
 * Start-up preflight, before any child is spawned (issue 11 finding 4): the known processes'
 * ports must differ from each other (a configuration error, exit 78), each must be free right now
 * (a preflight bind; exit 69), and no other runtime may be using the same DATA_DIR (a lock file
 * holding the supervisor's pid; exit 69). One clear message each, never a stack trace.
 */
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import { join } from "node:path";
import type { ProcEntry } from "../shared/procfile.ts";

/** sysexits EX_UNAVAILABLE: a port is taken or the DATA_DIR is in use by another runtime. */
export const EX_UNAVAILABLE = 69;

export const LOCK_FILE = "supervisor.lock";

export interface PortEnv {
  AI_HOST: string;
  AI_PORT: number;
  SYNC_STATUS_PORT: number;
  GATEWAY_HOST: string;
  GATEWAY_PORT: number;
}

export interface BindTarget {
  proc: string;
  variable: string;
  host: string;
  port: number;
}

/** The addresses the selected known processes will bind. */
export function bindTargets(entries: ProcEntry[], env: PortEnv): BindTarget[] {
  const all: BindTarget[] = [
    { proc: "ai", variable: "AI_PORT", host: env.AI_HOST, port: env.AI_PORT },
    { proc: "sync", variable: "SYNC_STATUS_PORT", host: "127.0.0.1", port: env.SYNC_STATUS_PORT },
    { proc: "gateway", variable: "GATEWAY_PORT", host: env.GATEWAY_HOST, port: env.GATEWAY_PORT },
  ];
  const names = new Set(entries.map((e) => e.name));
  return all.filter((t) => names.has(t.proc));
}

/** Two selected processes on the same port: one line per collision (a configuration error). */
export function portCollisions(targets: BindTarget[]): string[] {
  const out: string[] = [];
  targets.forEach((a, i) => {
    for (const b of targets.slice(i + 1))
      if (a.port === b.port && a.port !== 0)
        out.push(
          `  - ${a.variable} and ${b.variable} are both ${a.port}: ${a.proc} and ${b.proc} cannot share a port. Fix: give each its own port`,
        );
  });
  return out;
}

/** The message for a port the preflight bind found taken. */
export function portBusyMessage(t: BindTarget, err: string, command = "start"): string {
  return (
    `pipbot ${command}: port ${t.port} (${t.variable}, the ${t.proc} process) on ${t.host} is already in use (${err}). ` +
    `Is another pipbot runtime running? Fix: stop it, or set ${t.variable} to a free port. Nothing was started.`
  );
}

export interface LockHolder {
  pid: number;
  startedAt: string;
}

export type LockResult =
  | { ok: true; release: () => void; stale?: LockHolder }
  | { ok: false; holder: LockHolder; path: string };

/**
 * Take DATA_DIR/supervisor.lock (created exclusively, holding our pid). A lock whose pid is no
 * longer a running process is stale (its supervisor was killed): it is replaced and reported.
 * `alive(pid)` is injected (main.ts: a live, non-zombie process).
 */
export function acquireLock(
  dataDir: string,
  pid: number,
  alive: (pid: number) => boolean,
  now = new Date(),
): LockResult {
  mkdirSync(dataDir, { recursive: true });
  const path = join(dataDir, LOCK_FILE);
  let stale: LockHolder | undefined;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(path, "wx", 0o644);
      writeSync(fd, `${JSON.stringify({ pid, startedAt: now.toISOString() })}\n`);
      closeSync(fd);
      const release = () => {
        if (readHolder(path)?.pid === pid) rmSync(path, { force: true });
      };
      return stale ? { ok: true, release, stale } : { ok: true, release };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    }
    const holder = readHolder(path);
    if (holder && holder.pid !== pid && alive(holder.pid)) return { ok: false, holder, path };
    // Stale (dead pid) or unreadable (a writer killed mid-write): remove and try again.
    stale = holder ?? { pid: 0, startedAt: "unknown" };
    rmSync(path, { force: true });
  }
  throw new Error(`cannot take ${path}: it keeps reappearing`);
}

function readHolder(path: string): LockHolder | null {
  try {
    const v = JSON.parse(readFileSync(path, "utf8")) as Partial<LockHolder>;
    return typeof v.pid === "number" ? { pid: v.pid, startedAt: String(v.startedAt ?? "unknown") } : null;
  } catch {
    return null;
  }
}

export function lockBusyMessage(
  dataDir: string,
  r: { holder: LockHolder; path: string },
  command = "start",
): string {
  return (
    `pipbot ${command}: DATA_DIR ${dataDir} is in use by another pipbot runtime (supervisor pid ${r.holder.pid}, ` +
    `started ${r.holder.startedAt}; lock ${r.path}). Fix: stop that runtime, or set DATA_DIR to another directory. Nothing was started.`
  );
}
