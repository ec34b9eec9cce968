/**
 * Protocol 4 against the published contract, @openclaw/gateway-protocol's protocol.schema.json:
 * one test walks EVERY method of the gateway's method table with valid params (checked against
 * the method's Params definition first) and validates every response — the frame, and the payload
 * against the method's Result definition where the schema has one — and every event frame the
 * gateway sent meanwhile (frame + payload definition). Every other method of the published
 * protocol is refused with one structured code (NOT_OFFERED, or CONFIG_MANAGED_BY_PLATFORM for
 * config writes) and stays out of `hello-ok.features.methods`; names outside the protocol stay
 * `unknown method`.
 *
 * The schema's `methods` map gives no Params/Result names, so they are derived from the method
 * name as the schema names them (`sessions.usage` → SessionsUsageParams / SessionsUsageResult),
 * with the few exceptions in DEFS. A method whose schema has no Result definition gets its frame
 * validated and is listed in NO_RESULT_SCHEMA (so a new one must be looked at).
 */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { OPENCLAW_METHODS } from "../../src/gateway/methods/openclaw-methods.ts";
import { METHOD_NAMES } from "../../src/gateway/methods.ts";
import { ROOT } from "../helpers/index.ts";
import { type Frame, gatewayHarness, type RawClient, startSimAiServer, validate } from "./helpers.ts";

const schema = JSON.parse(
  readFileSync(join(ROOT, "node_modules/@openclaw/gateway-protocol/protocol.schema.json"), "utf8"),
) as { methods: Record<string, unknown>; definitions: Record<string, unknown> };
const defs = schema.definitions;

/** Definition names that do not follow the `<Pascal name>Params/Result` rule. */
const DEFS: Record<string, { params?: string; result?: string }> = {
  "agent.identity.get": { params: "AgentIdentityParams", result: "AgentIdentityResult" },
};

const pascal = (m: string) =>
  m
    .split(/[.-]/)
    .map((p) => (p[0] ?? "").toUpperCase() + p.slice(1))
    .join("");
const defOf = (method: string, kind: "params" | "result"): string | undefined => {
  const name = DEFS[method]?.[kind] ?? `${pascal(method)}${kind === "params" ? "Params" : "Result"}`;
  return name in defs ? name : undefined;
};

const MAIN = "agent:main:main";
/** A session the walk creates, patches, resets and deletes (never the one chatting). */
const WALK = "agent:main:schema-walk";

/** Valid params for the methods that need some (everything else is called with `{}`). */
const PARAMS: Record<string, unknown> = {
  "sessions.describe": { key: MAIN },
  "sessions.get": { key: MAIN },
  "sessions.resolve": { key: MAIN },
  "sessions.preview": { keys: [MAIN] },
  "sessions.messages.subscribe": { key: MAIN },
  "sessions.messages.unsubscribe": { key: MAIN },
  "sessions.create": { key: WALK, label: "schema walk" },
  "sessions.patch": { key: WALK, label: "schema walk, patched" },
  "sessions.reset": { key: WALK },
  "sessions.delete": { key: WALK },
  "chat.startup": { sessionKey: MAIN, limit: 80, maxBytes: 262144 },
  "chat.metadata": { agentId: "main", sessionKey: MAIN },
  "models.list": { view: "configured", agentId: "main" },
  "models.authStatus": { agentId: "main" },
  "sessions.branches.list": { sessionKey: MAIN },
  "sessions.companion.state": { sessionKey: MAIN, agentId: "main" },
  "chat.send": { sessionKey: "main", message: "schema walk", idempotencyKey: "schema-1" },
  "chat.history": { sessionKey: "main", limit: 10 },
  "chat.abort": { sessionKey: "main" },
  "agent.identity.get": { agentId: "main" },
  "sessions.usage": {
    startDate: "2026-01-01",
    endDate: "2026-12-31",
    agentScope: "all",
    mode: "specific",
    timeZone: "UTC",
    utcOffset: "UTC+0",
    groupBy: "family",
    limit: 1000,
    includeContextWeight: false,
  },
  "logs.tail": { limit: 500, maxBytes: 250000 },
  "sessions.usage.timeseries": { key: "agent:main:main" },
  "sessions.usage.logs": { key: "agent:main:main", limit: 1000 },
  "commands.list": { includeArgs: true, scope: "text" },
  "sessions.observer.visibility": { visible: true },
  "progressCard.get": { sessionKey: "agent:main:main" },
  "skills.status": { agentId: "main" },
  "skills.search": { limit: 20 },
  "approval.history": { limit: 50 },
  "channels.status": { probe: false, timeoutMs: 8000 },
};

