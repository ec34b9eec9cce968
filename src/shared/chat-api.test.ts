import { describe, expect, test } from "bun:test";
import { chatRequestSchema, contentText } from "./chat-api.ts";
import { parseStreamEvent } from "./chat-stream.ts";

const ok = (body: unknown) => chatRequestSchema.safeParse(body).success;

describe("/chat request schema", () => {
  test("string content and text blocks stay valid", () => {
    expect(ok({ messages: [{ role: "user", content: "hi" }] })).toBe(true);
    expect(ok({ messages: [{ role: "user", content: [{ type: "text", text: "hi" }] }] })).toBe(true);
  });

  test("content parts per role", () => {
    const user = [
      { type: "text", text: "look", cache_control: { type: "ephemeral" } },
      { type: "image", mimeType: "image/png", data: "iVBORw0KGgo=" },
      { type: "image", url: "https://example.com/cat.jpg" },
      { type: "document", mimeType: "application/pdf", data: "JVBERi0=", fileName: "a.pdf" },
      { type: "tool_result", toolCallId: "call_1", content: "42" },
    ];
    const assistant = [
      { type: "reasoning", text: "thinking", signature: "sig" },
      { type: "text", text: "calling" },
      { type: "tool_call", id: "call_1", name: "add", input: { a: 1 } },
    ];
    expect(
      ok({
        messages: [
          { role: "user", content: user },
          { role: "assistant", content: assistant },
        ],
        tools: [{ name: "add", parameters: { type: "object" } }],
        tool_choice: { type: "tool", name: "add" },
        response_format: { type: "json_schema", name: "x", schema: { type: "object" }, strict: true },
        reasoning: { effort: "low" },
        cache: "auto",
        system: [{ type: "text", text: "sys", cache_control: { type: "ephemeral" } }],
      }),
    ).toBe(true);
  });

  test("parts in the wrong role, two sources or none, unknown types are refused", () => {
    expect(
      ok({ messages: [{ role: "user", content: [{ type: "tool_call", id: "a", name: "b", input: {} }] }] }),
    ).toBe(false);
    expect(
      ok({ messages: [{ role: "assistant", content: [{ type: "image", url: "https://x/y.png" }] }] }),
    ).toBe(false);
    expect(
      ok({
        messages: [
          { role: "user", content: [{ type: "image", mimeType: "image/png", data: "x", url: "https://x" }] },
        ],
      }),
    ).toBe(false);
    expect(ok({ messages: [{ role: "user", content: [{ type: "image", data: "x" }] }] })).toBe(false);
    expect(
      ok({ messages: [{ role: "user", content: [{ type: "image", mimeType: "image/bmp", data: "x" }] }] }),
    ).toBe(false);
    expect(ok({ messages: [{ role: "user", content: "x" }], cache: "always" })).toBe(false);
  });

  test("contentText joins text parts only; new stream events parse", () => {
    expect(
      contentText([
        { type: "reasoning", text: "hmm" },
        { type: "text", text: "a" },
        { type: "tool_call", id: "1", name: "f", input: {} },
        { type: "text", text: "b" },
      ]),
    ).toBe("ab");
    expect(
      parseStreamEvent("tool_call", JSON.stringify({ index: 0, id: "c", name: "f", input: { q: 1 } }))?.type,
    ).toBe("tool_call");
    expect(parseStreamEvent("reasoning", JSON.stringify({ text: "hm" }))?.type).toBe("reasoning");
    expect(parseStreamEvent("tool_call", JSON.stringify({ id: "c" }))).toBeNull();
  });
});
