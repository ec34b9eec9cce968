/**
 * Pure pieces of the gateway, without a port: version negotiation, close reasons, the auth
 * limiter's sliding window (time injected), context building and history trimming.
 */
import { describe, expect, test } from "bun:test";
import { AuthRateLimiter, checkToken } from "../../src/gateway/auth.ts";
import { buildContext, errorKindOf, historyPayload } from "../../src/gateway/context.ts";
import { closeReason, negotiateProtocol, parseRequestFrame } from "../../src/gateway/protocol.ts";
import type { StoredMessage } from "../../src/shared/store/index.ts";

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

function msg(id: string, role: "user" | "assistant", text: string, at: number): StoredMessage {
  return {
    id,
    sessionId: "s",
    runId: null,
    role,
    content: [{ type: "text", text }],
    createdAt: at,
    model: null,
    usage: null,
    stopReason: null,
    status: null,
  };
}

describe("context", () => {
  test("queued users' messages are left out; earlier replies stored later are kept; own message last", () => {
    const h = [
      msg("u1", "user", "first", 1),
      msg("u2", "user", "second", 2),
      msg("u3", "user", "third", 3),
      msg("a1", "assistant", "reply one", 4),
    ];
    expect(buildContext(h, "u2", 1000)).toEqual([
      { role: "user", content: "first" },
      { role: "assistant", content: "reply one" },
      { role: "user", content: "second" },
    ]);
  });

  test("same-role neighbours merge; the budget drops the oldest; the result starts with a user turn", () => {
    const h = [
      msg("u1", "user", "aaaa", 1),
      msg("a1", "assistant", "bbbb", 2),
      msg("u2", "user", "cc", 3),
      msg("u3", "user", "dd", 4),
    ];
    expect(buildContext(h, "u3", 1000).at(-1)).toEqual({ role: "user", content: "cc\n\ndd" });
    expect(buildContext(h, "u3", 10)).toEqual([{ role: "user", content: "cc\n\ndd" }]);
    // The newest message is kept even when it alone is over budget.
    expect(buildContext(h, "u3", 1)).toEqual([{ role: "user", content: "cc\n\ndd" }]);
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
