/**
 * Protocol-4 sessions as users manage them, against the real gateway and the real AI server on the
 * upstream simulator: list (defaults, rows), describe / resolve / preview / get, create, patch
 * (label; model — later turns use it), reset (new empty transcript, the old one kept and still
 * synced), delete (gone locally, a session_tombstone queued and accepted by the sync-v1 receiver),
 * `sessions.changed` to subscribers only, models.list / models.authStatus, and bad input: keys of
 * another shape, unknown models and fields, subscription storms.
 */
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { pushBatch } from "../../src/sync/push.ts";
import { startSyncReceiver } from "../fakes/sync-receiver.ts";
import { waitFor } from "../helpers/index.ts";
import {
  connected,
  type RawClient,
  type SimAiServer,
  startSimAiServer,
  startTestGateway,
  type TestGateway,
} from "./helpers.ts";

const AI_SERVER_TOKEN = "sessions-ai-server-token-0123456789";
let sim: SimAiServer;
let t: TestGateway;
const clients: RawClient[] = [];

async function client(): Promise<RawClient> {
  const c = await connected(t.wsUrl);
  clients.push(c);
  return c;
}

async function ok(c: RawClient, method: string, params?: unknown): Promise<Record<string, unknown>> {
  const r = await c.call(method, params);
  if (r.ok !== true) throw new Error(`${method} failed: ${JSON.stringify(r.error)}`);
  return r.payload as Record<string, unknown>;
}

async function fails(
  c: RawClient,
  method: string,
  params: unknown,
): Promise<{ code: string; message: string; details?: Record<string, unknown> }> {
  const r = await c.call(method, params);
  expect(r.ok).toBe(false);
  return r.error as { code: string; message: string; details?: Record<string, unknown> };
}

async function turn(c: RawClient, sessionKey: string, message: string, id: string) {
  expect((await c.chatSend(sessionKey, message, id)).ok).toBe(true);
  return c.terminal(id, 30_000);
}

beforeAll(async () => {
  sim = await startSimAiServer({
    token: AI_SERVER_TOKEN,
    dirPrefix: "pipbot-sessions-ai-",
    env: { AI_MODELS: "anthropic/sim-large" },
  });
}, 60_000);
afterAll(async () => {
  await sim?.stop();
});
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await t?.stop();
});

async function gateway() {
  t = await startTestGateway({ aiUrl: sim.url, settings: { AI_SERVER_TOKEN } });
}

