/**
 * What the supervisor derives from its environment before starting anything: its supervision
 * settings, the fail-fast check of each known child's configuration, and the children's
 * environment. Pure functions of the values main.ts read.
 */
import {
  type Env,
  type EnvDefinition,
  type EnvVars,
  formatProblems,
  loadEnv,
  processEnvs,
  type SupervisorConfig,
} from "../shared/config/index.ts";
import { PROC_NAMES, type ProcEntry } from "../shared/procfile.ts";
import { PARENT_WATCH_VAR } from "../shared/stop-signals.ts";
import type { SupervisorSettings } from "./deps.ts";

/** Known Procfile names whose configuration is checked before anything starts. */
const CHILD_ENVS: Record<string, EnvDefinition<EnvVars> | undefined> = Object.fromEntries(
  PROC_NAMES.map((name) => [name, processEnvs[name]]),
);

export function supervisorSettings(cfg: SupervisorConfig): SupervisorSettings {
  return {
    readyTimeoutMs: cfg.SUPERVISOR_READY_TIMEOUT_MS,
    shutdownBudgetMs: cfg.SUPERVISOR_SHUTDOWN_BUDGET_MS,
    graceMs: cfg.SUPERVISOR_GRACE_MS,
    backoff: {
      initialMs: cfg.SUPERVISOR_BACKOFF_INITIAL_MS,
      maxMs: cfg.SUPERVISOR_BACKOFF_MAX_MS,
      stableMs: cfg.SUPERVISOR_STABLE_MS,
    },
    crashLoop: {
      maxRestarts: cfg.SUPERVISOR_CRASH_LOOP_RESTARTS,
      windowMs: cfg.SUPERVISOR_CRASH_LOOP_WINDOW_MS,
    },
  };
}

/** One formatted problem list per known process that would reject its configuration anyway. */
export function childConfigProblems(entries: ProcEntry[], env: Env): string[] {
  return entries.flatMap((e) => {
    const def = CHILD_ENVS[e.name];
    if (!def) return [];
    const res = loadEnv(def, env);
    return res.ok ? [] : [formatProblems(e.name, res.problems)];
  });
}

/**
 * The children's environment: the supervisor's own (unset values dropped), marked supervised, with
 * the parent-death watch on (their stdin is a pipe from this supervisor).
 */
export function childEnv(env: Env): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined) out[k] = v;
  out.PIPBOT_SUPERVISED = "1";
  out[PARENT_WATCH_VAR] = "stdin";
  return out;
}
