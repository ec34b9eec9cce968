/** OpenAI Chat Completions (or any OpenAI-compatible server) through the `openai` SDK, retries off. */
import OpenAI from "openai";
import type { StopReason } from "../../shared/chat-api.ts";
import { sdkAdapter, stainlessError, stainlessHeaders, stainlessOptions } from "./sdk-adapter.ts";
import type {
  ProviderAdapter,
  ProviderCall,
  ProviderClientConfig,
  ProviderEvent,
  UsagePatch,
} from "./types.ts";

const mapError = (e: unknown) =>
  stainlessError<InstanceType<typeof OpenAI.APIError>>("openai", e, OpenAI, (err) => ({
    message: err.message,
    type: err.code ?? err.type,
  }));

function usageOf(u: OpenAI.CompletionUsage | null | undefined): UsagePatch {
  if (!u) return {};
  const cached = u.prompt_tokens_details?.cached_tokens ?? 0;
  return {
    inputTokens: Math.max(0, u.prompt_tokens - cached),
    outputTokens: u.completion_tokens,
    cacheReadTokens: cached,
    cacheWriteTokens: 0,
    reasoningTokens: u.completion_tokens_details?.reasoning_tokens ?? 0,
  };
}

function stopReason(r: string | null | undefined): StopReason | string {
  if (r === "stop") return "end_turn";
  if (r === "length") return "max_tokens";
  if (r === "tool_calls" || r === "function_call") return "tool_use";
  return r ?? "other";
}

function params(call: ProviderCall) {
  const messages: OpenAI.ChatCompletionMessageParam[] = [];
  if (call.system !== undefined) messages.push({ role: "system", content: call.system });
  for (const m of call.messages) messages.push({ role: m.role, content: m.text });
  return {
    model: call.model,
    messages,
    ...(call.maxTokens !== undefined ? { max_completion_tokens: call.maxTokens } : {}),
    ...(call.temperature !== undefined ? { temperature: call.temperature } : {}),
  };
}

async function* events(stream: AsyncIterable<OpenAI.ChatCompletionChunk>): AsyncGenerator<ProviderEvent> {
  for await (const chunk of stream) {
    const choice = chunk.choices[0];
    const text = choice?.delta?.content;
    if (text) yield { type: "text", text };
    if (choice?.finish_reason) yield { type: "stop", reason: stopReason(choice.finish_reason) };
    if (chunk.usage) yield { type: "usage", usage: usageOf(chunk.usage) };
  }
}

export function openaiAdapter(cfg: ProviderClientConfig): ProviderAdapter {
  const client = new OpenAI(stainlessOptions(cfg));
  return sdkAdapter({
    provider: "openai",
    mapError,
    events,
    // Always ask for the final usage chunk (proxy-v1 contract; estimated when it never comes).
    stream: (call) =>
      client.chat.completions.create(
        { ...params(call), stream: true, stream_options: { include_usage: true } },
        { signal: call.signal, headers: stainlessHeaders(call) },
      ),
  });
}
