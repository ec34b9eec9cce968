/**
 * Our rules for the Fly configs, as data: every check returns named violations, so the tests can
 * assert that the real files have none AND that a broken fixture trips every single rule (a rule
 * that cannot fail proves nothing). Numbers come from the processes' config schemas, so the files
 * cannot drift from the code.
 */
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import Ajv from "ajv";
import { parse as parseToml } from "smol-toml";
import { isLoopbackHost } from "../../../src/shared/config/env.ts";
import { aiEnv, gatewayEnv, loadEnv, supervisorEnv } from "../../../src/shared/config/index.ts";
import { finalCommand, instructions, parseDockerfile } from "./dockerfile-model.ts";

export type FlyToml = Record<string, unknown> & {
  app?: string;
  kill_signal?: string;
  kill_timeout?: number | string;
  build?: { dockerfile?: string };
  env?: Record<string, string>;
  processes?: Record<string, string>;
  experimental?: { cmd?: unknown; entrypoint?: unknown };
  mounts?: { source: string; destination: string } | { source: string; destination: string }[];
  http_service?: {
    internal_port?: number;
    auto_stop_machines?: boolean | string;
    auto_start_machines?: boolean;
    checks?: { path?: string; method?: string }[];
  };
  checks?: Record<string, { type?: string; port?: number; path?: string }>;
  restart?: { policy?: string; max_retries?: number }[];
};

/**
 * integrated: one machine runs `pipbot start` (fly-integrated.toml);
 * ai-app: the AI server as its own app (fly.toml);
 * separate-vm: a user's VM of the separate deployment, `pipbot start --only gateway,sync`.
 */
export type FlyKind = "integrated" | "ai-app" | "separate-vm";

export const FLY_RULES = [
  "schema",
  "service-port",
  "env-ports",
  "healthz-checks",
  "machine-checks",
  "mount",
  "command",
  "binds-and-tokens",
  "kill-timeout",
  "kill-signal",
  "restart",
  "autostop",
  "no-secrets",
] as const;
export type FlyRule = (typeof FLY_RULES)[number];

export interface Violation {
  rule: FlyRule;
  message: string;
}

const defaultOf = (v: { schema: { parse(x: unknown): unknown } }) => v.schema.parse(undefined);
export const DEFAULTS = {
  gatewayPort: defaultOf(gatewayEnv.vars.GATEWAY_PORT) as number,
  aiPort: defaultOf(aiEnv.vars.AI_PORT) as number,
  shutdownBudgetMs: defaultOf(supervisorEnv.vars.SUPERVISOR_SHUTDOWN_BUDGET_MS) as number,
  aiDrainMs: defaultOf(aiEnv.vars.AI_DRAIN_MS) as number,
  graceMs: defaultOf(supervisorEnv.vars.SUPERVISOR_GRACE_MS) as number,
};

/** The command each kind must run (the Dockerfile CMD, or a [processes] override). */
export const EXPECTED_COMMAND: Record<FlyKind, string> = {
  integrated: "bun src/cli.ts start",
  "ai-app": "/env/bin/pipbot-ai",
  "separate-vm": "bun src/cli.ts start --only gateway,sync",
};

export function readToml(path: string): FlyToml {
  return parseToml(readFileSync(path, "utf8")) as FlyToml;
}

const SCHEMA = JSON.parse(readFileSync(join(import.meta.dir, "..", "fly.schema.json"), "utf8")) as object;
const validate = new Ajv({ allErrors: true, strict: false }).compile(SCHEMA);

/**
 * The SchemaStore schema's known false positive: it rejects the boolean form of
 * `auto_stop_machines` (Fly accepts true/false as well as "off"/"stop"/"suspend"). It does not
 * check [checks] or [[restart]] at all: the rules below do.
 */
export function schemaErrors(doc: FlyToml): string[] {
  const valid: boolean = validate(doc);
  if (valid) return [];
  return (validate.errors ?? [])
    .filter((e) => {
      const boolAutoStop =
        e.instancePath === "/http_service/auto_stop_machines" &&
        typeof doc.http_service?.auto_stop_machines === "boolean";
      return !boolAutoStop;
    })
    .map((e) => `${e.instancePath || "/"} ${e.message}`);
}

