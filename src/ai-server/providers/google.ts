/**
 * Gemini through `@google/genai` (no retryOptions, so the SDK does not retry). The SDK's ApiError
 * carries no headers, so each call uses a fetch wrapper that keeps the response headers (in the
 * call context) for retry-after / x-should-retry.
 */
import { ApiError, type GenerateContentResponse, GoogleGenAI } from "@google/genai";
import type { StopReason } from "../../shared/chat-api.ts";
import { type CallContext, connectionFailure, sdkAdapter } from "./sdk-adapter.ts";
import type {
  ProviderAdapter,
  ProviderCall,
  ProviderClientConfig,
  ProviderEvent,
  UsagePatch,
} from "./types.ts";
import { upstreamError } from "./upstream-errors.ts";

function mapError(e: unknown, ctx: CallContext) {
  if (!(e instanceof ApiError)) return connectionFailure("google", e);
  const m = /"status"\s*:\s*"([A-Z_]+)"/.exec(e.message);
  return upstreamError({
    provider: "google",
    // An error chunk inside a 200 stream also surfaces as ApiError (with the chunk's code).
    status: e.status,
    headers: ctx.headers,
    message: e.message,
    ...(m?.[1] ? { type: m[1] } : {}),
    cause: e,
  });
}

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

function stopReason(r: string | undefined): StopReason | string {
  if (r === "STOP") return "end_turn";
  if (r === "MAX_TOKENS") return "max_tokens";
  if (r && /SAFETY|RECITATION|BLOCKLIST|PROHIBITED|SPII/.test(r)) return "content_filter";
  return r ? r.toLowerCase() : "other";
}

function textOf(r: GenerateContentResponse): string {
  const parts = r.candidates?.[0]?.content?.parts ?? [];
  return parts.map((p) => (typeof p.text === "string" && !p.thought ? p.text : "")).join("");
}

async function* events(stream: AsyncIterable<GenerateContentResponse>): AsyncGenerator<ProviderEvent> {
  let stop: string | undefined;
  for await (const chunk of stream) {
    const text = textOf(chunk);
    if (text) yield { type: "text", text };
    if (chunk.usageMetadata) yield { type: "usage", usage: usageOf(chunk) };
    stop = chunk.candidates?.[0]?.finishReason ?? stop;
  }
  // Gemini has no end marker: a body that ends without a finishReason was cut short.
  if (stop === undefined)
    throw upstreamError({
      provider: "google",
      connection: true,
      message: "stream ended without a finish reason",
    });
  yield { type: "stop", reason: stopReason(stop) };
}

export function googleAdapter(cfg: ProviderClientConfig): ProviderAdapter {
  const ai = new GoogleGenAI({
    apiKey: cfg.apiKey,
    httpOptions: {
      ...(cfg.baseURL ? { baseUrl: cfg.baseURL } : {}),
      headers: cfg.defaultHeaders,
      fetch: cfg.fetch,
    },
  });

  function params(call: ProviderCall, ctx: CallContext) {
    const trackingFetch: typeof fetch = Object.assign(
      async (input: Parameters<typeof fetch>[0], init?: Parameters<typeof fetch>[1]) => {
        const res = await cfg.fetch(input, init);
        ctx.headers = res.headers;
        return res;
      },
      { preconnect: fetch.preconnect },
    );
    return {
      model: call.model,
      contents: call.messages.map((m) => ({
        role: m.role === "assistant" ? "model" : "user",
        parts: [{ text: m.text }],
      })),
      config: {
        abortSignal: call.signal,
        httpOptions: {
          // Per-call headers win; a per-call key replaces the client's in genai's credential header.
          headers: {
            ...cfg.defaultHeaders,
            ...call.headers,
            ...(call.apiKey ? { "x-goog-api-key": call.apiKey } : {}),
          },
          fetch: trackingFetch,
        },
        ...(call.system !== undefined ? { systemInstruction: call.system } : {}),
        ...(call.maxTokens !== undefined ? { maxOutputTokens: call.maxTokens } : {}),
        ...(call.temperature !== undefined ? { temperature: call.temperature } : {}),
      },
    };
  }

  return sdkAdapter({
    provider: "google",
    mapError,
    events,
    stream: (call, ctx) => ai.models.generateContentStream(params(call, ctx)),
  });
}
