/**
 * The usage proxy's meter on each provider's stream error frames (convex/lib/usageMeter.ts): the
 * frame's kind is kept so the row says why a 200 stream failed; ordinary frames never count as one.
 */
import { expect, test } from "bun:test";
import { UsageMeter } from "../../convex/lib/usageMeter.ts";

const sse = (frames: unknown[]) =>
  new TextEncoder().encode(frames.map((f) => `data: ${JSON.stringify(f)}\n\n`).join(""));

function meter(provider: "anthropic" | "openai" | "google", frames: unknown[]): UsageMeter {
  const m = new UsageMeter(provider, "text/event-stream; charset=utf-8");
  m.feed(sse(frames));
  m.end();
  return m;
}

test("error frames of each wire: Anthropic, OpenAI chat, OpenAI Responses, Gemini", () => {
  expect(
    meter("anthropic", [
      { type: "message_start", message: { model: "claude", usage: { input_tokens: 3, output_tokens: 1 } } },
      { type: "error", error: { type: "overloaded_error", message: "Overloaded" } },
    ]).streamError,
  ).toBe("overloaded_error");
  expect(
    meter("openai", [{ error: { message: "boom", type: "server_error", code: null } }]).streamError,
  ).toBe("server_error");
  expect(
    meter("openai", [
      { type: "error", code: "rate_limit_exceeded", message: "slow down", sequence_number: 3 },
    ]).streamError,
  ).toBe("rate_limit_exceeded");
  expect(
    meter("google", [{ error: { code: 500, message: "internal", status: "INTERNAL" } }]).streamError,
  ).toBe("INTERNAL");
});

test("ordinary frames (and an explicit error: null) are not errors", () => {
  expect(
    meter("openai", [
      { id: "c", model: "gpt", choices: [{ delta: { content: "hi" } }], error: null },
      { id: "c", model: "gpt", choices: [], usage: { prompt_tokens: 2, completion_tokens: 1 } },
    ]).streamError,
  ).toBeUndefined();
  expect(
    meter("anthropic", [
      { type: "message_start", message: { usage: { input_tokens: 3, output_tokens: 1 } } },
      { type: "message_delta", delta: { stop_reason: "end_turn" }, usage: { output_tokens: 4 } },
      { type: "message_stop" },
    ]).streamError,
  ).toBeUndefined();
  expect(
    meter("google", [
      { candidates: [{ content: { parts: [{ text: "x" }] } }], usageMetadata: { promptTokenCount: 1 } },
    ]).streamError,
  ).toBeUndefined();
});