/** Seconds from a Fly duration: 30, "30", "30s", "1m", "500ms"; unset is Fly's default, 5 s. */
export function seconds(v: number | string | undefined): number {
  if (v === undefined) return 5;
  if (typeof v === "number") return v;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(v.trim());
  if (!m) throw new Error(`not a duration: ${v}`);
  const n = Number(m[1]);
  return m[2] === "ms" ? n / 1000 : m[2] === "m" ? n * 60 : n;
}

export function mounts(doc: FlyToml) {
  return doc.mounts === undefined ? [] : Array.isArray(doc.mounts) ? doc.mounts : [doc.mounts];
}

function autoStopOn(v: boolean | string | undefined): boolean {
  return v === true || v === "stop" || v === "suspend";
}

/** What the machine runs: the [processes] command(s), else the image's CMD. */
function commands(doc: FlyToml, dockerfile: string | null): string[] {
  const processes = Object.values(doc.processes ?? {});
  if (processes.length > 0) return processes;
  if (!dockerfile) return [];
  return [finalCommand(parseDockerfile(dockerfile)).cmd.join(" ")];
}

function imageEnv(dockerfile: string): string {
  return instructions(parseDockerfile(dockerfile).final, "ENV")
    .map((i) => i.raw)
    .join(" ");
}

/**
 * Every violation of our rules. `path` is the toml's path; `dockerfile` the image it runs
 * (default: its [build] dockerfile next to it; the separate VM runs Dockerfile.integrated).
 */
