/**
 * Where `pipbot status` reaches each process: the same variables, defaults and wildcard rule as
 * the supervisor's readiness (AI_HOST/AI_PORT, SYNC_STATUS_PORT on loopback,
 * GATEWAY_HOST/GATEWAY_PORT). A bad bind variable makes only that process unreachable, named.
 */
import { defineEnv, type Env, loadEnv, reachableHost, supervisorEnv } from "../shared/config/index.ts";
import { PROC_NAMES, type ProcName } from "../shared/procfile.ts";

export { PROC_NAMES, type ProcName };

export interface Target {
  name: ProcName;
  /** http://host:port, or null when the bind variables are invalid. */
  baseUrl: string | null;
  /** Why there is no baseUrl (e.g. `AI_PORT="x" must be a number`). */
  problem: string | null;
}

const v = supervisorEnv.vars;
const bindEnv = defineEnv("status", {
  AI_HOST: v.AI_HOST,
  AI_PORT: v.AI_PORT,
  SYNC_STATUS_PORT: v.SYNC_STATUS_PORT,
  GATEWAY_HOST: v.GATEWAY_HOST,
  GATEWAY_PORT: v.GATEWAY_PORT,
});

const NEEDS: Record<ProcName, (keyof typeof bindEnv.vars)[]> = {
  ai: ["AI_HOST", "AI_PORT"],
  sync: ["SYNC_STATUS_PORT"],
  gateway: ["GATEWAY_HOST", "GATEWAY_PORT"],
};

export function targets(env: Env, names: readonly ProcName[]): Target[] {
  const res = loadEnv(bindEnv, env);
  const values = res.ok ? res.config : res.partial;
  const problems = res.ok ? [] : res.problems;
  return names.map((name) => {
    const bad = problems.filter((p) => (NEEDS[name] as string[]).includes(p.variable));
    if (bad.length > 0)
      return {
        name,
        baseUrl: null,
        problem: bad
          .map(
            (p) => `${p.variable}${p.value === undefined ? "" : `=${JSON.stringify(p.value)}`} ${p.message}`,
          )
          .join("; "),
      };
    const url =
      name === "ai"
        ? `http://${reachableHost(String(values.AI_HOST))}:${values.AI_PORT}`
        : name === "sync"
          ? `http://127.0.0.1:${values.SYNC_STATUS_PORT}`
          : `http://${reachableHost(String(values.GATEWAY_HOST))}:${values.GATEWAY_PORT}`;
    return { name, baseUrl: url, problem: null };
  });
}
