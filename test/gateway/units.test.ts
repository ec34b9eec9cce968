/**
 * Pure pieces of the gateway, without a port: version negotiation, close reasons, the auth
 * limiter's sliding window (time injected), context building and history trimming, slow-consumer
 * handling over a fake socket, and the idempotency window of chat runs with an injected clock.
 */
import { describe, expect, test } from "bun:test";
import { statSync, utimesSync } from "node:fs";
import { join } from "node:path";
import { findToken } from "../../src/chat-client/main.ts";
import type { AiClient } from "../../src/gateway/ai-client.ts";
import { AuthRateLimiter, checkToken } from "../../src/gateway/auth.ts";
import { type ChatEventPayload, ChatRuns } from "../../src/gateway/chat.ts";
import { Connection } from "../../src/gateway/connection.ts";
import { buildContext, errorKindOf, historyPayload } from "../../src/gateway/context.ts";
import { closeReason, negotiateProtocol, parseRequestFrame } from "../../src/gateway/protocol.ts";
import type { StreamEvent } from "../../src/shared/chat-api.ts";
import { loadOrCreateToken } from "../../src/shared/gateway-token.ts";
import { createLogger, memoryDestination } from "../../src/shared/log.ts";
import { openStore, type StoredMessage } from "../../src/shared/store/index.ts";
import { tempDir, waitFor } from "../helpers/index.ts";

describe("protocol", () => {
  test("negotiation prefers 4, falls back to 3, else null", () => {
    expect(negotiateProtocol(3, 4)).toBe(4);
    expect(negotiateProtocol(4, 9)).toBe(4);
    expect(negotiateProtocol(1, 3)).toBe(3);
    expect(negotiateProtocol(5, 6)).toBeNull();
    expect(negotiateProtocol(4, 3)).toBeNull();
  });

  test("close reasons are cut to 120 bytes without splitting characters", () => {
    const r = closeReason("é".repeat(100));
    expect(Buffer.byteLength(r)).toBeLessThanOrEqual(120);
    expect(r).toBe("é".repeat(60));
    expect(closeReason("short")).toBe("short");
  });

  test("request frames: id reported when readable", () => {
    expect(parseRequestFrame('{"type":"req","id":"1","method":"m"}')).toEqual({
      ok: true,
      frame: { type: "req", id: "1", method: "m" },
    });
    expect(parseRequestFrame('{"type":"res","id":"7"}')).toMatchObject({ ok: false, id: "7" });
    expect(parseRequestFrame("nope")).toMatchObject({ ok: false, json: false });
    expect(parseRequestFrame('{"type":"req","id":"2","method":""}')).toMatchObject({ ok: false, id: "2" });
  });
});

describe("auth", () => {
  test("token from auth.token, auth.password, or bearer; constant-time compare", () => {
    expect(checkToken({ token: "secret-1" }, undefined, "secret-1")).toBe("ok");
    expect(checkToken({ password: "secret-1" }, undefined, "secret-1")).toBe("ok");
    expect(checkToken(undefined, "secret-1", "secret-1")).toBe("ok");
    expect(checkToken({ token: "" }, undefined, "secret-1")).toBe("missing");
    expect(checkToken(undefined, undefined, "secret-1")).toBe("missing");
    expect(checkToken({ token: "secret-2" }, "secret-1", "secret-1")).toBe("mismatch");
  });

  test("the limiter slides: 3 failures per 1000 ms", () => {
    let now = 0;
    const l = new AuthRateLimiter({ maxFailures: 3, windowMs: 1000, now: () => now });
    for (const t of [0, 100, 200]) {
      now = t;
      expect(l.retryAfterMs("a")).toBe(0);
      l.recordFailure("a");
    }
    now = 300;
    expect(l.retryAfterMs("a")).toBe(700);
    expect(l.retryAfterMs("b")).toBe(0);
    now = 1001;
    expect(l.retryAfterMs("a")).toBe(0); // the first failure left the window
    l.reset("a");
    expect(l.trackedAddresses).toBe(0);
  });

  test("the limiter forgets the oldest address beyond its capacity", () => {
    const l = new AuthRateLimiter({ maxFailures: 1, maxAddresses: 2 });
    l.recordFailure("a");
    l.recordFailure("b");
    l.recordFailure("c");
    expect(l.trackedAddresses).toBe(2);
    expect(l.retryAfterMs("a")).toBe(0);
    expect(l.retryAfterMs("c")).toBeGreaterThan(0);
  });
});