export function flyProblems(path: string, kind: FlyKind, dockerfile?: string): Violation[] {
  const doc = readToml(path);
  const out: Violation[] = [];
  const add = (rule: FlyRule, message: string) => out.push({ rule, message });
  const env = doc.env ?? {};
  const image = dockerfile ?? (doc.build?.dockerfile ? join(dirname(path), doc.build.dockerfile) : null);
  const servicePort = kind === "ai-app" ? DEFAULTS.aiPort : DEFAULTS.gatewayPort;

  for (const e of schemaErrors(doc)) add("schema", e);

  const hs = doc.http_service;
  if (hs?.internal_port !== servicePort) {
    add(
      "service-port",
      `http_service.internal_port ${hs?.internal_port} ≠ ${servicePort} (the default port)`,
    );
  }
  for (const [name, def] of [
    ["GATEWAY_PORT", DEFAULTS.gatewayPort],
    ["AI_PORT", DEFAULTS.aiPort],
  ] as const) {
    if (env[name] !== undefined && Number(env[name]) !== def) {
      add("env-ports", `[env] ${name}=${env[name]} ≠ the configured default ${def}`);
    }
  }
  const httpChecks = hs?.checks ?? [];
  if (httpChecks.length === 0) add("healthz-checks", "http_service has no health check");
  for (const c of httpChecks) {
    if (c.path !== "/healthz") add("healthz-checks", `http_service check path ${c.path} ≠ /healthz`);
  }
  const machineChecks = Object.entries(doc.checks ?? {});
  if (machineChecks.length === 0) add("machine-checks", "no [checks] machine check");
  for (const [name, c] of machineChecks) {
    if (c.type !== "http") add("machine-checks", `[checks.${name}] type ${c.type} ≠ http`);
    if (c.path !== "/healthz") add("machine-checks", `[checks.${name}] path ${c.path} ≠ /healthz`);
    if (c.port !== servicePort) add("machine-checks", `[checks.${name}] port ${c.port} ≠ ${servicePort}`);
  }

  const m = mounts(doc);
  if (kind === "ai-app") {
    if (m.length > 0)
      add("mount", "the AI server keeps nothing: no volume (it would pin the app to one host)");
  } else if (m.length !== 1 || m[0]?.destination !== env.DATA_DIR) {
    add("mount", `[[mounts]] destination ${m[0]?.destination} ≠ [env] DATA_DIR ${env.DATA_DIR}`);
  } else if (image && !imageEnv(image).includes(`DATA_DIR=${env.DATA_DIR}`)) {
    add("mount", `the image's ENV DATA_DIR is not ${env.DATA_DIR}, the mount`);
  }

  const run = commands(doc, image);
  if (run.length === 0 || run.some((c) => c !== EXPECTED_COMMAND[kind])) {
    add("command", `runs ${JSON.stringify(run)}, not \`${EXPECTED_COMMAND[kind]}\``);
  }
  if (doc.experimental?.cmd !== undefined || doc.experimental?.entrypoint !== undefined) {
    add("command", "[experimental] cmd/entrypoint override the image's tini + entrypoint");
  }

  if (kind === "ai-app") {
    if (isLoopbackHost(env.AI_HOST ?? "127.0.0.1")) {
      add("binds-and-tokens", `AI_HOST ${env.AI_HOST}: the AI app must bind :: for Fly's proxy and 6PN`);
    }
    const res = loadEnv(aiEnv, env);
    const missing = res.ok ? [] : res.problems.map((p) => p.variable);
    if (missing.join() !== "AI_SERVER_TOKEN") {
      add("binds-and-tokens", `without a token the AI server must refuse to start (problems: ${missing})`);
    }
  } else {
    if (isLoopbackHost(env.GATEWAY_HOST ?? "127.0.0.1")) {
      add("binds-and-tokens", `GATEWAY_HOST ${env.GATEWAY_HOST}: Fly's proxy cannot reach a loopback bind`);
    }
    const gw = loadEnv(gatewayEnv, env);
    const missing = gw.ok ? [] : gw.problems.map((p) => p.variable);
    if (!missing.includes("CLAWDBOT_GATEWAY_TOKEN")) {
      add("binds-and-tokens", "the public gateway must refuse to start without CLAWDBOT_GATEWAY_TOKEN");
    }
    const aiUrl = env.AI_URL ?? "";
    const aiLocal = /^http:\/\/127\.0\.0\.1:\d+$/.test(aiUrl);
    if (
      kind === "integrated" &&
      (env.AI_HOST !== "127.0.0.1" || aiUrl !== `http://127.0.0.1:${DEFAULTS.aiPort}`)
    ) {
      add("binds-and-tokens", `the AI server must stay on 127.0.0.1:${DEFAULTS.aiPort} (AI_HOST, AI_URL)`);
    }
    if (kind === "separate-vm" && (aiUrl === "" || aiLocal)) {
      add("binds-and-tokens", `AI_URL ${aiUrl || "(unset)"} must point at the AI app`);
    }
  }

  const kill = seconds(doc.kill_timeout);
  const budgetMs =
    kind === "ai-app"
      ? Number(env.AI_DRAIN_MS ?? DEFAULTS.aiDrainMs)
      : Number(env.SUPERVISOR_SHUTDOWN_BUDGET_MS ?? DEFAULTS.shutdownBudgetMs);
  const what = kind === "ai-app" ? "AI_DRAIN_MS" : "SUPERVISOR_SHUTDOWN_BUDGET_MS";
  if (!(budgetMs / 1000 < kill) || kill > 300) {
    add("kill-timeout", `kill_timeout ${kill}s must exceed ${what} (${budgetMs} ms) and be at most 300 s`);
  }
  if (kind === "integrated") {
    // Under the supervisor the stop timings nest: AI drain < per-process grace ≤ total budget.
    const drain = Number(env.AI_DRAIN_MS ?? DEFAULTS.aiDrainMs);
    const grace = Number(env.SUPERVISOR_GRACE_MS ?? DEFAULTS.graceMs);
    if (!(drain < grace && grace <= budgetMs)) {
      add(
        "kill-timeout",
        `AI_DRAIN_MS ${drain} < SUPERVISOR_GRACE_MS ${grace} ≤ budget ${budgetMs} must hold`,
      );
    }
  }
  if (!["SIGTERM", "SIGINT"].includes(doc.kill_signal ?? "SIGINT")) {
    add("kill-signal", `kill_signal ${doc.kill_signal}: pipbot handles SIGTERM and SIGINT only`);
  }
  const restart = doc.restart ?? [];
  if (!restart.some((r) => r.policy === "on-failure" && (r.max_retries ?? 0) > 0)) {
    add(
      "restart",
      'no [[restart]] policy = "on-failure" with max_retries > 0 (a crash loop must be retried)',
    );
  }
  if (autoStopOn(hs?.auto_stop_machines) !== (hs?.auto_start_machines === true)) {
    add("autostop", "auto_stop_machines and auto_start_machines must be both on or both off");
  }
  for (const k of Object.keys(env)) {
    if (/TOKEN|SECRET|API_KEY/.test(k)) add("no-secrets", `[env] ${k}: secrets belong in fly secrets`);
  }
  return out;
}
