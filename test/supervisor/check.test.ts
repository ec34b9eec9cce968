/** `pipbot check`: the report (pure) and the command as a real child process. */
import { describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { buildReport, formatReport } from "../../src/check/report.ts";
import { childEnv, ROOT, spawnPipbot, tempDir } from "../helpers/index.ts";

// Built at run time so that no key-shaped literal sits in the repository.
const SECRET = ["sk", "ant", "api03", "verysecretvalue", "123456"].join("-");

describe("pipbot check (command)", () => {
  test("three bad variables: one message naming all three, exit 1, secrets never printed", async () => {
    const p = spawnPipbot(
      ["check"],
      childEnv({
        LOG_LEVEL: "loud",
        AI_PORT: "99999",
        SUPERVISOR_GRACE_MS: "-5",
        ANTHROPIC_API_KEY: SECRET,
        CLAWDBOT_GATEWAY_TOKEN: "a-long-enough-gateway-token",
      }),
    );
    expect(await p.exited).toBe(1);
    const out = p.output();
    const summary = out.split("\n").find((l) => l.startsWith("configuration INVALID"));
    expect(summary).toBe("configuration INVALID: 3 problems (LOG_LEVEL, SUPERVISOR_GRACE_MS, AI_PORT):");
    // LOG_LEVEL is read by all four processes: listed once, naming them.
    expect(out).toContain('LOG_LEVEL="loud" [supervisor, ai, sync, gateway]: must be one of');
    expect(out).toContain('AI_PORT="99999" [supervisor, ai]: must be between 0 and 65535');
    expect(out).toContain("Fix: set SUPERVISOR_GRACE_MS");
    expect(out).not.toContain(SECRET);
    expect(out).not.toContain("a-long-enough-gateway-token");
    expect(out).toContain("(set, redacted)");
  });

  test("a valid configuration exits 0 and shows derived facts", async () => {
    const p = spawnPipbot(
      ["check"],
      childEnv({ ANTHROPIC_API_KEY: SECRET, AI_DEFAULT_MODEL: "anthropic/claude-sonnet-4-5" }),
    );
    expect(await p.exited).toBe(0);
    const out = p.output();
    expect(out).toContain("configuration OK");
    expect(out).toContain("mode direct; providers: anthropic yes, openai no, google no");
    expect(out).toContain("sync        disabled (missing CONVEX_URL, CLERK_USER_ID, SYNC_SECRET)");
    expect(out).toContain("start order ai → sync → gateway");
    // The default ./data, made absolute against the Procfile's directory (./Procfile: the repo).
    expect(out).toContain(
      `token from ${join(ROOT, "data", "gateway-token")}, created on the first start (loopback only)`,
    );
    expect(out).not.toContain(SECRET);
  });

  test("--json --only gateway,sync checks just those", async () => {
    const p = spawnPipbot(
      ["check", "--json", "--only", "gateway,sync"],
      childEnv({ GATEWAY_HOST: "0.0.0.0" }),
    );
    expect(await p.exited).toBe(1);
    const r = JSON.parse(p.output()) as ReturnType<typeof buildReport>;
    expect(Object.keys(r.processes)).toEqual(["sync", "gateway"]);
    expect(r.ok).toBe(false);
    expect(r.problems.map((x) => x.variable)).toEqual(["CLAWDBOT_GATEWAY_TOKEN"]);
    expect(r.facts.gateway).toMatchObject({ bind: "0.0.0.0:18789", publicBind: true });
  });

  test("the gateway's forwarded identity: both or neither, the service token never printed", async () => {
    const svc = "gw-service-token-0123456789";
    const one = spawnPipbot(["check", "--only", "gateway"], childEnv({ PIPBOT_SERVICE_TOKEN: svc }));
    expect(await one.exited).toBe(1);
    expect(one.output()).toContain("CLERK_USER_ID");
    expect(one.output()).toContain("is required because PIPBOT_SERVICE_TOKEN is set");
    expect(one.output()).not.toContain(svc);

    const both = spawnPipbot(
      ["check", "--only", "gateway"],
      childEnv({ CLERK_USER_ID: "user_vm_1", PIPBOT_SERVICE_TOKEN: svc }),
    );
    expect(await both.exited).toBe(0);
    const out = both.output();
    expect(out).toContain("identity user user_vm_1");
    expect(out).toContain("(set, redacted)");
    expect(out).not.toContain(svc);

    const json = spawnPipbot(
      ["check", "--json", "--only", "gateway"],
      childEnv({ CLERK_USER_ID: "user_vm_1", PIPBOT_SERVICE_TOKEN: svc }),
    );
    expect(await json.exited).toBe(0);
    expect(json.output()).not.toContain(svc);
    const r = JSON.parse(json.output()) as ReturnType<typeof buildReport>;
    expect(r.facts.gateway).toMatchObject({ aiIdentity: "user user_vm_1" });
    expect(r.processes.gateway?.config.PIPBOT_SERVICE_TOKEN).toBe("[REDACTED]");
  });

  test("--only with an unknown process is a usage error", async () => {
    const p = spawnPipbot(["check", "--only", "gateway,web"], childEnv());
    expect(await p.exited).toBe(2);
    expect(p.output()).toContain("unknown process web");
  });
});

describe("buildReport", () => {
  test("proxy mode and enabled sync are derived from the Convex variables", () => {
    const r = buildReport({
      CONVEX_URL: "https://happy-animal-123.convex.cloud",
      PIPBOT_SERVICE_TOKEN: "service-token-123",
      CLERK_USER_ID: "user_abc",
      SYNC_SECRET: "sync-secret-0123456789",
    });
    expect(r.ok).toBe(true);
    expect(r.facts.ai).toMatchObject({
      mode: "proxy",
      providers: { anthropic: true, openai: true, google: true },
    });
    expect(r.facts.sync).toMatchObject({ enabled: true, siteUrl: "https://happy-animal-123.convex.site" });
    const text = formatReport(r);
    expect(text).not.toContain("service-token-123");
    expect(text).not.toContain("sync-secret-0123456789");
  });

  test("no provider at all fails the check (no chat could succeed), counted under ai, the demo named", () => {
    const r = buildReport({}, ["ai"]);
    expect(r.ok).toBe(false);
    expect(r.problems[0]?.message).toContain("no AI provider is configured");
    expect(r.problems[0]?.fix).toContain("to try pipbot without any key, run `./pipbot demo`");
    // The process's own report agrees with the list (it said "ai: 0 problem(s)").
    expect(r.processes.ai?.problems.map((p) => p.variable)).toEqual(["ANTHROPIC_API_KEY"]);
    const all = formatReport(buildReport({}));
    expect(all).toContain("\nai: 1 problem (below)\n");
    expect(all).not.toContain("0 problem");
  });

  test("GATEWAY_CONTROL_UI_DIR must hold the Control UI bundle (index.html)", () => {
    const dir = tempDir("pipbot-check-ui-");
    try {
      const bad = buildReport({ GATEWAY_CONTROL_UI_DIR: dir.path }, ["gateway"]);
      expect(bad.ok).toBe(false);
      expect(bad.problems[0]).toMatchObject({
        variable: "GATEWAY_CONTROL_UI_DIR",
        value: dir.path,
        message: expect.stringContaining("has no index.html"),
      });
      writeFileSync(join(dir.path, "index.html"), "<html></html>");
      expect(buildReport({ GATEWAY_CONTROL_UI_DIR: dir.path }, ["gateway"]).ok).toBe(true);
    } finally {
      dir.cleanup();
    }
  });

  test("the default model's provider must be configured; OPENAI_BASE_URL alone configures openai", () => {
    const r = buildReport({ OPENAI_BASE_URL: "http://127.0.0.1:11434/v1" }, ["ai"]);
    expect(r.ok).toBe(false);
    expect(r.problems[0]).toMatchObject({ variable: "AI_DEFAULT_MODEL" });
    expect(r.problems[0]?.message).toContain("uses anthropic, which is not configured");
    const ok = buildReport({ OPENAI_BASE_URL: "http://127.0.0.1:11434/v1", AI_DEFAULT_MODEL: "llama3.2" }, [
      "ai",
    ]);
    expect(ok.problems).toEqual([]);
    expect(ok.facts.ai).toMatchObject({ providers: { anthropic: false, openai: true, google: false } });
    const unknown = buildReport({ ANTHROPIC_API_KEY: "sk-ant-0123", AI_DEFAULT_MODEL: "nosuch/x" }, ["ai"]);
    expect(unknown.problems[0]?.message).toContain('unknown provider prefix "nosuch/"');
    const bearer = buildReport({ CLAUDE_ACCESS_TOKEN: "oauth-token-0123" }, ["ai"]);
    expect(bearer.ok).toBe(true);
    expect(formatReport(bearer)).not.toContain("oauth-token-0123");
  });

  test("AI_UPSTREAM=direct keeps own keys with sync's CONVEX_URL; proxy without its credentials fails", () => {
    const direct = buildReport(
      {
        AI_UPSTREAM: "direct",
        CONVEX_URL: "https://a-b-1.convex.cloud",
        GEMINI_API_KEY: "g-key-0123",
        AI_DEFAULT_MODEL: "google/gemini-2.5-flash",
      },
      ["ai"],
    );
    expect(direct.ok).toBe(true);
    expect(direct.facts.ai).toMatchObject({ mode: "direct", providers: { google: true, openai: false } });
    const proxy = buildReport({ AI_UPSTREAM: "proxy", ANTHROPIC_API_KEY: "sk-ant-0123" }, ["ai"]);
    expect(proxy.ok).toBe(false);
    expect(proxy.problems.map((p) => p.variable).sort()).toEqual([
      "CLERK_USER_ID",
      "CONVEX_URL",
      "PIPBOT_SERVICE_TOKEN",
    ]);
  });

  test("an unreadable or broken Procfile is a supervisor problem", () => {
    expect(buildReport({}, ["supervisor"], { path: "/nope/Procfile", text: null }).problems[0]).toMatchObject(
      {
        variable: "PROCFILE",
        message: "cannot be read",
      },
    );
    const bad = buildReport({}, ["supervisor"], { path: "P", text: "no colon here\n" });
    expect(bad.ok).toBe(false);
    expect(bad.problems[0]?.message).toContain("P:1: expected");
  });
});
