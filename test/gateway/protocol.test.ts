/**
 * The wire protocol against a real in-process gateway: challenge, hello-ok (validated with the
 * published JSON Schema for protocol 4), every handshake failure of the spec with its close code,
 * post-handshake errors, ticks, shutdown, the small methods and the HTTP health routes.
 */
import { describe, expect, test } from "bun:test";
import { EVENT_NAMES, METHOD_NAMES } from "../../src/gateway/methods.ts";
import { MIGRATIONS } from "../../src/shared/store/migrations.ts";
import { waitFor } from "../helpers/index.ts";
import { gatewayHarness, RawClient, type TestGateway, TOKEN, validate } from "./helpers.ts";

const h = gatewayHarness();
let t: TestGateway;

async function gateway(opts: Parameters<typeof h.start>[0] = {}) {
  t = await h.start(opts);
  return t;
}
const open = (headers?: Record<string, string>) => h.open(headers);

describe("handshake", () => {
  test("challenge first (no seq), then a schema-valid protocol-4 hello-ok with exactly the spec's keys", async () => {
    await gateway();
    const c = await open();
    const challenge = await waitFor(() => c.frames[0]);
    expect(Object.keys(challenge).sort()).toEqual(["event", "payload", "type"]);
    expect(challenge.event).toBe("connect.challenge");
    const p = challenge.payload as { nonce: string; ts: number };
    expect(Object.keys(p).sort()).toEqual(["nonce", "ts"]);
    expect(p.nonce).toMatch(/^[0-9a-f-]{36}$/);
    const res = await c.handshake();
    expect(Object.keys(res).sort()).toEqual(["id", "ok", "payload", "type"]);
    expect(validate("ResponseFrame", res)).toBeNull();
    const hello = res.payload as Record<string, unknown>;
    expect(validate("HelloOk", hello)).toBeNull();
    expect(Object.keys(hello).sort()).toEqual([
      "auth",
      "features",
      "policy",
      "protocol",
      "server",
      "snapshot",
      "type",
    ]);
    expect(hello.protocol).toBe(4);
    expect(Object.keys(hello.server as object).sort()).toEqual(["connId", "version"]);
    expect(Object.keys(hello.features as object).sort()).toEqual(["events", "methods"]);
    expect(hello.snapshot).toEqual({
      authMode: "token",
      presence: [],
      health: {},
      stateVersion: { presence: 0, health: 0 },
      uptimeMs: (hello.snapshot as { uptimeMs: number }).uptimeMs,
      sessionDefaults: { defaultAgentId: "main", mainKey: "main", mainSessionKey: "agent:main:main" },
    });
    expect(Number.isInteger((hello.snapshot as { uptimeMs: number }).uptimeMs)).toBe(true);
    expect(hello.auth).toEqual({ role: "operator", scopes: ["operator.admin"] });
    expect(hello.policy).toEqual({
      maxPayload: 25 * 1024 * 1024,
      maxBufferedBytes: 2 * 1024 * 1024,
      tickIntervalMs: 30000,
    });
    const f = hello.features as { methods: string[]; events: string[] };
    // Exactly the method table, which holds the chat core protocol-4 clients need.
    expect([...f.methods].sort()).toEqual([...METHOD_NAMES].sort());
    for (const m of [
      "chat.send",
      "chat.history",
      "chat.abort",
      "chat.startup",
      "chat.metadata",
      "sessions.list",
      "sessions.subscribe",
      "sessions.messages.subscribe",
      "models.list",
      "models.authStatus",
    ]) {
      expect(f.methods).toContain(m);
    }
    expect([...f.events].sort()).toEqual([...EVENT_NAMES].sort());
    expect(f.events).toContain("session.message");
    expect(f.events).toContain("sessions.changed");
    for (const m of ["config.set", "config.apply", "config.patch", "wizard.start"])
      expect(f.methods).not.toContain(m);
    expect((hello.snapshot as Record<string, unknown>).sessionDefaults).toEqual({
      defaultAgentId: "main",
      mainKey: "main",
      mainSessionKey: "agent:main:main",
    });
  });

  test("version negotiation: [3,4] → 4, [3,3] → 3 without auth, [5,6] → protocol mismatch + 1002", async () => {
    await gateway();
    const a = await open();
    expect(
      ((await a.handshake({ minProtocol: 3, maxProtocol: 4 })).payload as { protocol: number }).protocol,
    ).toBe(4);
    const b = await open();
    const h3 = (await b.handshake({ minProtocol: 3, maxProtocol: 3 })).payload as Record<string, unknown>;
    expect(h3.protocol).toBe(3);
    expect("auth" in h3).toBe(false);
    const c = await open();
    const bad = await c.handshake({ minProtocol: 5, maxProtocol: 6 });
    expect(bad.ok).toBe(false);
    expect(bad.error).toEqual({
      code: "INVALID_REQUEST",
      message: "protocol mismatch",
      details: { code: "PROTOCOL_MISMATCH", expectedProtocol: 4 },
    });
    expect((await c.waitClosed()).code).toBe(1002);
  });

  test("token missing / wrong: details.code, close 1008; the token never appears in logs", async () => {
    await gateway();
    const a = await open();
    const missing = await a.handshake({ auth: undefined });
    expect(missing.error).toEqual({
      code: "INVALID_REQUEST",
      message: "unauthorized: gateway token missing",
      details: { code: "AUTH_TOKEN_MISSING", recommendedNextStep: "update_auth_credentials" },
    });
    expect(await a.waitClosed()).toMatchObject({ code: 1008 });
    const b = await open();
    const wrong = await b.handshake({ auth: { token: "nope-nope" } });
    expect(wrong.error).toMatchObject({
      code: "INVALID_REQUEST",
      message: "unauthorized: gateway token mismatch",
      details: { code: "AUTH_TOKEN_MISMATCH" },
    });
    const closed = await b.waitClosed();
    expect(closed.code).toBe(1008);
    expect(Buffer.byteLength(closed.reason)).toBeLessThanOrEqual(120);
    // password is accepted as the token, and so is a bearer header on the upgrade
    const p = await open();
    expect((await p.handshake({ auth: { password: TOKEN } })).ok).toBe(true);
    const q = await open({ authorization: `Bearer ${TOKEN}` });
    expect((await q.handshake({ auth: undefined })).ok).toBe(true);
    expect(t.logs.lines.join("")).not.toContain(TOKEN);
    expect(t.logs.records().filter((r) => r.msg === "gateway auth failed")).toHaveLength(2);
  });

  test("first request not connect; invalid connect params; not a request; not JSON", async () => {
    await gateway();
    const a = await open();
    await waitFor(() => a.frames[0]);
    const r1 = await a.call("chat.history", { sessionKey: "main" });
    expect(r1.error).toEqual({
      code: "INVALID_REQUEST",
      message: "invalid handshake: first request must be connect",
    });
    expect((await a.waitClosed()).code).toBe(1008);

    const b = await open();
    await waitFor(() => b.frames[0]);
    const r2 = await b.call("connect", { minProtocol: "4", maxProtocol: 4, client: {} });
    expect((r2.error as { message: string }).message).toStartWith("invalid connect params: ");
    expect((await b.waitClosed()).code).toBe(1008);

    const c = await open();
    await waitFor(() => c.frames[0]);
    c.send({ type: "event", event: "hi" });
    expect(await c.waitClosed()).toEqual({ code: 1008, reason: "invalid request frame" });
    expect(c.frames.filter((f) => f.type === "res")).toHaveLength(0);

    const d = await open();
    d.send("{not json");
    expect(await d.waitClosed()).toEqual({ code: 1008, reason: "invalid request frame" });
  });

  test("the WebSocket answers on / and /ws only; no upgrades once stopping", async () => {
    await gateway();
    const ws = h.track(await RawClient.open(`${t.wsUrl}/ws`));
    expect((await ws.handshake()).ok).toBe(true);
    const other = await RawClient.open(`${t.wsUrl}/elsewhere`).catch((e: Error) => e);
    expect(other).toBeInstanceOf(Error);
    expect(String(other)).toContain("404");
    await t.gw.stop();
    const late = await RawClient.open(t.wsUrl).catch((e: Error) => e);
    expect(String(late)).toContain("503");
  });

  test("unknown connect keys, client ids and modes are accepted (lenient)", async () => {
    await gateway();
    const a = await open();
    const res = await a.handshake({
      client: { id: "something-new", version: "9", platform: "x", mode: "weird", extra: 1 },
      device: { id: "d", publicKey: "k", signature: "s", signedAt: 1, nonce: "n" },
      caps: ["x"],
      locale: "en",
      future: { a: 1 },
    });
    expect(res.ok).toBe(true);
  });

  test("a frame over 64 KiB before the handshake closes 1009", async () => {
    await gateway();
    const a = await open();
    a.send({ type: "req", id: "1", method: "connect", params: { pad: "x".repeat(70 * 1024) } });
    expect((await a.waitClosed()).code).toBe(1009);
  });

  test("no connect within the deadline closes 1008 handshake timeout", async () => {
    await gateway({ settings: { GATEWAY_HANDSHAKE_TIMEOUT_MS: 300 } });
    const a = await open();
    expect(await a.waitClosed(5000)).toEqual({ code: 1008, reason: "handshake timeout" });
    const log = t.logs.records().find((r) => r.msg === "gateway connection closed");
    expect(log).toMatchObject({ authenticated: false, cause: "1008 handshake timeout" });
  });
});

