/**
 * Gemini through `@google/genai` (no retryOptions, so the SDK does not retry) — the Gemini API
 * with a key, or Vertex AI with a service account. Canonical parts map to inlineData (an http(s)
 * URL is fetched and inlined: Gemini takes no arbitrary URLs), functionCall / functionResponse
 * (thought signatures kept on the call and sent back), thinking config with thought summaries,
 * responseMimeType + responseJsonSchema for JSON output.
 *
 * The SDK's ApiError carries no headers, so each call uses a fetch wrapper that keeps the
 * response headers (in the call context) for retry-after / x-should-retry.
 */
import {
  ApiError,
  type Content,
  FunctionCallingConfigMode,
  type GenerateContentResponse,
  GoogleGenAI,
  type Part,
} from "@google/genai";
import type { ContentPart, StopReason } from "../../shared/chat-api.ts";
import { PipbotError } from "../../shared/errors.ts";
import { MEDIA_LIMITS, thinkingBudget } from "./capabilities.ts";
import { type CallContext, connectionFailure, sdkAdapter } from "./sdk-adapter.ts";
import type {
  ProviderAdapter,
  ProviderCall,
  ProviderClientConfig,
  ProviderEvent,
  UsagePatch,
} from "./types.ts";
import { upstreamError } from "./upstream-errors.ts";

/** Fetching an image/PDF URL to inline it: bounded. */
const MEDIA_FETCH_TIMEOUT_MS = 20_000;

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

/** An image/PDF URL fetched and inlined (Gemini's fileData takes only its own File API / gs:// URIs). */
async function inlineUrl(
  url: string,
  kind: "image" | "document",
  mimeType: string | undefined,
): Promise<Part> {
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(MEDIA_FETCH_TIMEOUT_MS) });
  } catch (e) {
    throw new PipbotError(
      "invalid_request",
      `could not fetch ${kind} ${url}: ${e instanceof Error ? e.message : String(e)}`,
    );
  }
  if (!res.ok) throw new PipbotError("invalid_request", `could not fetch ${kind} ${url}: HTTP ${res.status}`);
  const type = mimeType ?? res.headers.get("content-type")?.split(";")[0]?.trim() ?? "";
  const bytes = new Uint8Array(await res.arrayBuffer());
  if (bytes.byteLength > MEDIA_LIMITS.google[kind])
    throw new PipbotError(
      "invalid_request",
      `${kind} ${url} is ${bytes.byteLength} bytes, over Gemini's limit`,
    );
  if (!/^(image\/(png|jpeg|gif|webp)|application\/pdf)$/.test(type))
    throw new PipbotError(
      "invalid_request",
      `${kind} ${url} has type "${type}": send png, jpeg, gif, webp or PDF`,
    );
  return { inlineData: { mimeType: type, data: Buffer.from(bytes).toString("base64") } };
}

async function part(p: ContentPart, names: Map<string, string>): Promise<Part | null> {
  switch (p.type) {
    case "text":
      return { text: p.text };
    case "image":
    case "document":
      return p.url !== undefined
        ? inlineUrl(p.url, p.type, p.mimeType)
        : { inlineData: { mimeType: p.mimeType ?? "", data: p.data ?? "" } };
    case "tool_call":
      return {
        functionCall: { id: p.id, name: p.name, args: p.input },
        ...(p.signature !== undefined ? { thoughtSignature: p.signature } : {}),
      };
    case "tool_result": {
      const text =
        typeof p.content === "string"
          ? p.content
          : p.content.map((c) => (c.type === "text" ? c.text : "")).join("");
      const name = p.name ?? names.get(p.toolCallId);
      if (!name)
        throw new PipbotError(
          "invalid_request",
          `tool result ${p.toolCallId} matches no earlier tool call: Gemini needs the tool's name (send name, or the assistant message with the call)`,
        );
      return {
        functionResponse: {
          id: p.toolCallId,
          name,
          response: p.isError ? { error: text } : { result: text },
        },
      };
    }
    case "reasoning":
      // Thought summaries are not sent back (Gemini keeps its context in the call signatures).
      return null;
  }
}

async function contents(call: ProviderCall): Promise<Content[]> {
  const names = new Map<string, string>();
  const out: Content[] = [];
  for (const m of call.messages) {
    for (const p of m.content) if (p.type === "tool_call") names.set(p.id, p.name);
    const parts = (await Promise.all(m.content.map((p) => part(p, names)))).filter(
      (p): p is Part => p !== null,
    );
    if (parts.length) out.push({ role: m.role === "assistant" ? "model" : "user", parts });
  }
  return out;
}