/**
 * The order of the walk: subscriptions first (so their events flow while the rest runs and get
 * validated too), unsubscribes and destructive calls last; otherwise the table's order.
 */
const FIRST = ["sessions.subscribe", "sessions.messages.subscribe", "sessions.create", "sessions.patch"];
const LAST = ["sessions.messages.unsubscribe", "sessions.unsubscribe", "sessions.reset", "sessions.delete"];
function walkOrder(names: string[]): string[] {
  const rank = (m: string) =>
    FIRST.includes(m) ? FIRST.indexOf(m) - 100 : LAST.includes(m) ? 100 + LAST.indexOf(m) : 0;
  return [...names].sort((a, b) => rank(a) - rank(b));
}

/**
 * Methods the gateway offers that the published schema does not define (each must be justified
 * here): `sessions.unsubscribe` ends a `sessions.subscribe` (the schema only defines the messages
 * variant's unsubscribe).
 */
const NOT_IN_SCHEMA = new Set(["sessions.unsubscribe"]);

/** Methods whose published schema defines no result shape: only their frames can be validated. */
const NO_RESULT_SCHEMA = new Set([
  "sessions.unsubscribe",
  "sessions.subscribe",
  "sessions.messages.subscribe",
  "sessions.messages.unsubscribe",
  "sessions.describe",
  "sessions.get",
  "sessions.preview",
  "sessions.create",
  "sessions.patch",
  "sessions.reset",
  "sessions.delete",
  "chat.startup",
  "chat.metadata",
  "models.list",
  "models.authStatus",
  "chat.send",
  "chat.history",
  "chat.abort",
  "health",
  "status",
  "last-heartbeat",
  "usage.status",
  "usage.cost",
  "sessions.usage",
  "sessions.usage.timeseries",
  "sessions.usage.logs",
  "config.get",
  "sessions.list",
  "node.list",
  "device.pair.list",
  "exec.approval.list",
  "plugin.approval.list",
  "openclaw.approval.list",
  "diagnostics.lanes",
  "cron.list",
  "cron.status",
  "cron.runs",
  "skills.status",
  "skills.library.list",
  "system-presence",
]);

/** Event payload definitions (events not listed here fail the test until they are classified). */
const EVENT_DEFS: Record<string, string | null> = {
  chat: "ChatEvent",
  tick: "TickEvent",
  shutdown: "ShutdownEvent",
  // No payload definition in the schema for these: their frames are validated.
  "connect.challenge": null,
  "session.message": null,
  "sessions.changed": null,
  "chat.metadata.changed": null,
};

const h = gatewayHarness();
const AI_TOKEN = "schema-walk-ai-server-token-0123456789";

function expectValid(def: string, value: unknown, what: string) {
  const err = validate(def, value);
  if (err) throw new Error(`${what} does not validate against ${def}: ${err}`);
}

/** Every frame the client got: res frames as ResponseFrame, events as EventFrame + payload def. */
function validateAllFrames(c: RawClient) {
  for (const f of c.frames) {
    if (f.type === "res") expectValid("ResponseFrame", f, `response ${String(f.id)}`);
    else if (f.type === "event") {
      expectValid("EventFrame", f, `event ${String(f.event)}`);
      const name = String(f.event);
      if (!(name in EVENT_DEFS)) throw new Error(`event ${name} has no entry in EVENT_DEFS`);
      const def = EVENT_DEFS[name];
      if (def) expectValid(def, f.payload, `payload of event ${name}`);
    } else throw new Error(`unexpected frame type ${f.type}`);
  }
}

