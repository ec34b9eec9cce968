/**
 * The Fly configs, verified offline: fly-integrated.toml (one app, the supervisor runs all three),
 * fly.toml (the AI server as its own app) and deploy/fly-separate-vm.toml (a user VM of the
 * separate deployment). Each parses, passes the fly.toml JSON Schema (minus its known false
 * positives) and our rules (test/deploy/lib/fly-rules.ts); a broken fixture per kind proves that
 * EVERY rule reports a violation.
 */
import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { aiEnv, gatewayEnv, loadEnv, supervisorEnv, syncEnv } from "../../src/shared/config/index.ts";
import { ROOT } from "../helpers/index.ts";
import {
  DEFAULTS,
  FLY_RULES,
  type FlyKind,
  flyProblems,
  readToml,
  schemaErrors,
  seconds,
} from "./lib/fly-rules.ts";
import { missing, tripped } from "./lib/violations.ts";

const CONFIGS: [FlyKind, string, string | undefined][] = [
  ["integrated", "fly-integrated.toml", undefined],
  ["ai-app", "fly.toml", undefined],
  // No [build]: it runs the integrated image with another command.
  ["separate-vm", "deploy/fly-separate-vm.toml", join(ROOT, "Dockerfile.integrated")],
];
const BROKEN = join(ROOT, "test/fixtures/deploy/broken-fly");

describe("every Fly config passes the schema and our rules", () => {
  for (const [kind, file, image] of CONFIGS) {
    test(`${file} (${kind})`, () => {
      expect(flyProblems(join(ROOT, file), kind, image)).toEqual([]);
    });
  }
});

describe("every rule can fail: a broken fixture per kind trips each one", () => {
  for (const [kind, file] of CONFIGS) {
    const name = file.split("/").at(-1)!;
    test(`broken-fly/${name} (${kind})`, () => {
      const problems = flyProblems(join(BROKEN, name), kind, join(BROKEN, "Dockerfile"));
      expect(tripped(problems)).toEqual([...FLY_RULES].sort());
    });
  }

  test("the messages name the offending values", () => {
    const problems = flyProblems(join(BROKEN, "fly-integrated.toml"), "integrated");
    const expected = [
      "service-port: http_service.internal_port 8080 ≠ 18789",
      "env-ports: [env] GATEWAY_PORT=8080 ≠ the configured default 18789",
      "healthz-checks: http_service check path /health ≠ /healthz",
      "mount: the image's ENV DATA_DIR is not /data",
      'command: runs ["bun src/cli.ts gateway"], not `bun src/cli.ts start`',
      "kill-timeout: kill_timeout 20s must exceed SUPERVISOR_SHUTDOWN_BUDGET_MS (25000 ms)",
      "no-secrets: [env] CLAWDBOT_GATEWAY_TOKEN",
    ];
    expect(missing(problems, expected)).toEqual([]);
  });
});

describe("schema", () => {
  const doc = readToml(join(ROOT, "fly-integrated.toml"));

  test("the known false positive is handled and real schema errors are still reported", () => {
    const boolForm = structuredClone(doc);
    boolForm.http_service!.auto_stop_machines = true;
    expect(schemaErrors(boolForm)).toEqual([]);
    const broken = structuredClone(doc);
    broken.kill_signal = "SIGHUP";
    (broken.http_service as Record<string, unknown>).internal_port = "18789";
    expect(schemaErrors(broken).length).toBe(2);
  });

  const shared = join(ROOT, "..", "shared", "schemas", "fly.schema.json");
  test.skipIf(!existsSync(shared))("the vendored schema is the shared one", () => {
    const vendored = JSON.parse(readFileSync(join(import.meta.dir, "fly.schema.json"), "utf8"));
    expect(vendored).toEqual(JSON.parse(readFileSync(shared, "utf8")));
  });
});

describe("what the rules mean for the real files", () => {
  test("integrated: the gateway binds publicly with a token, the AI server stays on loopback", () => {
    const env = readToml(join(ROOT, "fly-integrated.toml")).env ?? {};
    expect(env.GATEWAY_HOST).toBe("0.0.0.0");
    expect(env.AI_URL).toBe(`http://127.0.0.1:${DEFAULTS.aiPort}`);
    const ok = { ...env, CLAWDBOT_GATEWAY_TOKEN: "a-long-gateway-token" };
    const loaded = [
      loadEnv(gatewayEnv, ok),
      loadEnv(aiEnv, ok),
      loadEnv(syncEnv, ok),
      loadEnv(supervisorEnv, ok),
    ];
    expect(loaded.map((r) => r.ok)).toEqual([true, true, true, true]);
  });

  test("AI app: binds :: and starts only with AI_SERVER_TOKEN (a Fly secret)", () => {
    const env = readToml(join(ROOT, "fly.toml")).env ?? {};
    expect(env.AI_HOST).toBe("::");
    expect(loadEnv(aiEnv, { ...env, AI_SERVER_TOKEN: "0123456789abcdef0123" }).ok).toBe(true);
  });

  test("separate VM: starts with its two tokens, and the AI app's kill_timeout covers its drain", () => {
    const env = readToml(join(ROOT, "deploy/fly-separate-vm.toml")).env ?? {};
    const ok = {
      ...env,
      CLAWDBOT_GATEWAY_TOKEN: "a-long-gateway-token",
      AI_SERVER_TOKEN: "0123456789abcdef0123",
    };
    const loaded = [loadEnv(gatewayEnv, ok), loadEnv(syncEnv, ok), loadEnv(supervisorEnv, ok)];
    expect(loaded.map((r) => r.ok)).toEqual([true, true, true]);
    expect(seconds(readToml(join(ROOT, "fly.toml")).kill_timeout)).toBeGreaterThan(DEFAULTS.aiDrainMs / 1000);
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
