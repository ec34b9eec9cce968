/** Helpers for the supervisor's e2e tests: Procfiles of fixture processes in a temp dir. */
import { afterEach } from "bun:test";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  CLI,
  childEnv,
  freePort,
  ROOT,
  type RunningProcess,
  spawnPipbot,
  tempDir,
  waitFor,
} from "../helpers/index.ts";

export const FIXTURES = join(ROOT, "test", "fixtures", "supervisor");

/** True when `pid` exists and is not a zombie. */
export function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    return state !== "Z" && state !== "X";
  } catch {
    return false;
  }
}

/**
 * SIGKILL a supervisor and then every child process group it started (from its `child_start`
 * log lines), so that no grandchild of a test's runtime survives the test.
 */
export async function killSupervisorTree(p: RunningProcess): Promise<void> {
  p.kill("SIGKILL");
  await p.exited;
  for (const r of p.records()) {
    const pid = r.event === "child_start" ? Number(r.pid) : 0;
    if (pid > 0 && isAlive(pid))
      try {
        process.kill(-pid, "SIGKILL");
      } catch {}
  }
}

export interface Scenario {
  dir: string;
  procfile: string;
  events: string;
  ports: { AI_PORT: string; SYNC_STATUS_PORT: string; GATEWAY_PORT: string };
  /** Event lines: [what, name, pid, ...rest]. */
  readEvents(): string[][];
  cleanup(): void;
}

/** Fixture commands for the three known names; `extra` appends flags per name. */
export function serverCmd(name: "ai" | "sync" | "gateway", events: string, extra = ""): string {
  const portEnv = { ai: "AI_PORT", sync: "SYNC_STATUS_PORT", gateway: "GATEWAY_PORT" }[name];
  return `exec bun ${join(FIXTURES, "server.ts")} --name ${name} --port-env ${portEnv} --events ${events} ${extra}`.trim();
}

/** The crash fixture (see fixtures/supervisor/crash.ts); its run counter lives in `dir`. */
export function crashCmd(events: string, dir: string, extra: string): string {
  return `exec bun ${join(FIXTURES, "crash.ts")} --events ${events} --state ${join(dir, "state")} ${extra}`;
}

export async function scenario(lines: (s: { events: string; dir: string }) => string[]): Promise<Scenario> {
  const t = tempDir("pipbot-sup-");
  const events = join(t.path, "events.log");
  writeFileSync(events, "");
  const procfile = join(t.path, "Procfile");
  writeFileSync(procfile, `# test Procfile\n\n${lines({ events, dir: t.path }).join("\n")}\n`);
  const ports = {
    AI_PORT: String(await freePort()),
    SYNC_STATUS_PORT: String(await freePort()),
    GATEWAY_PORT: String(await freePort()),
  };
  return {
    dir: t.path,
    procfile,
    events,
    ports,
    readEvents: () =>
      existsSync(events)
        ? readFileSync(events, "utf8")
            .split("\n")
            .filter(Boolean)
            .map((l) => l.split(" "))
        : [],
    cleanup: t.cleanup,
  };
}

export function startSupervisor(s: Scenario, env: Record<string, string> = {}, args: string[] = []) {
  return spawnPipbot(
    ["start", "--procfile", s.procfile, ...args],
    childEnv({
      ...s.ports,
      DATA_DIR: s.dir,
      SUPERVISOR_READY_TIMEOUT_MS: "15000",
      SUPERVISOR_GRACE_MS: "5000",
      SUPERVISOR_SHUTDOWN_BUDGET_MS: "15000",
      ...env,
    }),
  );
}

export type Running = ReturnType<typeof startSupervisor>;

export function exitLines(p: Running, child?: string): Record<string, unknown>[] {
  return p.records().filter((r) => r.event === "child_exit" && (child === undefined || r.child === child));
}

export function waitForEvent(p: Running, event: string, timeoutMs = 20_000, child?: string) {
  return waitFor(
    () => p.records().find((r) => r.event === event && (child === undefined || r.child === child)),
    {
      timeoutMs,
      what: `supervisor event ${event}${child ? ` for ${child}` : ""}`,
    },
  );
}

/** Pids of the fixture events `what` (e.g. "start", "grandchild"). */
export function pidsOf(s: Scenario, what: string): number[] {
  return s
    .readEvents()
    .filter((e) => e[0] === what)
    .map((e) => Number(e[2]));
}

/**
 * For a test file: `const run = supervisorRuns()` registers an afterEach that SIGKILLs each
 * supervisor a test started, then every fixture pid it recorded (no fixture may outlive its
 * test), then removes the temp dir. `run(lines, env, args)` writes the Procfile and starts
 * `pipbot start` on it.
 */
export function supervisorRuns() {
  let cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.reverse()) await c();
    cleanups = [];
  });
  return async (
    lines: Parameters<typeof scenario>[0],
    env: Record<string, string> = {},
    args: string[] = [],
  ): Promise<{ s: Scenario; p: Running }> => {
    const s = await scenario(lines);
    const p = startSupervisor(s, env, args);
    cleanups.push(async () => {
      p.kill("SIGKILL");
      await p.exited;
      for (const [, , pid] of s.readEvents()) {
        const n = Number(pid);
        if (n > 0 && isAlive(n))
          try {
            process.kill(n, "SIGKILL");
          } catch {}
      }
      s.cleanup();
    });
    return { s, p };
  };
}

/**
 * A project directory holding a gateway-only Procfile, and a different working directory: for the
 * tests of paths that are relative to the Procfile's directory (DATA_DIR, GATEWAY_CONTROL_UI_DIR).
 * Both are removed by `cleanup`, registered through `onCleanup`.
 */
export function projectAndElsewhere(
  name: string,
  onCleanup: (f: () => void) => void,
): { project: string; procfile: string; cwd: string } {
  const project = tempDir(`pipbot-${name}-proj-`);
  const elsewhere = tempDir(`pipbot-${name}-cwd-`);
  onCleanup(() => {
    project.cleanup();
    elsewhere.cleanup();
  });
  const procfile = join(project.path, "Procfile");
  writeFileSync(procfile, `gateway: exec bun ${CLI} gateway\n`);
  return { project: project.path, procfile, cwd: elsewhere.path };
}
