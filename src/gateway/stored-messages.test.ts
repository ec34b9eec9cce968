/** Context building and history trimming for the AI server and chat.history. */
import { describe, expect, test } from "bun:test";
import type { StoredMessage } from "../shared/store/index.ts";
import { buildContext, errorKindOf, historyPayload } from "./stored-messages.ts";

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