function msg(
  id: string,
  role: "user" | "assistant",
  text: string,
  at: number,
  runId: string | null = null,
  status: StoredMessage["status"] = null,
): StoredMessage {
  return {
    id,
    sessionId: "s",
    runId,
    role,
    content: text ? [{ type: "text", text }] : [],
    createdAt: at,
    model: null,
    usage: null,
    stopReason: status,
    status,
    error: status && status !== "final" ? { code: "x", message: "failed" } : null,
  };
}

describe("context", () => {
  test("queued users' messages are left out; earlier replies stored later are kept; own message last", () => {
    const h = [
      msg("u1", "user", "first", 1, "r1"),
      msg("u2", "user", "second", 2, "r2"),
      msg("u3", "user", "third", 3, "r3"),
      msg("a1", "assistant", "reply one", 4, "r1"),
    ];
    expect(buildContext(h, "u2", 1000)).toEqual([
      { role: "user", content: "first" },
      { role: "assistant", content: "reply one" },
      { role: "user", content: "second" },
    ]);
  });

  test("unanswered turns are left out, never merged; a retried turn's failed attempts are not sent (issue 11 finding 2)", () => {
    const h = [
      msg("u1", "user", "hello", 1, "r1"),
      msg("a1", "assistant", "", 2, "r1", "error"),
      msg("u2", "user", "hello", 3, "r2"),
      msg("a2", "assistant", "", 4, "r2", "interrupted"),
      msg("u3", "user", "hello", 5, "r3"),
      msg("a3", "assistant", "partial wor", 6, "r3", "aborted"),
      msg("u4", "user", "again", 7, "r4"),
    ];
    expect(buildContext(h, "u4", 1000)).toEqual([
      { role: "user", content: "hello" },
      { role: "assistant", content: "partial wor" },
      { role: "user", content: "again" },
    ]);
    // The client retries r1 (same idempotency key) after r4 was answered: r1's user message is sent
    // once, last; its own failed attempt is not in the context.
    const later = [...h, msg("a4", "assistant", "sure", 8, "r4")];
    expect(buildContext(later, "u1", 1000)).toEqual([
      { role: "user", content: "hello" },
      { role: "assistant", content: "partial wor" },
      { role: "user", content: "again" },
      { role: "assistant", content: "sure" },
      { role: "user", content: "hello" },
    ]);
  });

  test("the budget drops the oldest whole turns; the own message is kept even alone over budget", () => {
    const h = [
      msg("u1", "user", "aaaa", 1, "r1"),
      msg("a1", "assistant", "bbbb", 2, "r1"),
      msg("u2", "user", "cc", 3, "r2"),
      msg("a2", "assistant", "dd", 4, "r2"),
      msg("u3", "user", "ee", 5, "r3"),
    ];
    expect(buildContext(h, "u3", 1000)).toHaveLength(5);
    expect(buildContext(h, "u3", 7)).toEqual([
      { role: "user", content: "cc" },
      { role: "assistant", content: "dd" },
      { role: "user", content: "ee" },
    ]);
    expect(buildContext(h, "u3", 1)).toEqual([{ role: "user", content: "ee" }]);
  });

  test("history is trimmed oldest-first under the byte cap", () => {
    const h = Array.from({ length: 10 }, (_, i) =>
      msg(`m${i}`, i % 2 ? "assistant" : "user", "x".repeat(100), i),
    );
    const all = historyPayload(h, 1_000_000);
    expect(all).toHaveLength(10);
    const some = historyPayload(h, 800);
    expect(some.length).toBeLessThan(10);
    expect(some.at(-1)?.timestamp).toBe(9);
    expect(Buffer.byteLength(JSON.stringify(some))).toBeLessThanOrEqual(800);
  });

  test("error kinds from AI server codes", () => {
    expect(errorKindOf("rate_limited")).toBe("rate_limit");
    expect(errorKindOf("upstream_overloaded")).toBe("rate_limit");
    expect(errorKindOf("timeout")).toBe("timeout");
    expect(errorKindOf("context_length_exceeded")).toBe("context_length");
    expect(errorKindOf("refusal")).toBe("refusal");
    expect(errorKindOf("upstream_error", "boom")).toBe("unknown");
  });
});

