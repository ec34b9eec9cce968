/** Anthropic Messages through `@anthropic-ai/sdk` (SDK retries off; our retry loop owns retries). */
import Anthropic from "@anthropic-ai/sdk";
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

const DEFAULT_MAX_TOKENS = 4096;

function mapError(e: unknown): PipbotError {
  if (e instanceof Anthropic.APIConnectionError)
    return upstreamError({ provider: "anthropic", connection: true, message: e.message, cause: e });
  if (e instanceof Anthropic.APIError) {
    const body = e.error as { error?: { type?: string; message?: string } } | undefined;
    return upstreamError({
      provider: "anthropic",
      ...(e.status !== undefined ? { status: e.status } : { inStream: true }),
      headers: e.headers ?? null,
      message: body?.error?.message ?? e.apiMessage ?? e.message,
      ...(body?.error?.type ? { type: body.error.type } : {}),
      cause: e,
    });
  }
  return upstreamError({
    provider: "anthropic",
    connection: true,
    message: e instanceof Error ? e.message : String(e),
    cause: e,
  });
}

function usageOf(u: Partial<Record<string, unknown>> | null | undefined): UsagePatch {
  const out: UsagePatch = {};
  if (!u) return out;
  const num = (v: unknown) => (typeof v === "number" ? v : undefined);
  const set = (k: keyof UsagePatch, v: unknown) => {
    const n = num(v);
    if (n !== undefined) out[k] = n;
  };
  set("inputTokens", u.input_tokens);
  set("outputTokens", u.output_tokens);
  set("cacheReadTokens", u.cache_read_input_tokens);
  set("cacheWriteTokens", u.cache_creation_input_tokens);
  return out;
}

const stopReason = (r: string | null | undefined): StopReason | string =>
  r === "end_turn" || r === "max_tokens" || r === "stop_sequence" || r === "tool_use" || r === "refusal"
    ? r
    : (r ?? "other");

function params(call: ProviderCall) {
  return {
    model: call.model,
    max_tokens: call.maxTokens ?? DEFAULT_MAX_TOKENS,
    messages: call.messages.map((m) => ({ role: m.role, content: m.text })),
    ...(call.system !== undefined ? { system: call.system } : {}),
    ...(call.temperature !== undefined ? { temperature: call.temperature } : {}),
  };
}

export function anthropicAdapter(cfg: ProviderClientConfig): ProviderAdapter {
  const client = new Anthropic({
    apiKey: cfg.apiKey,
    ...(cfg.baseURL ? { baseURL: cfg.baseURL } : {}),
    defaultHeaders: cfg.defaultHeaders,
    fetch: cfg.fetch,
    maxRetries: 0,
    timeout: 24 * 3600 * 1000, // our phase timers own timeouts
  });

  async function* events(
    stream: AsyncIterable<Anthropic.RawMessageStreamEvent>,
  ): AsyncGenerator<ProviderEvent> {
    try {
      for await (const ev of stream) {
        switch (ev.type) {
          case "message_start":
            yield { type: "usage", usage: usageOf(ev.message.usage as unknown as Record<string, unknown>) };
            break;
          case "content_block_delta":
            if (ev.delta.type === "text_delta" && ev.delta.text) yield { type: "text", text: ev.delta.text };
            break;
          case "message_delta":
            yield { type: "usage", usage: usageOf(ev.usage as unknown as Record<string, unknown>) };
            if (ev.delta.stop_reason) yield { type: "stop", reason: stopReason(ev.delta.stop_reason) };
            break;
          default:
            break;
        }
      }
    } catch (e) {
      throw mapError(e);
    }
  }

  return {
    provider: "anthropic",
    async openStream(call) {
      try {
        const stream = await client.messages.create(
          { ...params(call), stream: true },
          { signal: call.signal, headers: call.headers },
        );
        return events(stream);
      } catch (e) {
        throw mapError(e);
      }
    },
    async complete(call): Promise<ProviderResult> {
      try {
        const msg = await client.messages.create(params(call), {
          signal: call.signal,
          headers: call.headers,
        });
        const text = msg.content.map((b) => (b.type === "text" ? b.text : "")).join("");
        return {
          text,
          stopReason: stopReason(msg.stop_reason),
          usage: usageOf(msg.usage as unknown as Record<string, unknown>),
        };
      } catch (e) {
        throw mapError(e);
      }
    },
  };
}
