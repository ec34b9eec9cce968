/**
 * One schema per process. `loadConfigOrExit` is what a main.ts calls: it prints ONE message
 * listing every problem (never a stack trace) and exits 78 (EX_CONFIG) when anything is wrong.
 */
import { aiEnv } from "./ai.ts";
import { withDataDirFrom } from "./common.ts";
import {
  type Env,
  type EnvDefinition,
  type EnvValues,
  type EnvVars,
  formatProblems,
  loadEnv,
} from "./env.ts";
import { gatewayEnv, withControlUiDirFrom } from "./gateway.ts";
import { supervisorEnv } from "./supervisor.ts";
import { syncEnv } from "./sync.ts";

export { aiUpstream, noProviderProblem } from "./ai.ts";
export { convexSiteUrl, DEFAULT_DATA_DIR, procfilePathFrom } from "./common.ts";
export * from "./env.ts";
export { aiEnv, gatewayEnv, supervisorEnv, syncEnv, withControlUiDirFrom, withDataDirFrom };

export type GatewayConfig = EnvValues<typeof gatewayEnv.vars>;
export type AiConfig = EnvValues<typeof aiEnv.vars>;
export type SyncConfig = EnvValues<typeof syncEnv.vars>;
export type SupervisorConfig = EnvValues<typeof supervisorEnv.vars>;

export const processEnvs = {
  supervisor: supervisorEnv,
  ai: aiEnv,
  sync: syncEnv,
  gateway: gatewayEnv,
} as const;

export const EX_CONFIG = 78;

export function loadConfigOrExit<V extends EnvVars>(
  def: EnvDefinition<V>,
  env: Env = process.env,
): EnvValues<V> {
  const res = loadEnv(def, env);
  if (res.ok) return res.config;
  process.stderr.write(`${formatProblems(def.proc, res.problems)}\n`);
  process.exit(EX_CONFIG);
}

/** Every secret value in the environment that any process treats as secret (for log redaction). */
/** The credential fields of a secret that is a JSON document (a service-account key file), raw and JSON-escaped. */
function jsonSecrets(val: string): string[] {
  if (!val.trimStart().startsWith("{")) return [];
  try {
    const doc = JSON.parse(val) as Record<string, unknown>;
    return ["private_key", "private_key_id", "client_secret", "refresh_token"].flatMap((k) => {
      const v = doc[k];
      return typeof v === "string" && v.length >= 8 ? [v, JSON.stringify(v).slice(1, -1)] : [];
    });
  } catch {
    return [];
  }
}

export function secretValues(env: Env = process.env): string[] {
  const out = new Set<string>();
  for (const def of Object.values(processEnvs)) {
    for (const [name, v] of Object.entries(def.vars as EnvVars)) {
      if (!v.meta.secret) continue;
      for (const n of [name, ...(v.meta.aliases ?? [])]) {
        const val = env[n];
        if (val && val.length >= 4) {
          out.add(val);
          for (const inner of jsonSecrets(val)) out.add(inner);
        }
      }
    }
  }
  return [...out];
}

/**
 * The paths a process resolves against its working directory (DATA_DIR, GATEWAY_CONTROL_UI_DIR),
 * made absolute against `childCwd`, the Procfile's directory the supervisor runs its children in:
 * what the supervisor hands every child, and what `pipbot check` checks.
 */
export function withChildPathsFrom<E extends Record<string, string | undefined>>(
  env: E,
  childCwd: string,
): E {
  return withDataDirFrom(withControlUiDirFrom(env, childCwd), childCwd);
}
