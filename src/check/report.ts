/**
 * `pipbot check`'s report: each process's effective configuration (secrets redacted), the facts
 * derived from it (AI mode, providers, sync enabled, binds, Procfile), and every problem, with a
 * problem shared by several processes (e.g. LOG_LEVEL) listed once naming them all.
 * A pure function of the environment and the Procfile text.
 */
import {
  aiUpstream,
  convexSiteUrl,
  describeEnv,
  type Env,
  type EnvDefinition,
  type EnvVars,
  isLoopbackHost,
  loadEnv,
  noProviderProblem,
  type Problem,
  processEnvs,
} from "../shared/config/index.ts";
import { tokenFilePath } from "../shared/gateway-token.ts";
import { ProcfileError, parseProcfile, startOrder } from "../shared/procfile.ts";
import { REDACTED } from "../shared/redact.ts";

/** Every process with a configuration: the supervisor and the processes it runs. */
export type ConfigProc = keyof typeof processEnvs;
export const CONFIG_PROCS = Object.keys(processEnvs) as ConfigProc[];

export interface ProcessReport {
  ok: boolean;
  config: Record<string, unknown>;
  problems: Problem[];
}

export interface MergedProblem extends Problem {
  processes: string[];
}

export interface Report {
  ok: boolean;
  processes: Partial<Record<ConfigProc, ProcessReport>>;
  facts: Record<string, unknown>;
  problems: MergedProblem[];
}

function checkOne<V extends EnvVars>(def: EnvDefinition<V>, env: Env) {
  const res = loadEnv(def, env);
  const values = (res.ok ? res.config : res.partial) as Record<string, unknown>;
  const problems = res.ok ? [] : res.problems;
  const config = describeEnv(def, values as never);
  for (const p of problems) {
    if (p.variable in config || p.value !== undefined) {
      const key =
        p.variable in def.vars
          ? p.variable
          : (Object.keys(def.vars).find((k) => def.vars[k]?.meta.aliases?.includes(p.variable)) ??
            p.variable);
      if (p.value !== undefined) config[key] = `${p.value} (invalid)`;
    }
  }
  return { report: { ok: problems.length === 0, config, problems }, values };
}

const has = (v: unknown) => typeof v === "string" && v !== "";

