import { describe, expect, test } from "bun:test";
import { convexSiteUrl } from "./common.ts";
import {
  aiEnv,
  describeEnv,
  formatProblems,
  gatewayEnv,
  loadEnv,
  secretValues,
  supervisorEnv,
  syncEnv,
  withChildPathsFrom,
} from "./index.ts";

describe("configuration", () => {
  test("defaults are the local defaults", () => {
    const g = loadEnv(gatewayEnv, {});
    const a = loadEnv(aiEnv, {});
    expect(g.ok && a.ok).toBe(true);
    if (!g.ok || !a.ok) return;
    expect(g.config).toMatchObject({
      DATA_DIR: "./data",
      GATEWAY_HOST: "127.0.0.1",
      GATEWAY_PORT: 18789,
      AI_URL: "http://127.0.0.1:3000",
    });
    expect(a.config).toMatchObject({ AI_HOST: "127.0.0.1", AI_PORT: 3000, LOG_LEVEL: "info" });
    expect(loadEnv(syncEnv, {}).ok).toBe(true);
    expect(loadEnv(supervisorEnv, {}).ok).toBe(true);
  });

  test("three bad variables → one message naming all three, with fixes, and no secret value", () => {
    const res = loadEnv(gatewayEnv, {
      GATEWAY_PORT: "eighty",
      LOG_LEVEL: "loud",
      CLAWDBOT_GATEWAY_TOKEN: "short",
    });
    expect(res.ok).toBe(false);
    if (res.ok) return;
    expect(res.problems.map((p) => p.variable).sort()).toEqual([
      "CLAWDBOT_GATEWAY_TOKEN",
      "GATEWAY_PORT",
      "LOG_LEVEL",
    ]);
    const msg = formatProblems("gateway", res.problems);
    expect(msg).toContain("3 problems");
    expect(msg).toContain('GATEWAY_PORT="eighty"');
    expect(msg).toContain('LOG_LEVEL="loud"');
    expect(msg).toContain("Fix: set GATEWAY_PORT");
    expect(msg).not.toContain("short");
    expect(msg).not.toMatch(/\n\s+at /); // no stack trace
  });

  test("a non-loopback bind requires a token (gateway and AI server)", () => {
    const g = loadEnv(gatewayEnv, { GATEWAY_HOST: "0.0.0.0" });
    expect(!g.ok && g.problems[0]?.variable).toBe("CLAWDBOT_GATEWAY_TOKEN");
    expect(loadEnv(gatewayEnv, { GATEWAY_HOST: "0.0.0.0", OPENCLAW_GATEWAY_TOKEN: "alias-token-1" }).ok).toBe(
      true,
    );
    const a = loadEnv(aiEnv, { AI_HOST: "::" });
    expect(!a.ok && a.problems[0]?.variable).toBe("AI_SERVER_TOKEN");
    expect(loadEnv(aiEnv, { AI_HOST: "::", AI_SERVER_TOKEN: "0123456789abcdef" }).ok).toBe(true);
    expect(loadEnv(aiEnv, { AI_HOST: "127.0.0.5" }).ok).toBe(true);
  });

  test("bounded values name their range: a 5 ms handshake deadline is refused", () => {
    for (const bad of ["5", "600000", "1.5", "soon"]) {
      const g = loadEnv(gatewayEnv, { GATEWAY_HANDSHAKE_TIMEOUT_MS: bad });
      expect(g.ok).toBe(false);
      expect(!g.ok && g.problems[0]?.message).toContain("between 100 and 60000");
    }
    expect(loadEnv(gatewayEnv, { GATEWAY_HANDSHAKE_TIMEOUT_MS: "100" }).ok).toBe(true);
  });

  test("proxy mode needs its token and user; sync needs all three of its variables or none", () => {
    const a = loadEnv(aiEnv, { CONVEX_URL: "https://happy-cat-123.convex.cloud" });
    expect(!a.ok && a.problems.map((p) => p.variable).sort()).toEqual([
      "CLERK_USER_ID",
      "PIPBOT_SERVICE_TOKEN",
    ]);
    const s = loadEnv(syncEnv, { CONVEX_URL: "https://happy-cat-123.convex.cloud" });
    expect(!s.ok && s.problems.map((p) => p.variable).sort()).toEqual(["CLERK_USER_ID", "SYNC_SECRET"]);
  });

  test("gateway: CLERK_USER_ID and PIPBOT_SERVICE_TOKEN (the identity it forwards) both or neither", () => {
    expect(loadEnv(gatewayEnv, {}).ok).toBe(true);
    const both = loadEnv(gatewayEnv, { CLERK_USER_ID: "user_a", PIPBOT_SERVICE_TOKEN: "svc-token-a-0123" });
    expect(both.ok && [both.config.CLERK_USER_ID, both.config.PIPBOT_SERVICE_TOKEN]).toEqual([
      "user_a",
      "svc-token-a-0123",
    ]);
    const onlyUser = loadEnv(gatewayEnv, { CLERK_USER_ID: "user_a" });
    expect(!onlyUser.ok && onlyUser.problems.map((p) => p.variable)).toEqual(["PIPBOT_SERVICE_TOKEN"]);
    expect(!onlyUser.ok && onlyUser.problems[0]?.message).toContain("because CLERK_USER_ID is set");
    const onlyToken = loadEnv(gatewayEnv, { PIPBOT_SERVICE_TOKEN: "svc-token-a-0123" });
    expect(!onlyToken.ok && onlyToken.problems.map((p) => p.variable)).toEqual(["CLERK_USER_ID"]);
    // The one-line startup message names the missing variable and never shows the token.
    const msg = formatProblems("gateway", onlyToken.ok ? [] : onlyToken.problems);
    expect(msg).toContain("CLERK_USER_ID: is required because PIPBOT_SERVICE_TOKEN is set");
    expect(msg).not.toContain("svc-token-a-0123");
    // The same definitions as the AI server's (one doc), the token a secret of the gateway too.
    expect(gatewayEnv.vars.PIPBOT_SERVICE_TOKEN).toBe(aiEnv.vars.PIPBOT_SERVICE_TOKEN);
    expect(gatewayEnv.vars.CLERK_USER_ID).toBe(aiEnv.vars.CLERK_USER_ID);
    expect(gatewayEnv.vars.PIPBOT_SERVICE_TOKEN.meta.secret).toBe(true);
    if (!both.ok) return;
    const shown = JSON.stringify(describeEnv(gatewayEnv, both.config));
    expect(shown).not.toContain("svc-token-a-0123");
    expect(shown).toContain('"CLERK_USER_ID":"user_a"');
    expect(secretValues({ PIPBOT_SERVICE_TOKEN: "svc-token-a-0123" })).toEqual(["svc-token-a-0123"]);
  });

  test("CONVEX_SITE_URL defaults from CONVEX_URL", () => {
    expect(convexSiteUrl({ CONVEX_URL: "https://happy-cat-123.convex.cloud" })).toBe(
      "https://happy-cat-123.convex.site",
    );
    expect(
      convexSiteUrl({ CONVEX_URL: "https://a.convex.cloud", CONVEX_SITE_URL: "http://127.0.0.1:9" }),
    ).toBe("http://127.0.0.1:9");
  });

  test("describeEnv redacts secrets and secretValues finds every secret and alias", () => {
    const env = {
      CLAWDBOT_GATEWAY_TOKEN: "gateway-secret-1",
      GEMINI_API_KEY: "gem-secret",
      GOOGLE_API_KEY: "goo-secret",
    };
    const g = loadEnv(gatewayEnv, env);
    expect(g.ok).toBe(true);
    if (!g.ok) return;
    const shown = JSON.stringify(describeEnv(gatewayEnv, g.config));
    expect(shown).not.toContain("gateway-secret-1");
    expect(shown).toContain("[REDACTED]");
    expect(secretValues(env).sort()).toEqual(["gateway-secret-1", "gem-secret", "goo-secret"]);
  });
});

