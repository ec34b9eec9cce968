/**
 * The owner panels against a real in-process gateway and real SQLite store: what each answers is
 * what this VM really has — usage rows priced by the one price table, the gateway's own (redacted)
 * log lines with a working follow cursor, the effective configuration with secrets redacted and
 * writes refused, the identity with its avatar served over HTTP, the Control UI bootstrap config,
 * and status/system.info with the image identity and the other processes' state.
 */
import { describe, expect, test } from "bun:test";
import { LogRing } from "../../src/shared/log-ring.ts";
import { costOf, PRICES, priceOf } from "../../src/shared/prices.ts";
import { waitFor } from "../helpers/index.ts";
import { gatewayHarness, TOKEN } from "./helpers.ts";

const h = gatewayHarness();
type Obj = Record<string, unknown>;

const USAGE = {
  inputTokens: 1_000_000,
  outputTokens: 100_000,
  cacheReadTokens: 0,
  cacheWriteTokens: 0,
  reasoningTokens: 0,
};

describe("usage panels", () => {
  test("usage.cost and sessions.usage: tokens and cost per day, session and model; unknown models are missing cost, not $0", async () => {
    const t = await h.start();
    const now = Date.now();
    const main = t.store.getOrCreateSession("agent:main:main");
    const other = t.store.getOrCreateSession("agent:main:work");
    const rec = (id: string, model: string, conversationId?: string, status = "ok") =>
      t.store.recordUsage({
        requestId: id,
        ts: now,
        provider: model.split("/")[0] as string,
        model: model.split("/")[1] as string,
        status,
        usage: USAGE,
        ...(conversationId ? { conversationId } : {}),
      });
    rec("a", "anthropic/claude-sonnet-4-5-20250929", main.id);
    rec("b", "anthropic/claude-sonnet-4-5-20250929", main.id);
    rec("c", "openai/gpt-4.1-mini", other.id, "error");
    rec("d", "anthropic/sim"); // no session (AI server API), no price
    // Outside the range: 40 days ago.
    t.store.recordUsage({
      requestId: "old",
      ts: now - 40 * 86_400_000,
      provider: "anthropic",
      model: "claude-sonnet-4-5",
      status: "ok",
      usage: USAGE,
      conversationId: main.id,
    });

    const c = await h.connect();
    const cost = (await c.call("usage.cost", { days: 30 })).payload as {
      days: number;
      daily: Obj[];
      totals: Obj;
    };
    // Sonnet 4.5: $3/M in, $15/M out → 1M in + 0.1M out = $4.50 per request; gpt-4.1-mini $0.40 + $0.16.
    expect(cost.days).toBe(30);
    expect(cost.totals.totalCost).toBeCloseTo(2 * 4.5 + 0.56, 9);
    expect(cost.totals.input).toBe(4_000_000);
    expect(cost.totals.missingCostEntries).toBe(1);
    expect(cost.daily).toHaveLength(1);
    expect(cost.daily[0]?.date).toBe(new Date(now).toISOString().slice(0, 10));

    const all = (await c.call("usage.cost", { range: "all" })).payload as { totals: Obj };
    expect(all.totals.totalCost).toBeCloseTo(3 * 4.5 + 0.56, 9);

    const su = (await c.call("sessions.usage", { range: "30d", limit: 1000 })).payload as {
      sessions: { key: string; sessionId?: string; model?: string; usage: Obj }[];
      totals: Obj;
      aggregates: {
        byModel: { model: string; count: number; totals: Obj }[];
        messages: Obj;
        costDaily: Obj[];
      };
      overview: Obj;
    };
    const byKey = Object.fromEntries(su.sessions.map((s) => [s.key, s]));
    expect(Object.keys(byKey).sort()).toEqual(["agent:main:main", "agent:main:work", "pipbot:ai-server-api"]);
    expect(byKey["agent:main:main"]?.sessionId).toBe(main.id);
    expect(byKey["agent:main:main"]?.model).toBe("claude-sonnet-4-5-20250929");
    expect(byKey["agent:main:main"]?.usage.totalCost).toBeCloseTo(9, 9);
    expect(byKey["agent:main:work"]?.usage.messageCounts).toMatchObject({ errors: 1 });
    expect(byKey["pipbot:ai-server-api"]?.usage.missingCostEntries).toBe(1);
    expect(su.totals.totalCost).toBeCloseTo(9.56, 9);
    expect(su.aggregates.byModel[0]).toMatchObject({ model: "claude-sonnet-4-5-20250929", count: 2 });
    // Per day, by token type (the usage page's daily chart).
    expect(su.aggregates.costDaily).toEqual([
      expect.objectContaining({
        date: new Date(now).toISOString().slice(0, 10),
        input: 4_000_000,
        output: 400_000,
      }),
    ]);
    expect(su.overview).toMatchObject({ matchedSessions: 3, returnedSessions: 3 });

    const one = (await c.call("sessions.usage", { key: "agent:main:work" })).payload as {
      sessions: { key: string }[];
    };
    expect(one.sessions.map((s) => s.key)).toEqual(["agent:main:work"]);
    const otherAgent = (await c.call("sessions.usage", { agentId: "ops" })).payload as {
      sessions: unknown[];
    };
    expect(otherAgent.sessions).toEqual([]);

    // Drill-down: the session's requests over time, and its messages.
    const ts = (await c.call("sessions.usage.timeseries", { key: "agent:main:main" })).payload as {
      sessionId: string;
      points: Obj[];
    };
    expect(ts.sessionId).toBe(main.id);
    expect(ts.points).toHaveLength(3); // the two in range and the old one
    expect(ts.points[2]).toMatchObject({
      input: 1_000_000,
      output: 100_000,
      model: "claude-sonnet-4-5-20250929",
    });
    expect(ts.points[2]?.cost).toBeCloseTo(4.5, 9);
    const api = (await c.call("sessions.usage.timeseries", { key: "pipbot:ai-server-api" })).payload as {
      points: Obj[];
    };
    expect(api.points.map((x) => x.model)).toEqual(["sim"]);
    t.store.appendMessage({
      sessionId: main.id,
      role: "user",
      content: [{ type: "text", text: "hello there" }],
    });
    const logs = (await c.call("sessions.usage.logs", { key: "agent:main:main" })).payload as { logs: Obj[] };
    expect(logs.logs).toEqual([expect.objectContaining({ role: "user", content: "hello there" })]);
    expect((await c.call("sessions.usage.logs", { key: "agent:main:nope" })).error).toMatchObject({
      code: "INVALID_REQUEST",
    });

    const bad = await c.call("sessions.usage", { startDate: "2026-13-99x", endDate: "2026-01-01" });
    expect(bad.error).toMatchObject({ code: "INVALID_REQUEST" });
    expect(String((bad.error as Obj).message)).toContain("startDate");
    const backwards = await c.call("usage.cost", { startDate: "2026-02-01", endDate: "2026-01-01" });
    expect(String((backwards.error as Obj).message)).toContain("endDate is before startDate");
    expect((await c.call("usage.status")).payload).toMatchObject({ providers: [] });
  });

  test("the price table: dated snapshots match their model, the longest name wins, unknown is null", () => {
    expect(priceOf("anthropic", "claude-sonnet-4-5-20250929")).toBe(
      PRICES["anthropic/claude-sonnet-4-5"] ?? null,
    );
    expect(priceOf("openai", "gpt-4.1-mini")).toBe(PRICES["openai/gpt-4.1-mini"] ?? null);
    expect(priceOf("openai", "openai/gpt-4.1")).toBe(PRICES["openai/gpt-4.1"] ?? null);
    expect(priceOf("anthropic", "sim")).toBeNull();
    expect(priceOf("openai", "gpt-4.1x")).toBeNull();
    const p = { input: 3, output: 15, cacheRead: 0.3, cacheWrite: 3.75 };
    expect(
      costOf({ inputTokens: 1e6, outputTokens: 1e6, cacheReadTokens: 1e6, cacheWriteTokens: 1e6 }, p)
        .totalCost,
    ).toBeCloseTo(22.05, 9);
  });
});

