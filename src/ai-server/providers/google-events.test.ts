/**
 * Gemini answers → canonical events for what the simulator does not send: a prompt blocked before
 * any candidate, an answer without a finish reason, and a stream's chunks against the one whole
 * response they add up to (Gemini-shaped JSON, as the API returns it).
 */
import { describe, expect, test } from "bun:test";
import type { GenerateContentResponse } from "@google/genai";
import { PipbotError } from "../../shared/errors.ts";
import { streamEvents, wholeEvents } from "./google-events.ts";
import type { ProviderEvent } from "./types.ts";

const r = (o: object) => o as GenerateContentResponse;
const usage = { promptTokenCount: 9, candidatesTokenCount: 2, thoughtsTokenCount: 3 };

async function streamed(chunks: GenerateContentResponse[]): Promise<ProviderEvent[]> {
  async function* gen() {
    yield* chunks;
  }
  return (await Array.fromAsync(streamEvents(gen()))).flat();
}

describe("google-events", () => {
  test("a blocked prompt (promptFeedback.blockReason, no candidate) stops as content_filter, not a cut", async () => {
    const blocked = r({ promptFeedback: { blockReason: "PROHIBITED_CONTENT" }, usageMetadata: usage });
    const whole = wholeEvents(blocked);
    expect(whole.at(-1)).toEqual({ type: "stop", reason: "content_filter" });
    expect(await streamed([blocked])).toEqual(whole);
  });

  test("an answer without a finish reason is a retryable connection failure, whole or streamed", async () => {
    const cut = r({ candidates: [{ content: { parts: [{ text: "half" }] } }] });
    expect(() => wholeEvents(cut)).toThrow("the answer ended without a finish reason");
    await expect(streamed([cut])).rejects.toMatchObject({ code: "upstream_connection", retryable: true });
    await expect(streamed([cut])).rejects.toBeInstanceOf(PipbotError);
  });

  test("chunks and the whole response they add up to give the same events", async () => {
    const thought = { text: "hmm", thought: true };
    const call = { functionCall: { id: "c1", name: "f", args: { a: 1 } }, thoughtSignature: "sig" };
    const chunks = [
      r({ candidates: [{ content: { parts: [thought] } }] }),
      r({ candidates: [{ content: { parts: [{ text: "hi" }] } }] }),
      r({ candidates: [{ content: { parts: [call] }, finishReason: "STOP" }], usageMetadata: usage }),
    ];
    const whole = r({
      candidates: [{ content: { parts: [thought, { text: "hi" }, call] }, finishReason: "STOP" }],
      usageMetadata: usage,
    });
    const events = wholeEvents(whole);
    expect(events).toEqual([
      { type: "reasoning", text: "hmm" },
      { type: "reasoning_end" },
      { type: "text", text: "hi" },
      { type: "tool_start", index: 0, id: "c1", name: "f" },
      { type: "tool_args", index: 0, json: '{"a":1}' },
      { type: "tool_end", index: 0, signature: "sig" },
      {
        type: "usage",
        usage: {
          inputTokens: 9,
          outputTokens: 5,
          cacheReadTokens: 0,
          cacheWriteTokens: 0,
          reasoningTokens: 3,
        },
      },
      { type: "stop", reason: "end_turn" },
    ]);
    expect(await streamed(chunks)).toEqual(events);
  });
});