describe("protocol 4 against protocol.schema.json", () => {
  test("the generated list of protocol methods is the schema's", () => {
    expect([...OPENCLAW_METHODS].sort()).toEqual(Object.keys(schema.methods).sort());
  });

  test("every registered method: valid params in, schema-valid response out; every event valid", async () => {
    // The real AI server on the upstream simulator (models.list reads its /v1/models).
    const sim = await startSimAiServer({ token: AI_TOKEN, dirPrefix: "pipbot-schema-ai-" });
    h.defer(() => sim.stop());
    const t = await h.start({
      aiUrl: sim.url,
      settings: { AI_SERVER_TOKEN: AI_TOKEN, AI_DEFAULT_MODEL: "anthropic/sim" },
    });
    // Real usage rows so the usage panels answer with data, not only empty shapes.
    const now = Date.now();
    const session = t.store.getOrCreateSession("agent:main:main");
    const usage = {
      inputTokens: 1200,
      outputTokens: 300,
      cacheReadTokens: 100,
      cacheWriteTokens: 0,
      reasoningTokens: 0,
    };
    t.store.recordUsage({
      requestId: "u1",
      ts: now,
      provider: "anthropic",
      model: "claude-sonnet-4-5",
      status: "ok",
      usage,
      conversationId: session.id,
    });
    t.store.recordUsage({
      requestId: "u2",
      ts: now,
      provider: "anthropic",
      model: "sim",
      status: "ok",
      usage,
    });
    const c = await h.connect();
    const hello = c.frames.find((f) => f.type === "res") as Frame;
    expectValid("HelloOk", hello.payload, "hello-ok");
    const advertised = (hello.payload as { features: { methods: string[] } }).features.methods;
    expect([...advertised].sort()).toEqual([...METHOD_NAMES].sort());

    const problems: string[] = [];
    for (const method of walkOrder(METHOD_NAMES)) {
      if (!(method in schema.methods) && !NOT_IN_SCHEMA.has(method)) {
        problems.push(`${method}: not a method of the published protocol`);
        continue;
      }
      const params = PARAMS[method] ?? {};
      const pDef = defOf(method, "params");
      if (pDef) {
        const err = validate(pDef, params);
        if (err) problems.push(`${method}: the test's params are not valid ${pDef}: ${err}`);
      }
      const res = await c.call(method, params);
      const frameErr = validate("ResponseFrame", res);
      if (frameErr) problems.push(`${method}: response frame: ${frameErr}`);
      if (res.ok !== true) {
        problems.push(`${method}: answered an error ${JSON.stringify(res.error)}`);
        continue;
      }
      const rDef = NOT_IN_SCHEMA.has(method) ? undefined : defOf(method, "result");
      if (rDef) {
        const err = validate(rDef, res.payload);
        if (err) problems.push(`${method}: payload is not a valid ${rDef}: ${err}`);
      } else if (!NO_RESULT_SCHEMA.has(method)) {
        problems.push(`${method}: no Result definition found; add it to DEFS or NO_RESULT_SCHEMA`);
      }
    }
    expect(problems).toEqual([]);
    await c.terminal("schema-1");
    validateAllFrames(c);
    expect(c.events("chat").length).toBeGreaterThan(0);
    expect(c.events("connect.challenge").length).toBe(1);
    // With subscriptions offered, their events were sent (and validated above) too.
    if (METHOD_NAMES.includes("sessions.messages.subscribe"))
      expect(c.events("session.message").length).toBeGreaterThan(0);
    if (METHOD_NAMES.includes("sessions.subscribe"))
      expect(c.events("sessions.changed").length).toBeGreaterThan(0);
  }, 60_000);

  test("every other method of the protocol: one structured refusal, never offered", async () => {
    await h.start();
    const c = await h.connect();
    const offered = new Set(METHOD_NAMES);
    // `connect` is the handshake itself (after it: "already connected").
    const others = Object.keys(schema.methods).filter((m) => !offered.has(m) && m !== "connect");
    expect(others.length).toBeGreaterThan(300);
    const wrong: string[] = [];
    for (const method of others) {
      const res = await c.call(method, {});
      const err = res.error as {
        code: string;
        details?: { code?: string; method?: string };
        retryable?: boolean;
      };
      const want =
        method.startsWith("config.") && ["config.set", "config.apply", "config.patch"].includes(method)
          ? { code: "INVALID_REQUEST", details: "CONFIG_MANAGED_BY_PLATFORM" }
          : { code: "UNAVAILABLE", details: "NOT_OFFERED" };
      if (
        res.ok !== false ||
        err.code !== want.code ||
        err.details?.code !== want.details ||
        err.details?.method !== method ||
        err.retryable !== undefined
      )
        wrong.push(`${method}: ${JSON.stringify(res.error ?? res.payload)}`);
    }
    expect(wrong).toEqual([]);
    const unknown = await c.call("no.such.method", {});
    expect(unknown.error).toEqual({ code: "INVALID_REQUEST", message: "unknown method: no.such.method" });
    // Names of Object.prototype are not methods either.
    expect((await c.call("toString", {})).error).toMatchObject({ code: "INVALID_REQUEST" });
    validateAllFrames(c);
  }, 60_000);
});
