/** Anthropic Messages through `@anthropic-ai/sdk` (SDK retries off; our retry loop owns retries). */
import Anthropic from "@anthropic-ai/sdk";
import type { StopReason } from "../../shared/chat-api.ts";
import { sdkAdapter, stainlessError, stainlessHeaders, stainlessOptions } from "./sdk-adapter.ts";
import type {
  ProviderAdapter,
  ProviderCall,
  ProviderClientConfig,
  ProviderEvent,
  UsagePatch,
} from "./types.ts";

const DEFAULT_MAX_TOKENS = 4096;

const mapError = (e: unknown) =>
  stainlessError<InstanceType<typeof Anthropic.APIError>>("anthropic", e, Anthropic, (err) => {
    const body = err.error as { error?: { type?: string; message?: string } } | undefined;
    return { message: body?.error?.message ?? err.apiMessage ?? err.message, type: body?.error?.type };
  });

function usageOf(u: object | null | undefined): UsagePatch {
  const out: UsagePatch = {};
  if (!u) return out;
  const src = u as Record<string, unknown>;
  const fields: [keyof UsagePatch, string][] = [
    ["inputTokens", "input_tokens"],
    ["outputTokens", "output_tokens"],
    ["cacheReadTokens", "cache_read_input_tokens"],
    ["cacheWriteTokens", "cache_creation_input_tokens"],
  ];
  for (const [k, wire] of fields) {
    const v = src[wire];
    if (typeof v === "number") out[k] = v;
  }
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

async function* events(
  stream: AsyncIterable<Anthropic.RawMessageStreamEvent>,
): AsyncGenerator<ProviderEvent> {
  for await (const ev of stream) {
    if (ev.type === "message_start") yield { type: "usage", usage: usageOf(ev.message.usage) };
    else if (ev.type === "content_block_delta") {
      if (ev.delta.type === "text_delta" && ev.delta.text) yield { type: "text", text: ev.delta.text };
    } else if (ev.type === "message_delta") {
      yield { type: "usage", usage: usageOf(ev.usage) };
      if (ev.delta.stop_reason) yield { type: "stop", reason: stopReason(ev.delta.stop_reason) };
    }
  }
}

export function anthropicAdapter(cfg: ProviderClientConfig): ProviderAdapter {
  const client = new Anthropic(stainlessOptions(cfg));
  return sdkAdapter({
    provider: "anthropic",
    mapError,
    events,
    stream: (call) =>
      client.messages.create(
        { ...params(call), stream: true },
        { signal: call.signal, headers: stainlessHeaders(call) },
      ),
  });
}