export function buildReport(
  env: Env,
  only: ConfigProc[] = CONFIG_PROCS,
  procfile?: { path: string; text: string | null },
): Report {
  const processes: Report["processes"] = {};
  const values: Partial<Record<ConfigProc, Record<string, unknown>>> = {};
  for (const name of CONFIG_PROCS) {
    if (!only.includes(name)) continue;
    const def: EnvDefinition<EnvVars> = processEnvs[name];
    const { report, values: v } = checkOne(def, env);
    processes[name] = report;
    values[name] = v;
  }
  const facts: Record<string, unknown> = {};
  const extra: MergedProblem[] = [];

  if (values.supervisor && procfile) {
    if (procfile.text === null) {
      extra.push({
        variable: "PROCFILE",
        value: procfile.path,
        message: "cannot be read",
        fix: "set PROCFILE (or --procfile) to an existing Procfile",
        processes: ["supervisor"],
      });
    } else {
      try {
        facts.procfile = {
          path: procfile.path,
          startOrder: startOrder(parseProcfile(procfile.text, procfile.path)).map((e) => e.name),
        };
      } catch (e) {
        if (!(e instanceof ProcfileError)) throw e;
        extra.push({
          variable: "PROCFILE",
          value: procfile.path,
          message: e.message,
          fix: "fix the Procfile lines named above",
          processes: ["supervisor"],
        });
      }
    }
  }
  const ai = values.ai;
  if (ai) {
    const { mode, configured: providers } = aiUpstream(ai);
    const model = typeof ai.AI_DEFAULT_MODEL === "string" ? ai.AI_DEFAULT_MODEL : undefined;
    facts.ai = {
      mode,
      providers,
      defaultModel: model ?? null,
      bind: `${ai.AI_HOST ?? "(invalid)"}:${ai.AI_PORT ?? "(invalid)"}`,
      publicBind: typeof ai.AI_HOST === "string" && !isLoopbackHost(ai.AI_HOST),
      token: has(ai.AI_SERVER_TOKEN) ? "set" : "unset",
      simulator: ai.PIPBOT_SIMULATOR === true,
    };
    // No chat can succeed: a failure, not a warning (`pipbot check` must not say OK). A default
    // model that cannot be used is aiEnv's own rule (the AI server refuses it at startup too).
    const none = noProviderProblem(ai);
    if (none) extra.push({ ...none, processes: ["ai"] });
  }
  const sync = values.sync;
  if (sync) {
    const site = convexSiteUrl(sync as never);
    const missing = [
      !site && "CONVEX_URL",
      !has(sync.CLERK_USER_ID) && "CLERK_USER_ID",
      !has(sync.SYNC_SECRET) && "SYNC_SECRET",
    ].filter(Boolean);
    facts.sync = {
      enabled: missing.length === 0,
      ...(missing.length ? { disabledBecause: `missing ${missing.join(", ")}` } : { siteUrl: site }),
      statusPort: sync.SYNC_STATUS_PORT,
    };
  }
  const gw = values.gateway;
  if (gw) {
    facts.gateway = {
      bind: `${gw.GATEWAY_HOST ?? "(invalid)"}:${gw.GATEWAY_PORT ?? "(invalid)"}`,
      publicBind: typeof gw.GATEWAY_HOST === "string" && !isLoopbackHost(gw.GATEWAY_HOST),
      token: has(gw.CLAWDBOT_GATEWAY_TOKEN)
        ? "set"
        : processes.gateway?.problems.some(
              (p) => p.variable === "CLAWDBOT_GATEWAY_TOKEN" || p.variable === "OPENCLAW_GATEWAY_TOKEN",
            )
          ? "invalid"
          : `from ${tokenFilePath(String(gw.DATA_DIR ?? "./data"))}, created on the first start (loopback only)`,
      aiUrl: gw.AI_URL,
      aiToken: has(gw.AI_SERVER_TOKEN) ? "set" : "unset",
      // The VM's identity sent to the AI server (x-pipbot-user-id / x-pipbot-service-token).
      aiIdentity: has(gw.CLERK_USER_ID) && has(gw.PIPBOT_SERVICE_TOKEN) ? `user ${gw.CLERK_USER_ID}` : "none",
    };
  }
  const dataDir = (values.supervisor ?? values.ai ?? values.sync ?? values.gateway)?.DATA_DIR;
  if (dataDir !== undefined) facts.dataDir = dataDir;

  const problems = mergeProblems(processes, extra);
  return { ok: problems.length === 0, processes, facts, problems };
}

function mergeProblems(processes: Report["processes"], extra: MergedProblem[]): MergedProblem[] {
  const merged = new Map<string, MergedProblem>();
  for (const [proc, r] of Object.entries(processes)) {
    for (const p of r?.problems ?? []) {
      const key = `${p.variable}\0${p.value ?? ""}\0${p.message}`;
      const m = merged.get(key);
      if (m) m.processes.push(proc);
      else merged.set(key, { ...p, processes: [proc] });
    }
  }
  for (const p of extra) {
    // Counted in its process's own report too (its header and `--json` agree with the list).
    const r = processes[p.processes[0] as ConfigProc];
    if (r) {
      r.ok = false;
      const { processes: _, ...own } = p;
      r.problems.push(own);
    }
    merged.set(`${p.variable}\0extra\0${p.message}`, p);
  }
  return [...merged.values()];
}