describe("logs.tail", () => {
  test("the gateway's own lines, secrets redacted, for the Control UI's viewer; the cursor follows; a restart resets", async () => {
    const t = await h.start();
    const c = await h.connect();
    // The token is in the logger's redactor (as in main.ts): a line that would carry it shows [REDACTED].
    const marker = `panel-marker-${crypto.randomUUID()}`;
    const bad = await h.open();
    await waitFor(() => bad.events("connect.challenge")[0]);
    await bad.call("connect", {
      minProtocol: 4,
      maxProtocol: 4,
      client: { id: marker, version: "1", platform: "linux", mode: "test" },
      auth: { token: `${TOKEN}-wrong` },
    });
    await waitFor(() => t.logs.lines.some((l) => l.includes(marker)), { what: "the auth failure logged" });
    const first = (await c.call("logs.tail", { limit: 500, maxBytes: 250000 })).payload as {
      file: string;
      cursor: number;
      size: number;
      lines: string[];
    };
    expect(first.file).toBe("pipbot gateway (memory)");
    const line = first.lines.find((l) => l.includes(marker));
    expect(line).toBeDefined();
    const rec = JSON.parse(line as string) as Obj;
    expect(rec).toMatchObject({
      proc: "gateway",
      subsystem: "gateway",
      level: "warn",
      message: "gateway auth failed",
    });
    expect(first.lines.join("\n")).not.toContain(TOKEN);
    expect(first.cursor).toBe(first.size);

    // Follow: only the lines after the cursor.
    const marker2 = `panel-follow-${crypto.randomUUID()}`;
    const bad2 = await h.open();
    await waitFor(() => bad2.events("connect.challenge")[0]);
    await bad2.call("connect", {
      minProtocol: 4,
      maxProtocol: 4,
      client: { id: marker2, version: "1", platform: "linux", mode: "test" },
      auth: { token: `${TOKEN}-wrong` },
    });
    await waitFor(() => t.logs.lines.some((l) => l.includes(marker2)), { what: "second line logged" });
    const next = (await c.call("logs.tail", { cursor: first.cursor })).payload as {
      lines: string[];
      cursor: number;
    };
    expect(next.lines.some((l) => l.includes(marker2))).toBe(true);
    expect(next.lines.some((l) => l.includes(marker))).toBe(false);
    expect(next.cursor).toBeGreaterThan(first.cursor);
    const reset = (await c.call("logs.tail", { cursor: next.cursor + 10_000 })).payload as Obj;
    expect(reset.reset).toBe(true);
    const limited = (await c.call("logs.tail", { limit: 1 })).payload as {
      lines: string[];
      truncated: boolean;
    };
    expect(limited.lines).toHaveLength(1);
    expect(limited.truncated).toBe(true);
    const refused = await c.call("logs.tail", { limit: 0 });
    expect(refused.error).toMatchObject({ code: "INVALID_REQUEST" });
  });

  test("LogRing keeps the newest lines within its bounds and reports what a late cursor missed", () => {
    const ring = new LogRing({ maxLines: 3, maxBytes: 1000 });
    ring.write("a\nb\n");
    ring.write("c\nd");
    expect(ring.tail({ limit: 10, maxBytes: 1000 }).lines).toEqual(["a", "b", "c"]);
    ring.write("\ne\n");
    const all = ring.tail({ limit: 10, maxBytes: 1000 });
    expect(all.lines).toEqual(["c", "d", "e"]);
    expect(all.size).toBe(10);
    const late = ring.tail({ cursor: 0, limit: 10, maxBytes: 1000 });
    expect(late.skippedBytes).toBe(4);
    expect(ring.tail({ cursor: 6, limit: 10, maxBytes: 1000 }).lines).toEqual(["d", "e"]);
    expect(ring.tail({ limit: 10, maxBytes: 4 }).lines).toEqual(["d", "e"]);
  });
});

