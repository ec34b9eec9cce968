/** OpenAI Chat Completions (or any OpenAI-compatible server) through the `openai` SDK, retries off. */
import OpenAI from "openai";
import type { StopReason } from "../../shared/chat-api.ts";
import type { PipbotError } from "../../shared/errors.ts";
import type {
  ProviderAdapter,
  ProviderCall,
  ProviderClientConfig,
  ProviderEvent,
  ProviderResult,
  UsagePatch,
} from "./types.ts";
import { upstreamError } from "./upstream-errors.ts";

function mapError(e: unknown): PipbotError {
  if (e instanceof OpenAI.APIConnectionError)
    return upstreamError({ provider: "openai", connection: true, message: e.message, cause: e });
  if (e instanceof OpenAI.APIError) {
    const type = e.code ?? e.type;
    return upstreamError({
      provider: "openai",
      ...(e.status !== undefined ? { status: e.status } : { inStream: true }),
      headers: e.headers ?? null,
      message: e.message,
      ...(type ? { type } : {}),
      cause: e,
    });
  }
  return upstreamError({
    provider: "openai",
    connection: true,
    message: e instanceof Error ? e.message : String(e),
    cause: e,
  });
}

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
  if (r === "content_filter") return "content_filter";
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

export function openaiAdapter(cfg: ProviderClientConfig): ProviderAdapter {
  const client = new OpenAI({
    apiKey: cfg.apiKey,
    ...(cfg.baseURL ? { baseURL: cfg.baseURL } : {}),
    defaultHeaders: cfg.defaultHeaders,
    fetch: cfg.fetch,
    maxRetries: 0,
    timeout: 24 * 3600 * 1000,
  });

  async function* events(stream: AsyncIterable<OpenAI.ChatCompletionChunk>): AsyncGenerator<ProviderEvent> {
    try {
      for await (const chunk of stream) {
        const choice = chunk.choices[0];
        const text = choice?.delta?.content;
        if (text) yield { type: "text", text };
        if (choice?.finish_reason) yield { type: "stop", reason: stopReason(choice.finish_reason) };
        if (chunk.usage) yield { type: "usage", usage: usageOf(chunk.usage) };
      }
    } catch (e) {
      throw mapError(e);
    }
  }

  return {
    provider: "openai",
    async openStream(call) {
      try {
        const stream = await client.chat.completions.create(
          { ...params(call), stream: true, stream_options: { include_usage: true } },
          { signal: call.signal, headers: call.headers },
        );
        return events(stream);
      } catch (e) {
        throw mapError(e);
      }
    },
    async complete(call): Promise<ProviderResult> {
      try {
        const r = await client.chat.completions.create(params(call), {
          signal: call.signal,
          headers: call.headers,
        });
        const choice = r.choices[0];
        return {
          text: choice?.message?.content ?? "",
          stopReason: stopReason(choice?.finish_reason),
          usage: usageOf(r.usage),
        };
      } catch (e) {
        throw mapError(e);
      }
    },
  };
}