describe("slow consumer (Connection over a fake socket)", () => {
  function fakeSocket() {
    const sock = {
      buffered: 0,
      sent: [] as string[],
      closed: null as { code?: number; reason?: string } | null,
      send(data: string) {
        sock.sent.push(data);
        return data.length;
      },
      close(code?: number, reason?: string) {
        sock.closed = { code, reason };
      },
      getBufferedAmount: () => sock.buffered,
    };
    return sock;
  }

  test("over maxBufferedBytes: ticks and deltas are dropped without a seq gap; anything else closes 1008", () => {
    const sock = fakeSocket();
    const conn = new Connection(sock, { connId: "c1", addr: "a", openedAt: 0, maxBufferedBytes: 100 });
    conn.state = "open";
    expect(conn.sendEvent("tick", '{"ts":1}', true)).toBe(true);
    sock.buffered = 101;
    expect(conn.sendEvent("tick", '{"ts":2}', true)).toBe(false);
    expect(conn.sendEvent("chat", '{"state":"delta"}', true)).toBe(false);
    expect(conn.droppedEvents).toBe(2);
    expect(sock.closed).toBeNull();
    sock.buffered = 0;
    expect(conn.sendEvent("chat", '{"state":"delta"}', true)).toBe(true);
    const seqs = sock.sent.map((s) => (JSON.parse(s) as { seq: number }).seq);
    expect(seqs).toEqual([1, 2]);
    sock.buffered = 101;
    expect(conn.sendEvent("chat", '{"state":"final"}')).toBe(false);
    expect(sock.closed).toEqual({ code: 1008, reason: "slow consumer" });
    expect(conn.closeCause).toBe("1008 slow consumer");
    expect(sock.sent).toHaveLength(2);
  });

  test("a response over the limit closes 1008 too", () => {
    const sock = fakeSocket();
    const conn = new Connection(sock, { connId: "c2", addr: "a", openedAt: 0, maxBufferedBytes: 10 });
    conn.state = "open";
    sock.buffered = 11;
    expect(conn.sendResponse({ type: "res", id: "1", ok: true, payload: {} })).toBe(false);
    expect(sock.closed).toEqual({ code: 1008, reason: "slow consumer" });
  });
});