describe("paths relative to the Procfile's directory (withChildPathsFrom)", () => {
  const env = (v: Record<string, string | undefined>) => v;
  test("DATA_DIR: unset, blank or relative is made absolute there; an absolute one is kept", () => {
    const base = env({ PATH: "/bin" });
    expect(withChildPathsFrom(base, "/srv/app")).toEqual({ PATH: "/bin", DATA_DIR: "/srv/app/data" });
    expect(withChildPathsFrom({ DATA_DIR: "  " }, "/srv/app").DATA_DIR).toBe("/srv/app/data");
    expect(withChildPathsFrom({ DATA_DIR: " var/pip " }, "/srv/app").DATA_DIR).toBe("/srv/app/var/pip");
    expect(withChildPathsFrom({ DATA_DIR: "../shared" }, "/srv/app").DATA_DIR).toBe("/srv/shared");
    const abs = env({ DATA_DIR: "/data" });
    expect(withChildPathsFrom(abs, "/srv/app")).toBe(abs);
  });

  test("GATEWAY_CONTROL_UI_DIR is resolved by the same rule, unset stays unset", () => {
    expect(withChildPathsFrom(env({ GATEWAY_CONTROL_UI_DIR: "ui" }), "/srv/app")).toEqual({
      GATEWAY_CONTROL_UI_DIR: "/srv/app/ui",
      DATA_DIR: "/srv/app/data",
    });
    expect(withChildPathsFrom(env({ DATA_DIR: "/data" }), "/srv/app").GATEWAY_CONTROL_UI_DIR).toBeUndefined();
  });
});
