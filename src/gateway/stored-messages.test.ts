/** Context building and history trimming for the AI server and chat.history. */
import { describe, expect, test } from "bun:test";
import type { StoredMessage } from "../shared/store/index.ts";
import { buildContext, errorKindOf, historyPayload } from "./stored-messages.ts";

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
