/**
 * fly-integrated.toml and fly.toml, verified offline: they parse, pass the fly.toml JSON Schema
 * (minus its known false positives) and our own rules, with every number read from the
 * processes' config schemas so the files cannot drift from the code.
 */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import Ajv from "ajv";
import { parse as parseToml } from "smol-toml";
import { aiEnv, gatewayEnv, loadEnv, supervisorEnv, syncEnv } from "../../src/shared/config/index.ts";
import { ROOT } from "../helpers/index.ts";
import { finalCommand, instructions, parseDockerfile } from "./lib/dockerfile-model.ts";

type Toml = Record<string, unknown> & {
  app?: string;
  kill_signal?: string;
  kill_timeout?: number | string;
  build?: { dockerfile?: string };
  env?: Record<string, string>;
  processes?: Record<string, string>;
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

const defaultOf = (v: { schema: { parse(x: unknown): unknown } }) => v.schema.parse(undefined);
const DEFAULTS = {
  gatewayPort: defaultOf(gatewayEnv.vars.GATEWAY_PORT) as number,
  aiPort: defaultOf(aiEnv.vars.AI_PORT) as number,
  syncStatusPort: defaultOf(syncEnv.vars.SYNC_STATUS_PORT) as number,
  shutdownBudgetMs: defaultOf(supervisorEnv.vars.SUPERVISOR_SHUTDOWN_BUDGET_MS) as number,
};

function readToml(name: string): Toml {
  return parseToml(readFileSync(join(ROOT, name), "utf8")) as Toml;
}

const SCHEMA = JSON.parse(readFileSync(join(import.meta.dir, "fly.schema.json"), "utf8")) as object;

/** Seconds from a Fly duration: 30, "30", "30s", "1m", "500ms". */
function seconds(v: number | string | undefined): number {
  if (v === undefined) return 5; // Fly's default kill_timeout
  if (typeof v === "number") return v;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(v.trim());
  if (!m) throw new Error(`not a duration: ${v}`);
  const n = Number(m[1]);
  return m[2] === "ms" ? n / 1000 : m[2] === "m" ? n * 60 : n;
}

/**
 * The SchemaStore schema's known false positives: it rejects the boolean form of
 * `auto_stop_machines` (Fly accepts true/false as well as "off"/"stop"/"suspend"). It does not
 * check [checks] or [[restart]] at all: our own rules below do.
 */
function schemaErrors(doc: Toml): string[] {
  const ajv = new Ajv({ allErrors: true, strict: false });
  const validate = ajv.compile(SCHEMA);
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

function mounts(doc: Toml) {
  return doc.mounts === undefined ? [] : Array.isArray(doc.mounts) ? doc.mounts : [doc.mounts];
}

function autoStopOn(v: boolean | string | undefined): boolean {
  return v === true || v === "stop" || v === "suspend";
}

/** Our own rules, shared by both apps. Returns human-readable violations. */
function commonRules(doc: Toml, servicePort: number): string[] {
  const out: string[] = [];
  const hs = doc.http_service;
  if (!hs) return ["no [http_service]"];
  if (hs.internal_port !== servicePort) {
    out.push(`http_service.internal_port ${hs.internal_port} ≠ ${servicePort}`);
  }
  if (autoStopOn(hs.auto_stop_machines) !== (hs.auto_start_machines === true)) {
    out.push("auto_stop_machines and auto_start_machines must be both on or both off");
  }
  const httpChecks = hs.checks ?? [];
  if (httpChecks.length === 0) out.push("http_service has no health check");
  for (const c of httpChecks) {
    if (c.path !== "/healthz") out.push(`http_service check path ${c.path} ≠ /healthz`);
  }
  const machineChecks = Object.entries(doc.checks ?? {});
  if (machineChecks.length === 0) out.push("no [checks] machine check");
  for (const [name, c] of machineChecks) {
    if (c.type !== "http") out.push(`[checks.${name}] type ${c.type} ≠ http`);
    if (c.path !== "/healthz") out.push(`[checks.${name}] path ${c.path} ≠ /healthz`);
    if (c.port !== servicePort) out.push(`[checks.${name}] port ${c.port} ≠ ${servicePort}`);
  }
  if (!["SIGTERM", "SIGINT"].includes(doc.kill_signal ?? "SIGINT")) {
    out.push(`kill_signal ${doc.kill_signal}: pipbot handles SIGTERM and SIGINT only`);
  }
  const restart = doc.restart ?? [];
  if (!restart.some((r) => r.policy === "on-failure" && (r.max_retries ?? 0) > 0)) {
    out.push('no [[restart]] policy = "on-failure" with max_retries > 0');
  }
  for (const k of Object.keys(doc.env ?? {})) {
    if (/TOKEN|SECRET|API_KEY/.test(k)) out.push(`[env] ${k}: secrets belong in fly secrets, not fly.toml`);
  }
  return out;
}

describe("fly-integrated.toml (one app, the supervisor runs all three)", () => {
  const doc = readToml("fly-integrated.toml");

  test("parses and passes the fly.toml schema (known false positives handled)", () => {
    expect(doc.app).toBeString();
    expect(schemaErrors(doc)).toEqual([]);
  });

  test("the known false positive is handled and real schema errors are still reported", () => {
    const boolForm = structuredClone(doc);
    boolForm.http_service!.auto_stop_machines = true;
    expect(schemaErrors(boolForm)).toEqual([]);
    const broken = structuredClone(doc) as Toml & { kill_signal: string };
    broken.kill_signal = "SIGHUP";
    (broken.http_service as Record<string, unknown>).internal_port = "18789";
    expect(schemaErrors(broken).length).toBe(2);
  });

  test("our rules: gateway port, /healthz checks, restart policy, auto stop/start, no secrets", () => {
    expect(commonRules(doc, DEFAULTS.gatewayPort)).toEqual([]);
    expect(Number(doc.env?.GATEWAY_PORT)).toBe(DEFAULTS.gatewayPort);
    expect(Number(doc.env?.AI_PORT)).toBe(DEFAULTS.aiPort);
    expect(Number(doc.env?.SYNC_STATUS_PORT ?? DEFAULTS.syncStatusPort)).toBe(DEFAULTS.syncStatusPort);
    expect(doc.env?.PIPBOT_MODE).toBe("integrated");
  });

  test("the rules catch a drifted port, a redirecting check path and inconsistent autostop", () => {
    const bad = structuredClone(doc);
    bad.http_service!.internal_port = 8080;
    bad.http_service!.auto_start_machines = false;
    bad.http_service!.checks = [{ path: "/health" }];
    bad.restart = [{ policy: "always", max_retries: 0 }];
    const problems = commonRules(bad, DEFAULTS.gatewayPort);
    expect(problems.join("\n")).toContain("internal_port 8080");
    expect(problems.join("\n")).toContain("both on or both off");
    expect(problems.join("\n")).toContain("/health ≠ /healthz");
    expect(problems.join("\n")).toContain("on-failure");
  });

  test("the gateway binds publicly (so it needs CLAWDBOT_GATEWAY_TOKEN) and the AI server stays on loopback", () => {
    const env = doc.env ?? {};
    expect(["0.0.0.0", "::"]).toContain(env.GATEWAY_HOST ?? "(unset)");
    expect(env.AI_HOST).toBe("127.0.0.1");
    expect(env.AI_URL).toBe(`http://127.0.0.1:${DEFAULTS.aiPort}`);
    const withoutToken = loadEnv(gatewayEnv, env);
    expect(withoutToken.ok).toBe(false);
    const variables = withoutToken.ok ? [] : withoutToken.problems.map((p) => p.variable);
    expect(variables).toContain("CLAWDBOT_GATEWAY_TOKEN");
    expect(loadEnv(gatewayEnv, { ...env, CLAWDBOT_GATEWAY_TOKEN: "a-long-gateway-token" }).ok).toBe(true);
    expect(loadEnv(aiEnv, env).ok).toBe(true);
    expect(loadEnv(syncEnv, env).ok).toBe(true);
    expect(loadEnv(supervisorEnv, env).ok).toBe(true);
  });

  test("the volume is mounted at DATA_DIR, the same path the image uses", () => {
    const m = mounts(doc);
    expect(m.length).toBe(1);
    expect(m[0]!.destination).toBe(doc.env?.DATA_DIR ?? "");
    const image = parseDockerfile(join(ROOT, doc.build?.dockerfile ?? "Dockerfile"));
    const imageEnv = instructions(image.final, "ENV")
      .map((i) => i.raw)
      .join(" ");
    expect(imageEnv).toContain(`DATA_DIR=${m[0]!.destination}`);
  });

  test("kill_timeout covers the supervisor's shutdown budget (default and configured)", () => {
    const killSeconds = seconds(doc.kill_timeout);
    expect(killSeconds).toBeLessThanOrEqual(300);
    expect(DEFAULTS.shutdownBudgetMs / 1000).toBeLessThan(killSeconds);
    const configured = Number(doc.env?.SUPERVISOR_SHUTDOWN_BUDGET_MS ?? DEFAULTS.shutdownBudgetMs);
    expect(configured / 1000).toBeLessThan(killSeconds);
  });

  test("the app runs the supervisor: the Dockerfile's CMD is `pipbot start` and nothing overrides it", () => {
    expect(doc.build?.dockerfile).toBe("Dockerfile.integrated");
    const image = parseDockerfile(join(ROOT, doc.build!.dockerfile!));
    const { cmd } = finalCommand(image);
    expect(cmd).toEqual(["bun", "src/cli.ts", "start"]);
    for (const c of Object.values(doc.processes ?? {})) expect(c).toMatch(/src\/cli\.ts start\b/);
    const exposed = instructions(image.final, "EXPOSE").flatMap((i) => i.args);
    expect(exposed).toContain(String(DEFAULTS.gatewayPort));
  });
});

describe("fly.toml (the AI server as its own app)", () => {
  const doc = readToml("fly.toml");

  test("parses and passes the fly.toml schema", () => {
    expect(doc.app).toBeString();
    expect(schemaErrors(doc)).toEqual([]);
  });

  test("our rules: AI port, /healthz checks, restart policy, auto stop/start, no secrets", () => {
    expect(commonRules(doc, DEFAULTS.aiPort)).toEqual([]);
    expect(Number(doc.env?.AI_PORT)).toBe(DEFAULTS.aiPort);
    expect(doc.env?.PIPBOT_MODE).toBe("separate");
  });

  test("binds :: and therefore refuses to start without AI_SERVER_TOKEN (set as a Fly secret)", () => {
    const env = doc.env ?? {};
    expect(env.AI_HOST).toBe("::");
    expect(env.AI_SERVER_TOKEN).toBeUndefined();
    const res = loadEnv(aiEnv, env);
    expect(res.ok).toBe(false);
    if (!res.ok) expect(res.problems.map((p) => p.variable)).toEqual(["AI_SERVER_TOKEN"]);
    expect(loadEnv(aiEnv, { ...env, AI_SERVER_TOKEN: "0123456789abcdef0123" }).ok).toBe(true);
  });

  test("kill_timeout is valid and the image runs the AI server alone", () => {
    expect(seconds(doc.kill_timeout)).toBeGreaterThanOrEqual(10);
    expect(seconds(doc.kill_timeout)).toBeLessThanOrEqual(300);
    expect(doc.build?.dockerfile).toBe("Dockerfile.nix");
    const image = parseDockerfile(join(ROOT, doc.build!.dockerfile!));
    const { cmd } = finalCommand(image);
    expect(cmd.join(" ")).toMatch(/pipbot-ai$/);
    expect(mounts(doc)).toEqual([]);
  });
});

describe("duration parsing", () => {
  test("understands Fly's forms", () => {
    expect(seconds(30)).toBe(30);
    expect(seconds("30s")).toBe(30);
    expect(seconds("1m")).toBe(60);
    expect(seconds("500ms")).toBe(0.5);
    expect(seconds(undefined)).toBe(5);
    expect(() => seconds("soon")).toThrow();
  });
});