describe("sessions (protocol 4)", () => {
  test("list has defaults and rows; describe, resolve, preview, get; models come from the AI server", async () => {
    await gateway();
    const c = await client();
    const empty = await ok(c, "sessions.list", { includeDerivedTitles: true, includeLastMessage: true });
    expect(empty).toMatchObject({ count: 0, sessions: [] });
    expect(empty.defaults).toMatchObject({ modelSelectionTarget: "session" });

    await turn(c, "agent:main:main", "what is the plan", "l-1");
    const list = await ok(c, "sessions.list", { includeDerivedTitles: true, includeLastMessage: true });
    const row = (list.sessions as Record<string, unknown>[])[0];
    expect(row).toMatchObject({
      key: "agent:main:main",
      kind: "direct",
      agentId: "main",
      isMain: true,
      derivedTitle: "what is the plan",
    });
    expect(row?.lastMessagePreview as string).toStartWith("You said: what is the plan.");
    expect(row?.model).toBe("sim");
    expect(row?.modelProvider).toBe("anthropic");

    expect((await ok(c, "sessions.describe", { key: "agent:main:main" })).session).toMatchObject({
      key: "agent:main:main",
      sessionId: row?.sessionId,
    });
    expect(await ok(c, "sessions.describe", { key: "agent:main:nope" })).toEqual({ session: null });
    expect(await ok(c, "sessions.resolve", { sessionId: row?.sessionId })).toEqual({
      ok: true,
      key: "agent:main:main",
      agentId: "main",
    });
    expect(await ok(c, "sessions.resolve", { key: "agent:main:nope", allowMissing: true })).toEqual({
      ok: false,
    });
    const preview = await ok(c, "sessions.preview", {
      keys: ["agent:main:main", "agent:main:nope"],
      limit: 5,
    });
    expect(preview.previews).toEqual([
      {
        key: "agent:main:main",
        status: "ok",
        items: [
          { role: "user", text: "what is the plan" },
          { role: "assistant", text: expect.stringContaining("You said: what is the plan.") },
        ],
      },
      { key: "agent:main:nope", status: "missing", items: [] },
    ]);
    const got = await ok(c, "sessions.get", { key: "agent:main:main" });
    expect((got.messages as { role: string }[]).map((m) => m.role)).toEqual(["user", "assistant"]);

    const models = await ok(c, "models.list", { view: "configured" });
    expect(models.models).toEqual([
      expect.objectContaining({ id: "sim", provider: "anthropic", tags: ["default"], available: true }),
      expect.objectContaining({ id: "sim-large", provider: "anthropic", available: true }),
    ]);
    const auth = await ok(c, "models.authStatus", {});
    expect(auth.providers).toEqual([
      {
        provider: "anthropic",
        authProvider: "anthropic",
        displayName: "Anthropic",
        status: "static",
        profiles: [],
      },
    ]);
    expect(JSON.stringify(auth)).not.toContain("sim-key");
  }, 60_000);

  test("create, patch label and model (later turns use it), changes go to subscribers only", async () => {
    await gateway();
    const watcher = await client();
    const bystander = await client();
    expect(await ok(watcher, "sessions.subscribe", {})).toEqual({ subscribed: true });
    const c = await client();

    const created = await ok(c, "sessions.create", { key: "agent:main:work", label: "Work" });
    expect(created).toMatchObject({ ok: true, key: "agent:main:work" });
    await waitFor(
      () =>
        watcher.events("sessions.changed").find((e) => (e.payload as { reason: string }).reason === "create"),
      {
        what: "sessions.changed create",
      },
    );
    const label = await fails(c, "sessions.create", { key: "agent:main:other", label: "Work" });
    expect(label.message).toContain('label "Work" is already used by agent:main:work');
    const patchLabel = await fails(c, "sessions.patch", { key: "agent:main:other", label: "Work" });
    expect(patchLabel.message).toContain('label "Work" is already used by agent:main:work');

    const patched = await ok(c, "sessions.patch", { key: "agent:main:work", model: "anthropic/sim-large" });
    expect(patched.entry).toMatchObject({
      label: "Work",
      model: "sim-large",
      modelOverrideSource: "session",
    });
    const before = sim.sim.requests.length;
    await turn(c, "agent:main:work", "use the big one", "p-1");
    const used = sim.sim.requests.slice(before).map((r) => r.model);
    expect(used).toEqual(["sim-large"]);
    expect(t.store.getRun("p-1")?.model).toEndWith("/sim-large");

    const unknownModel = await fails(c, "sessions.patch", { key: "agent:main:work", model: "gpt-9" });
    expect(unknownModel.message).toContain('unknown model "gpt-9"');
    expect(unknownModel.message).toContain("anthropic/sim-large");
    const unknownField = await fails(c, "sessions.patch", { key: "agent:main:work", thinkingLevel: "high" });
    expect(unknownField.message).toContain("thinkingLevel not supported");

    // Session messages: only to a connection subscribed to that session.
    await ok(watcher, "sessions.messages.subscribe", { key: "agent:main:work" });
    await turn(c, "agent:main:work", "second", "p-2");
    await waitFor(() => watcher.events("session.message").length >= 2, {
      what: "two session.message events",
    });
    const msgs = watcher.events("session.message").map((e) => e.payload as Record<string, unknown>);
    expect(msgs.map((m) => (m.message as { role: string }).role)).toEqual(["user", "assistant"]);
    expect(msgs[0]).toMatchObject({ sessionKey: "agent:main:work", runId: "p-2" });
    const first = msgs[0]?.message as { __openclaw?: { idempotencyKey?: string } } | undefined;
    expect(first?.__openclaw?.idempotencyKey).toBe("p-2");
    // The final chat event names the stored reply by the same id as its session.message (the
    // Control UI matches the two by it; without it the reply showed twice).
    const final = watcher
      .events("chat")
      .map((e) => e.payload as Record<string, unknown>)
      .find((p) => p.runId === "p-2" && p.state === "final");
    expect((final?.message as { __openclaw?: unknown } | undefined)?.__openclaw).toEqual({
      id: msgs[1]?.messageId,
    });
    expect(msgs[1]?.messageId).toBe(t.store.getRun("p-2")?.assistantMessageId as string);
    expect(bystander.events("session.message")).toEqual([]);
    expect(bystander.events("sessions.changed")).toEqual([]);
  }, 60_000);

  test("reset: a new empty transcript, the old one kept and still queued for sync", async () => {
    await gateway();
    const c = await client();
    await turn(c, "agent:main:main", "remember me", "r-1");
    const oldId = t.store.findSession("agent:main:main")?.id as string;
    const reset = await ok(c, "sessions.reset", { key: "agent:main:main", reason: "new" });
    expect(reset.sessionId).not.toBe(oldId);
    expect((await ok(c, "chat.history", { sessionKey: "agent:main:main" })).messages).toEqual([]);
    // The old transcript is still there and its entries still go out, under the key it had.
    expect(t.store.listMessages(oldId).map((m) => m.role)).toEqual(["user", "assistant"]);
    const pending = t.store.pendingOutbox(100);
    expect(pending.map((e) => (e.kind === "message" ? [e.sessionId, e.sessionKey] : e.kind))).toEqual([
      [oldId, "agent:main:main"],
      [oldId, "agent:main:main"],
    ]);
    await turn(c, "agent:main:main", "fresh start", "r-2");
    const history = (await ok(c, "chat.history", { sessionKey: "agent:main:main" })).messages as unknown[];
    expect(history).toHaveLength(2);
  }, 60_000);

  test("delete: gone locally, a session_tombstone is queued and the sync-v1 receiver accepts it", async () => {
    await gateway();
    const watcher = await client();
    await ok(watcher, "sessions.subscribe", {});
    const c = await client();
    await turn(c, "agent:main:scratch", "throwaway", "d-1");
    const id = t.store.findSession("agent:main:scratch")?.id as string;
    expect(await ok(c, "sessions.delete", { key: "agent:main:scratch" })).toEqual({
      ok: true,
      key: "agent:main:scratch",
      deleted: true,
      archived: [],
    });
    expect(await ok(c, "sessions.delete", { key: "agent:main:scratch" })).toMatchObject({ deleted: false });
    const keys = ((await ok(c, "sessions.list", {})).sessions as { key: string }[]).map((s) => s.key);
    expect(keys).not.toContain("agent:main:scratch");
    expect((await ok(c, "chat.history", { sessionKey: "agent:main:scratch" })).messages).toEqual([]);
    await waitFor(
      () =>
        watcher.events("sessions.changed").find((e) => (e.payload as { reason: string }).reason === "delete"),
      {
        what: "sessions.changed delete",
      },
    );

    const pending = t.store.pendingOutbox(100);
    const tomb = pending.find((e) => e.kind === "session_tombstone");
    expect(tomb).toBeDefined();
    const rx = await startSyncReceiver({ secret: "sync-secret-0123456789", userId: "u-1" });
    try {
      const r = await pushBatch(
        pending,
        {
          siteUrl: rx.url,
          userId: "u-1",
          machineId: null,
          secret: "sync-secret-0123456789",
          timeoutMs: 5000,
        },
        { fetch, now: Date.now },
      );
      expect(r.outcome).toMatchObject({ kind: "ok" });
      expect(rx.tombstones.get(id)).toMatchObject({
        kind: "session_tombstone",
        id: `tombstone:${id}`,
        sessionKey: "agent:main:scratch",
        sessionId: id,
      });
      expect(rx.store.size).toBe(2); // the session's messages went out before it
    } finally {
      await rx.stop();
    }
  }, 60_000);

  test("bad input: keys of another shape, subscription storms; others unaffected", async () => {
    await gateway();
    const c = await client();
    const other = await client();
    const agent = await fails(c, "chat.send", {
      sessionKey: "agent:ops:main",
      message: "hi",
      idempotencyKey: "b-1",
    });
    expect(agent.message).toContain('unknown agent "ops"');
    expect(t.store.getRun("b-1")).toBeNull();
    const noName = await fails(c, "sessions.create", { key: "agent:main:" });
    expect(noName.message).toContain("needs a session name");
    const control = await fails(c, "sessions.describe", { key: "bad\u0007key" });
    expect(control.message).toContain("printable characters");
    expect((await fails(c, "sessions.list", { agentId: "ops" })).message).toContain("one agent");

    for (let i = 0; i < 64; i++) await ok(c, "sessions.messages.subscribe", { key: `agent:main:s${i}` });
    const storm = await fails(c, "sessions.messages.subscribe", { key: "agent:main:s64" });
    expect(storm.message).toContain("limit 64");
    expect(storm.details).toMatchObject({ code: "SUBSCRIPTION_LIMIT" });
    await ok(c, "sessions.messages.unsubscribe", { key: "agent:main:s0" });
    await ok(c, "sessions.messages.subscribe", { key: "agent:main:s64" });
    // The other connection is unaffected and can still chat.
    expect((await turn(other, "agent:main:main", "still fine", "b-2")).state).toBe("final");
    expect(t.store.listSessions(100).map((s) => s.key)).toEqual(["agent:main:main"]);
  }, 60_000);
});