describe("idempotency window (ChatRuns with an injected clock)", () => {
  test("same key: in_flight while running, the cached result after, still no second run after 5+ minutes", async () => {
    const dir = tempDir("pipbot-gw-idem-");
    const store = openStore(dir.path);
    let now = 1_000_000;
    let streams = 0;
    const gate = Promise.withResolvers<void>();
    const ai: AiClient = {
      async *stream() {
        streams++;
        yield { type: "start", data: { id: "x", provider: "anthropic", model: "m" } } as StreamEvent;
        await gate.promise;
        yield { type: "delta", data: { text: "hi" } } as StreamEvent;
        yield {
          type: "done",
          data: {
            message: { role: "assistant", content: [{ type: "text", text: "hi" }] },
            stopReason: "end_turn",
            usage: {
              inputTokens: 1,
              outputTokens: 1,
              cacheReadTokens: 0,
              cacheWriteTokens: 0,
              reasoningTokens: 0,
            },
          },
        } as StreamEvent;
      },
      health: async () => ({ ok: true, body: {} }),
    };
    const events: ChatEventPayload[] = [];
    const runs = new ChatRuns({
      store,
      ai,
      logger: createLogger({ proc: "gateway", destination: memoryDestination(), pretty: false }),
      emit: (p) => void events.push(p),
      deltaWindowMs: 10,
      contextBudgetChars: 1000,
      runTimeoutMs: 60_000,
      now: () => now,
    });
    try {
      const input = { sessionKey: "main", message: "hello", idempotencyKey: "k1" };
      expect(runs.send(input)).toEqual({ runId: "k1", status: "started" });
      now += 60_000;
      expect(runs.send(input)).toEqual({ runId: "k1", status: "in_flight" });
      gate.resolve();
      await waitFor(() => events.find((e) => e.state === "final"), { what: "final" });
      now += 4 * 60_000;
      expect(runs.send(input)).toEqual({ runId: "k1", status: "ok" });
      // Past the in-memory window the store still knows the key (the run id): no second run.
      now += 6 * 60_000;
      expect(runs.send(input)).toEqual({ runId: "k1", status: "ok" });
      expect(streams).toBe(1);
      expect(store.listMessages(store.findSession("main")?.id as string)).toHaveLength(2);
    } finally {
      await runs.shutdown();
      store.close();
      dir.cleanup();
    }
  });
});

describe("pipbot chat: where the token comes from", () => {
  test("--token, then the env, then $DATA_DIR/gateway-token, else the newest of ./data and ./data/demo", () => {
    const dir = tempDir("pipbot-chat-token-");
    const cwd = process.cwd();
    try {
      process.chdir(dir.path);
      expect(findToken(undefined, {})).toBeUndefined();
      const demo = loadOrCreateToken(join(".", "data", "demo")).token;
      expect(findToken(undefined, {})).toEqual({
        token: demo,
        source: join("data", "demo", "gateway-token"),
      });
      const local = loadOrCreateToken(join(".", "data")).token;
      // Both exist: the token of the gateway started last wins (each start touches its file).
      utimesSync(join("data", "demo", "gateway-token"), new Date(1_000_000), new Date(1_000_000));
      expect(findToken(undefined, {})?.token).toBe(local);
      utimesSync(join("data", "gateway-token"), new Date(2_000_000), new Date(2_000_000));
      loadOrCreateToken(join(".", "data", "demo")); // a demo gateway starts again (touches its file)
      expect(findToken(undefined, {})?.token).toBe(demo);
      utimesSync(join("data", "demo", "gateway-token"), new Date(1_000_000), new Date(1_000_000));
      expect(findToken(undefined, { DATA_DIR: "./data/demo" })?.token).toBe(demo);
      expect(findToken(undefined, { DATA_DIR: "./elsewhere" })).toBeUndefined();
      expect(findToken(undefined, { OPENCLAW_GATEWAY_TOKEN: "from-openclaw-env" })?.source).toBe(
        "OPENCLAW_GATEWAY_TOKEN",
      );
      expect(
        findToken(undefined, { CLAWDBOT_GATEWAY_TOKEN: "a-env-token", OPENCLAW_GATEWAY_TOKEN: "b" }),
      ).toEqual({ token: "a-env-token", source: "CLAWDBOT_GATEWAY_TOKEN" });
      expect(findToken("flag-token", { CLAWDBOT_GATEWAY_TOKEN: "a-env-token" })).toEqual({
        token: "flag-token",
        source: "--token",
      });
      // The file is reused, never rewritten, and kept private.
      expect(loadOrCreateToken(join(".", "data"))).toMatchObject({ token: local, created: false });
      expect(statSync(join("data", "gateway-token")).mode & 0o777).toBe(0o600);
    } finally {
      process.chdir(cwd);
      dir.cleanup();
    }
  });
});
