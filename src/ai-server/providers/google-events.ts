/**
 * Gemini's answer → canonical events. A stream chunk and the whole response of a non-stream call
 * have the same shape (`GenerateContentResponse`), so one mapper per call takes each chunk — or the
 * one whole response — and then ends the answer: text; thought summaries → reasoning blocks;
 * function calls (sent whole, thought signature on the part) → tool_start / tool_args / tool_end;
 * usageMetadata → usage; finishReason (or a blocked prompt) → stop.
 */
import type { GenerateContentResponse } from "@google/genai";
import type { StopReason } from "../../shared/chat-api.ts";
import type { ProviderEvent, UsagePatch } from "./types.ts";
import { upstreamError } from "./upstream-errors.ts";

function usageOf(r: GenerateContentResponse): UsagePatch {
  const u = r.usageMetadata;
  if (!u) return {};
  const thoughts = u.thoughtsTokenCount ?? 0;
  const cached = u.cachedContentTokenCount ?? 0;
  return {
    inputTokens: Math.max(0, (u.promptTokenCount ?? 0) - cached),
    // Thought tokens bill as output.
    outputTokens: (u.candidatesTokenCount ?? 0) + thoughts,
    cacheReadTokens: cached,
    cacheWriteTokens: 0,
    reasoningTokens: thoughts,
  };
}

function stopReason(r: string): StopReason | string {
  if (r === "STOP") return "end_turn";
  if (r === "MAX_TOKENS") return "max_tokens";
  if (/SAFETY|RECITATION|BLOCKLIST|PROHIBITED|SPII/.test(r)) return "content_filter";
  return r.toLowerCase();
}

/** One call's answer, fed chunk by chunk (a stream) or as one whole response. */
export class GeminiAnswer {
  private stop: StopReason | string | undefined;
  private calls = 0;
  private thinking = false;

  /** The events of one chunk (or of the whole response). */
  take(r: GenerateContentResponse): ProviderEvent[] {
    const out: ProviderEvent[] = [];
    const candidate = r.candidates?.[0];
    for (const p of candidate?.content?.parts ?? []) {
      if (p.thought && typeof p.text === "string") {
        this.thinking = true;
        out.push({ type: "reasoning", text: p.text });
        continue;
      }
      if (this.thinking) {
        this.thinking = false;
        out.push({ type: "reasoning_end" });
      }
      if (typeof p.text === "string" && p.text) out.push({ type: "text", text: p.text });
      if (p.functionCall) {
        // Gemini sends each call whole, in one part; its id is optional.
        const index = this.calls++;
        const id = p.functionCall.id ?? `call_${crypto.randomUUID().replaceAll("-", "").slice(0, 24)}`;
        out.push({ type: "tool_start", index, id, name: p.functionCall.name ?? "" });
        out.push({ type: "tool_args", index, json: JSON.stringify(p.functionCall.args ?? {}) });
        out.push({
          type: "tool_end",
          index,
          ...(p.thoughtSignature ? { signature: p.thoughtSignature } : {}),
        });
      }
    }
    if (r.usageMetadata) out.push({ type: "usage", usage: usageOf(r) });
    if (candidate?.finishReason) this.stop = stopReason(candidate.finishReason);
    // A blocked prompt gets no candidate, only promptFeedback.blockReason: filtered, not cut.
    else if (r.promptFeedback?.blockReason) this.stop = "content_filter";
    return out;
  }

  /** The answer's last events (its stop); throws when it ended without a finish reason (cut). */
  end(): ProviderEvent[] {
    // Gemini has no end marker: a body that ends without a finishReason was cut short.
    if (this.stop === undefined)
      throw upstreamError({
        provider: "google",
        connection: true,
        message: "the answer ended without a finish reason",
      });
    const end: ProviderEvent = { type: "stop", reason: this.stop };
    return this.thinking ? [{ type: "reasoning_end" }, end] : [end];
  }
}

/** A stream's chunks → batches of canonical events (one batch per chunk). */
export async function* streamEvents(
  stream: AsyncIterable<GenerateContentResponse>,
): AsyncGenerator<ProviderEvent[]> {
  const answer = new GeminiAnswer();
  for await (const chunk of stream) {
    const out = answer.take(chunk);
    if (out.length) yield out;
  }
  yield answer.end();
}

/** A non-stream call's whole response → the events its stream would give, in one batch. */
export function wholeEvents(r: GenerateContentResponse): ProviderEvent[] {
  const answer = new GeminiAnswer();
  const out = answer.take(r);
  out.push(...answer.end());
  return out;
}
