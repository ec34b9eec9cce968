/**
 * Chat runs over a real in-process gateway and a fake AI server that speaks the exact /chat SSE
 * contract: acks, streaming order, storage, idempotency, aborts, errors, ordering per session.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { historyPayload } from "../../src/gateway/stored-messages.ts";
import { waitFor } from "../helpers/index.ts";
import { gatewayHarness, type RawClient, validate } from "./helpers.ts";

const h = gatewayHarness();
const seen: RawClient[] = [];

async function setup(settings = {}) {
  const t = await h.start({ settings });
  const c = await h.connect();
  seen.push(c);
  return { t, c, ai: h.ai };
}

// Every chat event any test received is valid per the published protocol-4 schema (no extra keys).
afterEach(() => {
  for (const c of seen.splice(0)) {
    for (const ev of c.events("chat")) expect(validate("ChatEvent", ev.payload)).toBeNull();
    for (const f of c.frames.filter((f) => f.type === "res")) expect(validate("ResponseFrame", f)).toBeNull();
  }
});

function text(p: Record<string, unknown>): string {
  const m = p.message as { content: { text: string }[] } | undefined;
  return m ? m.content.map((b) => b.text).join("") : "";
}

describe("chat.send", () => {
  test("acks with started, streams deltas in order, ends with one final, stores both messages", async () => {
    const { t, c, ai } = await setup();
    const res = await c.call("chat.send", {
      sessionKey: "main",
      message: "hello there",
      idempotencyKey: "run-1",
    });
    expect(res.ok).toBe(true);
    expect(res.payload).toEqual({ runId: "run-1", status: "started" });
    const fin = await c.terminal("run-1");
    expect(fin.state).toBe("final");
    const events = c.chat("run-1");
    const deltas = events.filter((p) => p.state === "delta");
    expect(deltas.length).toBeGreaterThan(0);
    // Cumulative message = concatenation of deltaTexts; seq strictly increasing per run.
    let acc = "";
    for (const d of deltas) {
      acc += d.deltaText as string;
      expect(text(d)).toBe(acc);
    }
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
    expect(events.filter((p) => ["final", "error", "aborted"].includes(p.state as string))).toHaveLength(1);
    expect(text(fin)).toBe("You said: hello there. w1 w2 w3 w4 w5");
    expect(fin.stopReason).toBe("end_turn");
    expect(fin.usage).toMatchObject({ input: 3, output: 6 });
    expect(fin.sessionKey).toBe("main");
    // Connection-level seq never skips.
    const seqs = c
      .events()
      .filter((f) => f.event !== "connect.challenge")
      .map((f) => f.seq as number);
    expect(seqs).toEqual(seqs.map((_, i) => i + 1));

    const h = await c.call("chat.history", { sessionKey: "agent:main:main" });
    const msgs = (h.payload as { messages: Record<string, unknown>[] }).messages;
    expect(msgs.map((m) => m.role)).toEqual(["user", "assistant"]);
    expect(msgs[0]?.content).toEqual([{ type: "text", text: "hello there" }]);
    expect(msgs[1]?.content).toEqual([{ type: "text", text: "You said: hello there. w1 w2 w3 w4 w5" }]);
    expect(msgs[1]).toMatchObject({ model: "anthropic/fake", stopReason: "end_turn" });
    expect((h.payload as { sessionKey: string }).sessionKey).toBe("agent:main:main");
    const run = t.store.getRun("run-1");
    expect(run?.state).toBe("final");
    // The run was sent the history with the new user message last.
    expect(ai.requests.at(-1)?.body.messages.at(-1)).toEqual({ role: "user", content: "hello there" });
    expect(ai.requests.at(-1)?.body.metadata?.conversationId).toBe(run?.sessionId as string);
    // One wide log line per turn.
    const turn = t.logs.records().find((r) => r.msg === "chat turn" && r.runId === "run-1");
    expect(turn).toMatchObject({ outcome: "final", model: "anthropic/fake", chars: 37 });
    expect(typeof turn?.ttftMs).toBe("number");
  });

  test("the user message is stored before the ack", async () => {
    const { t, c } = await setup();
    const id = c.req("chat.send", {
      sessionKey: "s-ack",
      message: "[slow] stored first",
      idempotencyKey: "ack-1",
    });
    await c.response(id);
    const s = t.store.findSession("s-ack");
    expect(s).not.toBeNull();
    expect(t.store.listMessages(s?.id as string).map((m) => m.role)).toContain("user");
    await c.call("chat.abort", { sessionKey: "s-ack" });
    await c.terminal("ack-1");
  });

  test("a duplicate idempotency key is in_flight while running and the cached result after, never a second run", async () => {
    const { t, c, ai } = await setup();
    await c.call("chat.send", { sessionKey: "main", message: "[slow] dup", idempotencyKey: "dup-1" });
    // The ack comes before the run reaches the AI server: count from once it has (else its request
    // could land after `before` and look like a second run).
    await waitFor(() => ai.requests.some((r) => r.body.messages.at(-1)?.content === "[slow] dup"), {
      what: "dup-1's request at the AI server",
    });
    const before = ai.requests.length;
    const again = await c.chatSend("main", "[slow] dup", "dup-1");
    expect(again.payload).toEqual({ runId: "dup-1", status: "in_flight" });
    await c.call("chat.abort", { sessionKey: "main", runId: "dup-1" });
    await c.terminal("dup-1");
    const third = await c.chatSend("main", "[slow] dup", "dup-1");
    expect(third.payload).toEqual({ runId: "dup-1", status: "aborted" });
    const r2 = await c.call("chat.send", { sessionKey: "main", message: "ok", idempotencyKey: "dup-2" });
    expect(r2.payload).toEqual({ runId: "dup-2", status: "started" });
    await c.terminal("dup-2");
    const r3 = await c.call("chat.send", { sessionKey: "main", message: "ok", idempotencyKey: "dup-2" });
    expect(r3.payload).toEqual({ runId: "dup-2", status: "ok" });
    expect(ai.requests.length - before).toBe(1);
    const userMsgs = t.store
      .listMessages(t.store.findSession("main")?.id as string)
      .filter((m) => m.role === "user");
    expect(userMsgs).toHaveLength(2);
  });

  test("chat.abort mid-stream: aborted event, partial text stored, upstream request cancelled", async () => {
    const { t, c, ai } = await setup();
    await c.call("chat.send", { sessionKey: "main", message: "[slow] abort me", idempotencyKey: "ab-1" });
    await waitFor(() => c.chat("ab-1").filter((p) => p.state === "delta").length >= 3, {
      what: "some deltas",
    });
    const res = await c.call("chat.abort", { sessionKey: "main", runId: "ab-1" });
    expect(res.payload).toEqual({ ok: true, aborted: true, runIds: ["ab-1"] });
    const end = await c.terminal("ab-1");
    expect(end.state).toBe("aborted");
    expect(end.stopReason).toBe("rpc");
    expect(c.chat("ab-1").some((p) => p.state === "final")).toBe(false);
    const run = t.store.getRun("ab-1");
    expect(run?.state).toBe("aborted");
    expect(run?.partialText.startsWith("You said: [slow] abort me.")).toBe(true);
    const msgs = t.store.listMessages(run?.sessionId as string);
    expect(msgs.at(-1)?.role).toBe("assistant");
    expect(msgs.at(-1)?.status).toBe("aborted");
    await waitFor(() => ai.requests.at(-1)?.aborted, { what: "upstream request aborted" });
  });

  test("/stop aborts the session's runs with stopReason stop", async () => {
    const { c } = await setup();
    await c.call("chat.send", { sessionKey: "main", message: "[hold] long", idempotencyKey: "st-1" });
    await waitFor(() => c.chat("st-1").length > 0, { what: "first delta" });
    const res = await c.call("chat.send", { sessionKey: "main", message: "/stop", idempotencyKey: "st-2" });
    expect(res.payload).toEqual({ ok: true, aborted: true, runIds: ["st-1"] });
    const end = await c.terminal("st-1");
    expect(end).toMatchObject({ state: "aborted", stopReason: "stop" });
  });

  test("chat.abort with a runId of another session is rejected", async () => {
    const { c } = await setup();
    await c.call("chat.send", { sessionKey: "s1", message: "[hold] x", idempotencyKey: "other-1" });
    const res = await c.call("chat.abort", { sessionKey: "s2", runId: "other-1" });
    expect(res.ok).toBe(false);
    expect(res.error).toMatchObject({ code: "INVALID_REQUEST", message: "runId does not match sessionKey" });
    const none = await c.call("chat.abort", { sessionKey: "nobody" });
    expect(none.payload).toEqual({ ok: true, aborted: false, runIds: [] });
    await c.call("chat.abort", { sessionKey: "s1" });
    await c.terminal("other-1");
  });

  test("an in-stream error ends as error (not final) with errorKind, partial kept", async () => {
    const { t, c } = await setup();
    await c.call("chat.send", { sessionKey: "main", message: "[error_after:3] go", idempotencyKey: "er-1" });
    const end = await c.terminal("er-1");
    expect(end.state).toBe("error");
    expect(end.errorMessage).toBe("provider failed mid-stream");
    expect(end.errorKind).toBe("unknown");
    expect(c.chat("er-1").some((p) => p.state === "final")).toBe(false);
    const run = t.store.getRun("er-1");
    expect(run?.state).toBe("error");
    expect(run?.errorMessage).toBe("provider failed mid-stream");
  });

  test("a cut connection ends as error; HTTP errors map to errorKind", async () => {
    const { c } = await setup();
    await c.call("chat.send", { sessionKey: "main", message: "[cut_after:2] go", idempotencyKey: "cut-1" });
    expect((await c.terminal("cut-1")).state).toBe("error");
    await c.call("chat.send", { sessionKey: "main", message: "[ratelimit]", idempotencyKey: "rl-1" });
    expect(await c.terminal("rl-1")).toMatchObject({
      state: "error",
      errorKind: "rate_limit",
      errorMessage: "slow down",
    });
    await c.call("chat.send", { sessionKey: "main", message: "[http500]", idempotencyKey: "h5-1" });
    expect(await c.terminal("h5-1")).toMatchObject({ state: "error", errorMessage: "boom" });
  });

  test("every accepted send ends visibly in chat.history after a reload: final, error (with and without text), aborted, interrupted", async () => {
    // Issue 11 finding 1: a run that failed before any text left no trace in history, and a run that
    // failed after partial text looked complete.
    const { t, c } = await setup();
    const send = async (message: string, key: string) => {
      await c.call("chat.send", { sessionKey: "main", message, idempotencyKey: key });
      return c.terminal(key);
    };
    expect((await send("fine", "v-final")).state).toBe("final");
    expect((await send("[http500] no text", "v-err0")).state).toBe("error");
    expect((await send("[error_after:2] some text", "v-err1")).state).toBe("error");
    await c.call("chat.send", { sessionKey: "main", message: "[slow] stop me", idempotencyKey: "v-ab" });
    await waitFor(() => c.chat("v-ab").some((p) => p.state === "delta"), { what: "a delta of v-ab" }).catch(
      (e) => {
        console.log(
          JSON.stringify(h.ai.requests.map((r) => r.body.messages)),
          JSON.stringify(c.chat("v-ab")),
        );
        throw e;
      },
    );
    await c.call("chat.abort", { sessionKey: "main", runId: "v-ab" });
    expect((await c.terminal("v-ab")).state).toBe("aborted");
    // A reload: a new connection reads the history.
    const c2 = await h.connect();
    seen.push(c2);
    type Wire = {
      role: string;
      content: { type: string; text: string }[];
      stopReason?: string;
      errorMessage?: string;
      errorKind?: string;
    };
    const history = async () =>
      ((await c2.call("chat.history", { sessionKey: "main" })).payload as { messages: Wire[] }).messages;
    const msgs = await history();
    const replies = msgs.filter((m) => m.role === "assistant");
    expect(msgs.map((m) => m.role)).toEqual(Array(4).fill(["user", "assistant"]).flat());
    expect(replies.map((m) => m.stopReason)).toEqual(["end_turn", "error", "error", "aborted"]);
    expect(replies[0]?.errorMessage).toBeUndefined();
    // No text: the notice is the only block. Partial text: kept, then the notice (always last).
    expect(replies[1]?.content).toEqual([{ type: "text", text: "⚠ Reply failed: boom" }]);
    expect(replies[1]).toMatchObject({ errorMessage: "boom", errorKind: "unknown" });
    expect(replies[2]?.content[0]?.text).toBe("You said: [error_after:2] some text. w1");
    expect(replies[2]?.content.at(-1)?.text).toBe("⚠ Reply failed: provider failed mid-stream");
    expect(replies[3]?.content[0]?.text).toStartWith("You said: [slow] stop me.");
    expect(replies[3]?.content.at(-1)?.text).toBe("⏹ Stopped by the user.");

    // Interrupted: the gateway stops mid-reply (graceful); the run is stored as interrupted.
    await c.call("chat.send", {
      sessionKey: "main",
      message: "[slow] cut by a stop",
      idempotencyKey: "v-int",
    });
    await waitFor(() => c.chat("v-int").some((p) => p.state === "delta"), { what: "a delta of v-int" });
    await t.gw.stop();
    expect((await c.terminal("v-int")).state).toBe("error");
    expect(t.store.getRun("v-int")?.state).toBe("interrupted");
    const last = historyPayload(t.store.listMessages(t.store.findSession("main")?.id as string), 1e6).at(-1);
    expect(last?.stopReason).toBe("interrupted");
    expect(last?.content[0]?.text).toStartWith("You said: [slow] cut by a stop.");
    expect(last?.content.at(-1)?.text).toBe(
      "⚠ Reply interrupted: The gateway restarted before the reply was complete. Send the message again.",
    );
  }, 20_000);

  test("a failed turn is never merged into the next prompt; a retry with the same key sends it again, once (issue 11 finding 2)", async () => {
    const { t, c, ai } = await setup();
    const before = ai.requests.length;
    await c.call("chat.send", { sessionKey: "main", message: "[fail_first] hello", idempotencyKey: "f2-a" });
    expect((await c.terminal("f2-a")).state).toBe("error");
    await c.call("chat.send", { sessionKey: "main", message: "next", idempotencyKey: "f2-b" });
    expect((await c.terminal("f2-b")).state).toBe("final");
    // The unanswered turn is left out, not merged into "next".
    expect(ai.requests[before + 1]?.body.messages).toEqual([{ role: "user", content: "next" }]);
    // The client retries the failed turn with its key: it runs again, with the stored message once, last.
    const retry = await c.call("chat.send", {
      sessionKey: "main",
      message: "[fail_first] hello",
      idempotencyKey: "f2-a",
    });
    expect(retry.payload).toEqual({ runId: "f2-a", status: "started" });
    await waitFor(() => c.chat("f2-a").find((p) => p.state === "final"), { what: "the retry's final" });
    expect(ai.requests[before + 2]?.body.messages).toEqual([
      { role: "user", content: "next" },
      { role: "assistant", content: "You said: next. w1 w2 w3 w4 w5" },
      { role: "user", content: "[fail_first] hello" },
    ]);
    expect(t.store.getRun("f2-a")).toMatchObject({ state: "final", attempts: 2 });
    // Once answered, the key is a plain duplicate again: no third run.
    expect((await c.chat("f2-a").length) > 0).toBe(true);
    expect(
      (await c.call("chat.send", { sessionKey: "main", message: "x", idempotencyKey: "f2-a" })).payload,
    ).toEqual({ runId: "f2-a", status: "ok" });
    expect(ai.requests.length - before).toBe(3);
    // History: each user message once; the failed attempt stays visible before its retry's reply.
    const hist = (await c.call("chat.history", { sessionKey: "main" })).payload as {
      messages: { role: string; stopReason?: string }[];
    };
    expect(hist.messages.map((m) => `${m.role}:${m.stopReason ?? ""}`)).toEqual([
      "user:",
      "assistant:error",
      "user:",
      "assistant:end_turn",
      "assistant:end_turn",
    ]);
    // A retry under another session's key is refused.
    await c.call("chat.send", { sessionKey: "main", message: "[http500] z", idempotencyKey: "f2-c" });
    await c.terminal("f2-c");
    const other = await c.call("chat.send", { sessionKey: "other", message: "z", idempotencyKey: "f2-c" });
    expect(other.ok).toBe(false);
  });

  test("runs of one session are serialised in arrival order; other sessions run concurrently", async () => {
    const { c, ai } = await setup();
    // o-1 is held after its first delta until the test lets it go: no timing involved.
    await c.call("chat.send", { sessionKey: "a", message: "[hold] first", idempotencyKey: "o-1" });
    await c.call("chat.send", { sessionKey: "a", message: "second", idempotencyKey: "o-2" });
    await c.call("chat.send", { sessionKey: "b", message: "other session", idempotencyKey: "o-3" });
    await waitFor(() => c.chat("o-1").length > 0, { what: "o-1 streaming" });
    // b runs to its end while a's first run is still going; a's second has not started.
    await c.terminal("o-3");
    expect(c.chat("o-1").some((p) => p.state === "final")).toBe(false);
    expect(c.chat("o-2")).toHaveLength(0);
    expect(ai.requests.some((r) => r.body.messages.at(-1)?.content === "second")).toBe(false);
    await c.call("chat.abort", { sessionKey: "a", runId: "o-1" });
    await c.terminal("o-2");
    // The second run saw the first run's (partial) reply in its context, and not itself twice.
    const sent = ai.requests.find((r) => r.body.messages.at(-1)?.content === "second");
    expect(sent?.body.messages.map((m) => m.role)).toEqual(["user", "assistant", "user"]);
  });

  test("context budget drops the oldest messages first", async () => {
    const { c, ai } = await setup({ GATEWAY_CONTEXT_BUDGET_CHARS: 20 });
    await c.call("chat.send", { sessionKey: "main", message: "one", idempotencyKey: "cb-1" });
    await c.terminal("cb-1");
    await c.call("chat.send", { sessionKey: "main", message: "two", idempotencyKey: "cb-2" });
    await c.terminal("cb-2");
    const sent = ai.requests.at(-1)?.body.messages ?? [];
    expect(sent.at(-1)).toEqual({ role: "user", content: "two" });
    expect(sent.some((m) => m.content === "one")).toBe(false);
    expect(sent).toEqual([{ role: "user", content: "two" }]);
  });

  test("two clients see the same chat events", async () => {
    const { c } = await setup();
    const d = await h.connect({ minProtocol: 3, maxProtocol: 3 });
    await c.call("chat.send", { sessionKey: "main", message: "shared", idempotencyKey: "two-1" });
    await c.terminal("two-1");
    await d.terminal("two-1");
    const strip = (ps: Record<string, unknown>[]) => ps.map(({ message: _m, ...rest }) => rest);
    expect(strip(d.chat("two-1"))).toEqual(strip(c.chat("two-1")));
    expect(text(d.chat("two-1").at(-1) as Record<string, unknown>)).toBe(
      text(c.chat("two-1").at(-1) as Record<string, unknown>),
    );
  });

  test("bad chat params get INVALID_REQUEST and nothing is stored", async () => {
    const { t, c } = await setup();
    const empty = await c.call("chat.send", { sessionKey: "main", message: "   ", idempotencyKey: "e-1" });
    expect(empty.error).toMatchObject({ code: "INVALID_REQUEST", message: "message or attachment required" });
    const wrong = await c.call("chat.send", { sessionKey: "main", message: 42, idempotencyKey: "e-2" });
    expect(wrong.error).toMatchObject({ code: "INVALID_REQUEST" });
    expect((wrong.error as { message: string }).message).toStartWith("invalid chat.send params: message");
    const noKey = await c.call("chat.send", { sessionKey: "main", message: "x" });
    expect(noKey.ok).toBe(false);
    const hist = await c.call("chat.history", { sessionKey: "main", limit: 5000 });
    expect(hist.error).toMatchObject({ code: "INVALID_REQUEST" });
    expect(t.store.findSession("main")).toBeNull();
    const unknown = await c.call("chat.history", { sessionKey: "never-used" });
    expect(unknown.payload).toMatchObject({ sessionKey: "never-used", messages: [] });
  });
});

describe("streaming and storage details", () => {
  test("the first delta goes out at once; later ones are coalesced within the window", async () => {
    // A window far longer than any test: only the first delta may be sent before the stream ends.
    const { c, ai } = await setup({ GATEWAY_DELTA_WINDOW_MS: 600_000 });
    await c.chatSend("main", "[hold] first", "co-1");
    // The upstream is stalled after its first chunk: this delta cannot have waited for more text
    // or for the window.
    const first = await waitFor(() => c.chat("co-1").find((p) => p.state === "delta"), {
      what: "the first delta while the upstream is held",
    });
    expect(first.deltaText).toBe("You said: [hold] first.");
    expect(c.chat("co-1")).toHaveLength(1);
    ai.release();
    const fin = await c.terminal("co-1");
    expect(fin.state).toBe("final");
    const deltas = c.chat("co-1").filter((p) => p.state === "delta");
    // The five later chunks arrived within the window: one coalesced delta, flushed before final.
    expect(deltas.map((d) => d.deltaText)).toEqual(["You said: [hold] first.", " w1 w2 w3 w4 w5"]);
    expect(text(deltas[1] as Record<string, unknown>)).toBe("You said: [hold] first. w1 w2 w3 w4 w5");
    expect(c.chat("co-1").map((p) => p.state)).toEqual(["delta", "delta", "final"]);
  });

  test("the AI server gets Authorization: Bearer AI_SERVER_TOKEN when it is set, nothing otherwise", async () => {
    const { c, ai } = await setup({ AI_SERVER_TOKEN: "ai-server-token-0123456789" });
    await c.chatSend("main", "with bearer", "bt-1");
    await c.terminal("bt-1");
    const withToken = ai.requests.find((r) => r.body.messages.at(-1)?.content === "with bearer");
    expect(withToken?.headers.get("authorization")).toBe("Bearer ai-server-token-0123456789");
    const { c: c2 } = await setup();
    await c2.chatSend("main", "without bearer", "bt-2");
    await c2.terminal("bt-2");
    const without = ai.requests.find((r) => r.body.messages.at(-1)?.content === "without bearer");
    expect(without?.headers.get("authorization")).toBeNull();
  });

  test("with CLERK_USER_ID + PIPBOT_SERVICE_TOKEN every chat carries the VM's identity headers", async () => {
    const { c, ai } = await setup({
      AI_SERVER_TOKEN: "ai-server-token-0123456789",
      CLERK_USER_ID: "user_vm_a",
      PIPBOT_SERVICE_TOKEN: "vm-a-service-token-0123",
    });
    await c.chatSend("main", "with identity", "id-1");
    await c.terminal("id-1");
    const sent = ai.requests.find((r) => r.body.messages.at(-1)?.content === "with identity");
    expect(sent?.headers.get("x-pipbot-user-id")).toBe("user_vm_a");
    expect(sent?.headers.get("x-pipbot-service-token")).toBe("vm-a-service-token-0123");
    expect(sent?.headers.get("authorization")).toBe("Bearer ai-server-token-0123456789");
    const { c: c2 } = await setup();
    await c2.chatSend("main", "without identity", "id-2");
    await c2.terminal("id-2");
    const without = ai.requests.find((r) => r.body.messages.at(-1)?.content === "without identity");
    expect(without?.headers.get("x-pipbot-user-id")).toBeNull();
    expect(without?.headers.get("x-pipbot-service-token")).toBeNull();
  });

  test("every stored message, user and assistant, has its outbox entry", async () => {
    const { t, c } = await setup();
    await c.chatSend("main", "one", "ob-1");
    await c.chatSend("main", "[error_after:2] two", "ob-2");
    await c.chatSend("other", "[slow] three", "ob-3");
    await c.terminal("ob-1");
    await c.terminal("ob-2");
    await waitFor(() => c.chat("ob-3").length > 0, { what: "a delta of ob-3" });
    await c.call("chat.abort", { sessionKey: "other" });
    await c.terminal("ob-3");
    const rows = t.store.db
      .query(
        "SELECT m.role, m.status, o.seq FROM messages m LEFT JOIN outbox o ON o.message_id = m.id ORDER BY m.rowid",
      )
      .all() as { role: string; status: string | null; seq: number | null }[];
    expect(rows.map((r) => `${r.role}:${r.status}`).sort()).toEqual([
      "assistant:aborted",
      "assistant:error",
      "assistant:final",
      "user:null",
      "user:null",
      "user:null",
    ]);
    expect(rows.every((r) => typeof r.seq === "number")).toBe(true);
  });

  test("a message whose outbox entry cannot be written is not stored: no ack, and no final", async () => {
    const { t, c } = await setup();
    // Make the outbox refuse one message: the whole transaction must roll back.
    t.store.db.exec(`CREATE TRIGGER refuse_user BEFORE INSERT ON outbox
      WHEN (SELECT content FROM messages WHERE id = NEW.message_id) LIKE '%refuse me%'
      BEGIN SELECT RAISE(ABORT, 'outbox refused'); END`);
    const res = await c.chatSend("main", "refuse me", "tx-1");
    expect(res.ok).toBe(false);
    expect(res.error).toMatchObject({ code: "UNAVAILABLE", retryable: true });
    expect(t.store.getRun("tx-1")).toBeNull();
    expect(t.store.db.query("SELECT COUNT(*) AS n FROM messages").get()).toEqual({ n: 0 });

    // Now refuse the assistant reply of a run: its end is not stored, so the clients get `error`
    // (never a `final` that chat.history would not show), and the user message stays.
    t.store.db.exec(`CREATE TRIGGER refuse_reply BEFORE INSERT ON outbox
      WHEN (SELECT role FROM messages WHERE id = NEW.message_id) = 'assistant'
      BEGIN SELECT RAISE(ABORT, 'outbox refused'); END`);
    expect((await c.chatSend("main", "store my reply", "tx-2")).ok).toBe(true);
    const end = await c.terminal("tx-2");
    expect(end.state).toBe("error");
    expect(end.errorMessage).toBe("the reply could not be stored (store unavailable)");
    expect(c.chat("tx-2").some((p) => p.state === "final")).toBe(false);
    const msgs = t.store.listMessages(t.store.findSession("main")?.id as string);
    expect(msgs.map((m) => m.role)).toEqual(["user"]);
    expect(t.store.db.query("SELECT COUNT(*) AS n FROM outbox").get()).toEqual({ n: 1 });
    // The run is left for the next start to close as interrupted.
    expect(t.store.getRun("tx-2")?.state).toBe("running");
  });

  test("many concurrent runs over several sessions, some aborted: exactly one terminal event each", async () => {
    const { t, c, ai } = await setup();
    const ids = Array.from({ length: 40 }, (_, i) => `mc-${i}`);
    await Promise.all(
      ids.map((id, i) =>
        c.chatSend(
          `s${i % 8}`,
          i % 5 === 0 ? `[slow] ${id}` : i % 7 === 0 ? `[error_after:1] ${id}` : id,
          id,
        ),
      ),
    );
    for (let s = 0; s < 8; s += 3) await c.call("chat.abort", { sessionKey: `s${s}` });
    await Promise.all(ids.map((id) => c.terminal(id, 60_000)));
    for (const id of ids) {
      const ends = c.chat(id).filter((p) => ["final", "error", "aborted"].includes(p.state as string));
      expect(ends).toHaveLength(1);
      expect(c.chat(id).at(-1)).toBe(ends[0] as Record<string, unknown>);
      expect(t.store.getRun(id)?.state as string).toBe(ends[0]?.state as string);
    }
    expect(t.gw.stats().activeRuns).toBe(0);
    expect(ai.requests.length).toBeGreaterThan(0);
  }, 60_000); // 40 runs: ~4.5 s alone, more on a loaded machine (bun test's default is 5 s)
});

test("a run longer than its timeoutMs ends as error with errorKind timeout, partial kept", async () => {
  const { t, c } = await setup();
  const res = await c.call("chat.send", {
    sessionKey: "main",
    message: "[hold] never finishes",
    idempotencyKey: "to-1",
    timeoutMs: 300,
  });
  expect(res.ok).toBe(true);
  const end = await c.terminal("to-1");
  expect(end).toMatchObject({ state: "error", errorKind: "timeout" });
  expect(end.errorMessage as string).toContain("300 ms");
  expect(t.store.getRun("to-1")).toMatchObject({ state: "error", errorKind: "timeout" });
  expect(t.store.getRun("to-1")?.partialText).toBe("You said: [hold] never finishes.");
});