describe("after the handshake", () => {
  test("non-request frames, bad JSON and unknown methods get INVALID_REQUEST; the socket stays open", async () => {
    await gateway();
    const c = await h.connect();
    c.send({ type: "event", id: "e1", event: "x" });
    c.send("[1,2");
    c.send({ type: "req", id: "", method: "health" });
    const unknown = await c.call("no.such.method", {});
    expect(unknown.error).toEqual({ code: "INVALID_REQUEST", message: "unknown method: no.such.method" });
    const again = await c.call("connect", {});
    expect(again.ok).toBe(false);
    const bad = c.frames.filter((f) => f.type === "res" && f.ok === false);
    expect(bad.find((f) => f.id === "e1")?.error).toMatchObject({ code: "INVALID_REQUEST" });
    expect(bad.filter((f) => f.id === "invalid")).toHaveLength(2);
    for (const f of bad) expect(validate("ResponseFrame", f)).toBeNull();
    expect(c.closed).toBeNull();
    expect((await c.call("status")).ok).toBe(true);
  });

  test("a frame over policy.maxPayload closes 1009; other clients are unaffected", async () => {
    await gateway();
    const other = await h.connect();
    const c = await h.connect();
    c.send(`{"type":"req","id":"big","method":"status","params":"${"x".repeat(25 * 1024 * 1024)}"}`);
    expect((await c.waitClosed(20_000)).code).toBe(1009);
    expect((await other.call("status")).ok).toBe(true);
  });

  test("ticks every tickIntervalMs with a gap-free seq", async () => {
    await gateway({ tickIntervalMs: 50 });
    const c = await h.connect();
    await waitFor(() => c.events("tick").length >= 3, { what: "3 ticks" });
    const ticks = c.events("tick");
    expect(validate("TickEvent", ticks[0]?.payload)).toBeNull();
    const seqs = c
      .events()
      .filter((e) => e.event !== "connect.challenge")
      .map((e) => e.seq);
    expect(seqs.slice(0, 3)).toEqual([1, 2, 3]);
    const hello = c.frames.find((f) => f.type === "res")?.payload as { policy: { tickIntervalMs: number } };
    expect(hello.policy.tickIntervalMs).toBe(50);
  });

  test("stop: runs end, shutdown event, then close 1012", async () => {
    await gateway();
    const c = await h.connect();
    await c.call("chat.send", { sessionKey: "main", message: "[hold] bye", idempotencyKey: "sd-1" });
    await waitFor(() => c.chat("sd-1").length > 0, { what: "a delta" });
    await t.gw.stop({ reason: "test stop", restartExpectedMs: 1000 });
    const closed = await c.waitClosed();
    expect(closed).toEqual({ code: 1012, reason: "service restart" });
    const shutdown = c.events("shutdown")[0];
    expect(shutdown?.payload).toEqual({ reason: "test stop", restartExpectedMs: 1000 });
    expect(validate("ShutdownEvent", shutdown?.payload)).toBeNull();
    const end = c.chat("sd-1").at(-1);
    expect(end?.state).toBe("error");
    expect(c.frames.indexOf(shutdown as never)).toBeGreaterThan(c.frames.findIndex((f) => f.payload === end));
    expect(t.store.getRun("sd-1")?.state).toBe("interrupted");
  });
});