async function* events(stream: AsyncIterable<GenerateContentResponse>): AsyncGenerator<ProviderEvent[]> {
  let stop: string | undefined;
  let calls = 0;
  let thinking = false;
  for await (const chunk of stream) {
    const out: ProviderEvent[] = [];
    for (const p of chunk.candidates?.[0]?.content?.parts ?? []) {
      if (p.thought && typeof p.text === "string") {
        thinking = true;
        out.push({ type: "reasoning", text: p.text });
        continue;
      }
      if (thinking) {
        thinking = false;
        out.push({ type: "reasoning_end" });
      }
      if (typeof p.text === "string" && p.text) out.push({ type: "text", text: p.text });
      if (p.functionCall) {
        // Gemini sends each call whole, in one part; its id is optional.
        const index = calls++;
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
    if (chunk.usageMetadata) out.push({ type: "usage", usage: usageOf(chunk) });
    stop = chunk.candidates?.[0]?.finishReason ?? stop;
    if (out.length) yield out;
  }

  // Gemini has no end marker: a body that ends without a finishReason was cut short.
  if (stop === undefined)
    throw upstreamError({
      provider: "google",
      connection: true,
      message: "stream ended without a finish reason",
    });
  const end: ProviderEvent = { type: "stop", reason: stopReason(stop) };
  yield thinking ? [{ type: "reasoning_end" }, end] : [end];
}

export function googleAdapter(cfg: ProviderClientConfig): ProviderAdapter {
  const httpOptions = {
    ...(cfg.baseURL ? { baseUrl: cfg.baseURL } : {}),
    headers: cfg.defaultHeaders,
    fetch: cfg.fetch,
  };
  const ai = cfg.vertex
    ? new GoogleGenAI({
        vertexai: true,
        project: cfg.vertex.project,
        location: cfg.vertex.location,
        googleAuthOptions: { credentials: cfg.vertex.credentials },
        httpOptions,
      })
    : new GoogleGenAI({ apiKey: cfg.apiKey, httpOptions });

  async function params(call: ProviderCall, ctx: CallContext) {
    const trackingFetch: typeof fetch = Object.assign(
      async (input: Parameters<typeof fetch>[0], init?: Parameters<typeof fetch>[1]) => {
        const res = await cfg.fetch(input, init);
        ctx.headers = res.headers;
        return res;
      },
      { preconnect: fetch.preconnect },
    );
    const budget = thinkingBudget(call.reasoning);
    const tc = call.toolChoice;
    const rf = call.responseFormat;
    return {
      model: call.model,
      contents: await contents(call),
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
        ...(call.system?.length ? { systemInstruction: call.system.map((s) => s.text).join("\n\n") } : {}),
        ...(call.maxTokens !== undefined ? { maxOutputTokens: call.maxTokens } : {}),
        ...(call.temperature !== undefined ? { temperature: call.temperature } : {}),
        ...(call.topP !== undefined ? { topP: call.topP } : {}),
        ...(call.topK !== undefined ? { topK: call.topK } : {}),
        ...(call.stop ? { stopSequences: call.stop } : {}),
        ...(call.seed !== undefined ? { seed: call.seed } : {}),
        ...(call.frequencyPenalty !== undefined ? { frequencyPenalty: call.frequencyPenalty } : {}),
        ...(call.presencePenalty !== undefined ? { presencePenalty: call.presencePenalty } : {}),
        ...(budget !== undefined
          ? { thinkingConfig: { thinkingBudget: budget, includeThoughts: true } }
          : {}),
        ...(call.tools?.length
          ? {
              tools: [
                {
                  functionDeclarations: call.tools.map((t) => ({
                    name: t.name,
                    ...(t.description !== undefined ? { description: t.description } : {}),
                    parametersJsonSchema: t.parameters ?? { type: "object", properties: {} },
                  })),
                },
              ],
            }
          : {}),
        ...(tc !== undefined
          ? {
              toolConfig: {
                functionCallingConfig:
                  typeof tc === "object"
                    ? { mode: FunctionCallingConfigMode.ANY, allowedFunctionNames: [tc.name] }
                    : {
                        mode:
                          tc === "none"
                            ? FunctionCallingConfigMode.NONE
                            : tc === "required"
                              ? FunctionCallingConfigMode.ANY
                              : FunctionCallingConfigMode.AUTO,
                      },
              },
            }
          : {}),
        ...(rf?.type === "json_object" ? { responseMimeType: "application/json" } : {}),
        ...(rf?.type === "json_schema"
          ? { responseMimeType: "application/json", responseJsonSchema: rf.schema }
          : {}),
      },
    };
  }

  return sdkAdapter({
    provider: "google",
    mapError,
    events,
    stream: async (call, ctx) => ai.models.generateContentStream(await params(call, ctx)),
  });
}