/** The human form. */
export function formatReport(r: Report): string {
  const out: string[] = [];
  const procs = Object.entries(r.processes);
  // A variable several processes read with the same value is shown once.
  const shared = new Map<string, { value: unknown; procs: string[] }>();
  for (const [name, p] of procs)
    for (const [k, v] of Object.entries(p?.config ?? {})) {
      const e = shared.get(k);
      if (!e) shared.set(k, { value: v, procs: [name] });
      else if (JSON.stringify(e.value) === JSON.stringify(v)) e.procs.push(name);
      else e.procs = [];
    }
  const isShared = (k: string) => (shared.get(k)?.procs.length ?? 0) > 1;
  const sharedKeys = [...shared.keys()].filter(isShared);
  const width = Math.max(...[...shared.keys()].map((k) => k.length));
  if (procs.length > 1 && sharedKeys.length) {
    out.push("shared:");
    for (const k of sharedKeys)
      out.push(
        `  ${k.padEnd(width)}  ${formatValue(shared.get(k)?.value)}  (${shared.get(k)?.procs.join(", ")})`,
      );
    out.push("");
  }
  for (const [name, p] of procs) {
    const n = p?.problems.length ?? 0;
    out.push(`${name}: ${p?.ok ? "ok" : `${n} problem${n === 1 ? "" : "s"} (below)`}`);
    for (const [k, v] of Object.entries(p?.config ?? {}))
      if (procs.length === 1 || !isShared(k)) out.push(`  ${k.padEnd(width)}  ${formatValue(v)}`);
    out.push("");
  }
  out.push("derived:");
  const f = r.facts as Record<string, Record<string, unknown> | undefined> & { warnings?: string[] };
  if (f.ai) {
    const prov = Object.entries(f.ai.providers as Record<string, boolean>)
      .map(([k, v]) => `${k} ${v ? "yes" : "no"}`)
      .join(", ");
    out.push(
      `  AI server   mode ${f.ai.mode}${f.ai.simulator ? " (SIMULATOR)" : ""}; providers: ${prov}; default model ${f.ai.defaultModel}; bind ${f.ai.bind}${f.ai.publicBind ? " (public)" : ""}; token ${f.ai.token}`,
    );
  }
  if (f.sync)
    out.push(
      `  sync        ${f.sync.enabled ? `enabled → ${f.sync.siteUrl}` : `disabled (${f.sync.disabledBecause})`}; status port ${f.sync.statusPort}`,
    );
  if (f.gateway)
    out.push(
      `  gateway     bind ${f.gateway.bind}${f.gateway.publicBind ? " (public)" : ""}; token ${f.gateway.token}; AI at ${f.gateway.aiUrl} (token ${f.gateway.aiToken}, identity ${f.gateway.aiIdentity})`,
    );
  if (f.procfile)
    out.push(
      `  Procfile    ${f.procfile.path}: start order ${(f.procfile.startOrder as string[]).join(" → ")}`,
    );
  if (r.facts.dataDir !== undefined) out.push(`  data        ${String(r.facts.dataDir)}`);
  for (const w of f.warnings ?? []) out.push(`  warning     ${w}`);
  out.push("");
  if (r.ok) {
    out.push("configuration OK");
  } else {
    const vars = [...new Set(r.problems.map((p) => p.variable))];
    out.push(
      `configuration INVALID: ${r.problems.length} problem${r.problems.length === 1 ? "" : "s"} (${vars.join(", ")}):`,
    );
    for (const p of r.problems) {
      const shown = p.value === undefined ? "" : `=${JSON.stringify(p.value)}`;
      out.push(`  - ${p.variable}${shown} [${p.processes.join(", ")}]: ${p.message}. Fix: ${p.fix}`);
    }
  }
  return out.join("\n");
}

function formatValue(v: unknown): string {
  if (v === REDACTED) return "(set, redacted)";
  if (Array.isArray(v)) return v.length ? v.join(",") : "(none)";
  return typeof v === "string" ? v : JSON.stringify(v);
}