describe("small methods and HTTP", () => {
  test("health, status, identity, agents, sessions, nodes, pairing", async () => {
    const sync = Bun.serve({
      port: 0,
      hostname: "127.0.0.1",
      fetch: () => Response.json({ state: "idle", pending: 0, delivered: 3 }),
    });
    try {
      await gateway({ settings: { SYNC_STATUS_PORT: sync.port as number } });
      const c = await h.connect();
      const hl = (await c.call("health")).payload as Record<string, unknown>;
      expect(hl.ok).toBe(true);
      expect(typeof hl.ts).toBe("number");
      expect(typeof hl.durationMs).toBe("number");
      expect(hl.ai).toMatchObject({ ok: true, simulator: true });
      expect(hl.sync).toMatchObject({ ok: true, state: "idle", delivered: 3 });
      expect((await c.call("agent.identity.get")).payload).toMatchObject({ agentId: "main" });
      expect((await c.call("agents.list")).payload).toEqual({
        defaultId: "main",
        mainKey: "main",
        scope: "per-sender",
        agents: [{ id: "main", name: "pipbot", model: { primary: "anthropic/fake" } }],
      });
      expect((await c.call("node.list")).payload).toEqual({ nodes: [] });
      expect((await c.call("device.pair.list")).payload).toEqual({ pending: [], paired: [] });
      await c.call("chat.send", { sessionKey: "main", message: "hi", idempotencyKey: "sl-1" });
      await c.terminal("sl-1");
      const s = (await c.call("sessions.list")).payload as { count: number; sessions: { key: string }[] };
      expect(s.count).toBe(1);
      expect(s.sessions[0]?.key).toBe("agent:main:main");
      expect((await c.call("status")).payload).toMatchObject({ ok: true, connections: 1, activeRuns: 0 });
    } finally {
      await sync.stop(true);
    }
  });

  test("health reports an unreachable AI server and sync worker instead of failing", async () => {
    await gateway({ aiUrl: "http://127.0.0.1:9" });
    const c = await h.connect();
    const hl = (await c.call("health")).payload as Record<string, unknown>;
    expect(hl.ok).toBe(true);
    expect(hl.ai).toMatchObject({ ok: false });
    expect(hl.sync).toMatchObject({ ok: false });
  });

  test("/healthz and /readyz need no token and never redirect", async () => {
    await gateway();
    const hz = await fetch(`${t.httpUrl}/healthz`, { redirect: "manual" });
    expect(hz.status).toBe(200);
    // Liveness with the facts `pipbot status` shows: counters and values fixed at start, no secret.
    const facts = {
      ok: true,
      version: expect.any(String),
      protocol: { min: 3, max: 4 },
      connections: 0,
      activeRuns: 0,
      controlUi: false,
      ai: { reachable: true, downForMs: null, waitingRuns: 0 },
      store: { schemaVersion: MIGRATIONS.at(-1)?.version },
    };
    expect(await hz.json()).toEqual(facts);
    const c = await h.connect();
    const withClient = (await (await fetch(`${t.httpUrl}/healthz`)).json()) as { connections: number };
    expect(withClient.connections).toBe(1);
    c.close();
    const rz = await fetch(`${t.httpUrl}/readyz`, { redirect: "manual" });
    expect(rz.status).toBe(200);
    await t.stop();
    await gateway({ aiUrl: "http://127.0.0.1:9" });
    const down = await fetch(`${t.httpUrl}/readyz`, { redirect: "manual" });
    expect(down.status).toBe(503);
    const body = (await down.json()) as { ok: boolean; reason: string };
    expect(body.ok).toBe(false);
    expect(body.reason).toStartWith("AI server not ready");
    // /readyz's failed probe is what /healthz then reports (no probe of its own).
    const after = (await (await fetch(`${t.httpUrl}/healthz`)).json()) as { ok: boolean; ai: unknown };
    expect(after).toMatchObject({
      ok: true,
      ai: { reachable: false, downForMs: expect.any(Number), waitingRuns: 0 },
    });
    const text = JSON.stringify(after);
    expect(text).not.toContain(TOKEN);
  });

  test("GET / serves the web chat without a token, never caches it, and holds no token", async () => {
    await gateway();
    const res = await fetch(`${t.httpUrl}/`, { redirect: "manual" });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toStartWith("text/html");
    expect(res.headers.get("cache-control")).toBe("no-store");
    expect(res.headers.get("referrer-policy")).toBe("no-referrer");
    expect(res.headers.get("set-cookie")).toBeNull();
    const html = await res.text();
    expect(html).not.toContain(TOKEN);
    // It speaks protocol 4 and reads the token from the fragment; it stores it nowhere.
    for (const s of [
      "location.hash",
      "connect.challenge",
      "minProtocol: 4",
      "chat.send",
      "chat.history",
      "chat.abort",
      "deltaText",
    ]) {
      expect(html).toContain(s);
    }
    for (const s of ["localStorage", "sessionStorage", "document.cookie", "?token="])
      expect(html).not.toContain(s);
    // The only script is inline, allowed by a per-response nonce.
    const csp = res.headers.get("content-security-policy") ?? "";
    const nonce = /'nonce-([0-9a-f]+)'/.exec(csp)?.[1];
    expect(nonce).toBeTruthy();
    expect(html).toContain(`<script nonce="${nonce}">`);
    expect(html.match(/<script/g)).toHaveLength(1);
    // The script at least compiles here; webchat.browser.test.ts runs it in Chromium.
    const code = html.slice(html.indexOf(">", html.indexOf("<script")) + 1, html.indexOf("</script>"));
    expect(() => new Function(code)).not.toThrow();
    expect(csp).toContain("default-src 'none'");
    const again = await fetch(`${t.httpUrl}/`);
    expect(again.headers.get("content-security-policy")).not.toContain(nonce as string);
    // A token in the query string is neither needed nor echoed.
    const q = await fetch(`${t.httpUrl}/?token=${TOKEN}`);
    expect(q.status).toBe(200);
    expect(await q.text()).not.toContain(TOKEN);
  });
});