describe("config, identity, commands, status", () => {
  test("config.get: effective settings, secrets redacted; config.set/apply/patch refused as managed by the platform", async () => {
    const secret = "ai-server-secret-token-0123456789";
    await h.start({ settings: { AI_SERVER_TOKEN: secret, AI_DEFAULT_MODEL: "anthropic/claude-sonnet-4-5" } });
    const c = await h.connect();
    const res = await c.call("config.get", {});
    const cfg = res.payload as { config: Obj; raw: string; valid: boolean; readOnly: boolean; hash: string };
    expect(cfg.valid).toBe(true);
    expect(cfg.readOnly).toBe(true);
    expect(cfg.config.AI_DEFAULT_MODEL).toBe("anthropic/claude-sonnet-4-5");
    expect(cfg.config.AI_SERVER_TOKEN).toBe("[REDACTED]");
    expect(JSON.stringify(res)).not.toContain(secret);
    expect(JSON.stringify(res)).not.toContain(TOKEN);
    expect(cfg.hash).toMatch(/^[0-9a-f]{64}$/);
    for (const m of ["config.set", "config.apply", "config.patch"]) {
      const r = await c.call(m, { raw: "{}", baseHash: cfg.hash });
      expect(r.error).toMatchObject({
        code: "INVALID_REQUEST",
        details: { code: "CONFIG_MANAGED_BY_PLATFORM", method: m },
      });
      expect((r.error as Obj).retryable).toBeUndefined();
      expect(String((r.error as Obj).message)).toContain("managed by the platform");
    }
    // Nothing changed.
    expect(((await c.call("config.get", {})).payload as { hash: string }).hash).toBe(cfg.hash);
  });

  test("agent.identity.get names the avatar the gateway serves; the Control UI config and avatar need no token", async () => {
    const t = await h.start();
    const c = await h.connect();
    const id = (await c.call("agent.identity.get", { agentId: "main" })).payload as Obj;
    expect(id).toMatchObject({
      agentId: "main",
      name: "pipbot",
      avatar: "/avatar/main",
      avatarStatus: "local",
    });
    expect((await c.call("agent.identity.get", { agentId: "ops" })).error).toMatchObject({
      code: "INVALID_REQUEST",
    });
    const img = await fetch(`${t.httpUrl}${String(id.avatar)}`);
    expect(img.status).toBe(200);
    expect(img.headers.get("content-type")).toBe("image/svg+xml");
    expect(await img.text()).toContain("<svg");
    const meta = await fetch(`${t.httpUrl}/control/avatar/main?meta=1`);
    expect(await meta.json()).toEqual({ avatarUrl: "/control/avatar/main" });
    expect((await fetch(`${t.httpUrl}/avatar/ops`)).status).toBe(404);
    for (const base of ["", "/control"]) {
      const r = await fetch(`${t.httpUrl}${base}/control-ui-config.json`);
      expect(r.status).toBe(200);
      expect(await r.json()).toMatchObject({
        basePath: base,
        assistantName: "pipbot",
        assistantAvatar: `${base}/avatar/main`,
        assistantAgentId: "main",
        serverVersion: "test",
      });
    }
  });

  test("commands.list: the /stop the gateway acts on; none native", async () => {
    await h.start();
    const c = await h.connect();
    const list = (await c.call("commands.list", { scope: "text" })).payload as { commands: Obj[] };
    expect(list.commands.map((x) => x.name)).toEqual(["stop"]);
    expect(
      ((await c.call("commands.list", { scope: "native" })).payload as { commands: unknown[] }).commands,
    ).toEqual([]);
    // /stop really is a command of chat.send: it aborts the session's runs.
    const r = await c.call("chat.send", { sessionKey: "main", message: "/stop", idempotencyKey: "stop-1" });
    expect(r.ok).toBe(true);
  });

  test("status and system.info: the image identity, this process, the AI server and sync worker, the machine", async () => {
    const sync = Bun.serve({
      port: 0,
      hostname: "127.0.0.1",
      fetch: () => Response.json({ state: "idle", pending: 2 }),
    });
    try {
      const t = await h.start({ settings: { SYNC_STATUS_PORT: sync.port as number } });
      const c = await h.connect();
      const st = (await c.call("status", {})).payload as { image: Obj; processes: Record<string, Obj> };
      expect(st.image.gitSha).toEqual(expect.any(String));
      expect(st.image.version).toEqual(expect.any(String));
      expect(st.processes.gateway).toMatchObject({ ok: true, pid: process.pid, connections: 1 });
      expect(st.processes.ai).toMatchObject({ ok: true });
      expect(st.processes.sync).toMatchObject({ ok: true, state: "idle", pending: 2 });
      const info = (await c.call("system.info", {})).payload as Obj;
      expect(info).toMatchObject({ pid: process.pid, platform: process.platform, diskPath: t.dataDir });
      expect(info.diskAvailableBytes).toEqual(expect.any(Number));
      expect((await c.call("system.info", { extra: 1 })).error).toMatchObject({ code: "INVALID_REQUEST" });
      const hb = (await c.call("last-heartbeat", {})).payload as Obj;
      expect(hb).toMatchObject({ status: "ok", gateway: { ok: true } });
    } finally {
      await sync.stop(true);
    }
  });
});
