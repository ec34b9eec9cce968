/**
 * Anthropic Messages through `@anthropic-ai/sdk` (SDK retries off; our retry loop owns retries).
 * The canonical call maps onto native blocks: images/PDFs (base64 or url sources), tool_use /
 * tool_result, thinking blocks with their signatures, cache_control on any block, native
 * structured output (`output_config.format`) for a JSON schema, and a forced single tool for
 * schema-less JSON mode (its input returned as the reply's text).
 */
import Anthropic from "@anthropic-ai/sdk";
import type { ContentPart, StopReason } from "../../shared/chat-api.ts";
import { PipbotError } from "../../shared/errors.ts";
import { thinkingBudget } from "./capabilities.ts";
import {
  type SseMessage,
  sdkAdapter,
  sseBatches,
  stainlessError,
  stainlessOptions,
  stainlessPost,
  stainlessStream,
} from "./sdk-adapter.ts";
import type {
  ProviderAdapter,
  ProviderCall,
  ProviderClientConfig,
  ProviderEvent,
  ProviderMessage,
  UsagePatch,
} from "./types.ts";
import { upstreamError } from "./upstream-errors.ts";

const DEFAULT_MAX_TOKENS = 4096;
/** The forced tool that carries schema-less JSON mode (json_object). */
export const JSON_TOOL = "json_response";

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
  const details = src.output_tokens_details as { thinking_tokens?: unknown } | undefined;
  if (typeof details?.thinking_tokens === "number") out.reasoningTokens = details.thinking_tokens;
  return out;
}

const stopReason = (r: string | null | undefined): StopReason | string =>
  r === "end_turn" || r === "max_tokens" || r === "stop_sequence" || r === "tool_use" || r === "refusal"
    ? r
    : (r ?? "other");

type Block = Anthropic.ContentBlockParam;

function mediaBlock(p: Extract<ContentPart, { type: "image" | "document" }>): Block {
  const cache = p.cache_control ? { cache_control: p.cache_control } : {};
  if (p.type === "image")
    return {
      type: "image",
      source:
        p.url !== undefined
          ? { type: "url", url: p.url }
          : {
              type: "base64",
              media_type: p.mimeType as Anthropic.Base64ImageSource["media_type"],
              data: p.data ?? "",
            },
      ...cache,
    };
  return {
    type: "document",
    source:
      p.url !== undefined
        ? { type: "url", url: p.url }
        : { type: "base64", media_type: "application/pdf", data: p.data ?? "" },
    ...(p.fileName ? { title: p.fileName } : {}),
    ...cache,
  };
}

function block(p: ContentPart): Block | null {
  const cache = "cache_control" in p && p.cache_control ? { cache_control: p.cache_control } : {};
  switch (p.type) {
    case "text":
      return { type: "text", text: p.text, ...cache };
    case "image":
    case "document":
      return mediaBlock(p);
    case "tool_call":
      return { type: "tool_use", id: p.id, name: p.name, input: p.input };
    case "tool_result":
      return {
        type: "tool_result",
        tool_use_id: p.toolCallId,
        content:
          typeof p.content === "string"
            ? p.content
            : (p.content.map((c) =>
                c.type === "text" ? { type: "text" as const, text: c.text } : mediaBlock(c),
              ) as Anthropic.ToolResultBlockParam["content"]),
        ...(p.isError ? { is_error: true } : {}),
        ...cache,
      };
    case "reasoning":
      // Only Anthropic's own blocks can go back (a signature proves them); others' reasoning is history only.
      if (p.redacted !== undefined) return { type: "redacted_thinking", data: p.redacted };
      if (p.signature !== undefined) return { type: "thinking", thinking: p.text, signature: p.signature };
      return null;
  }
}

function messages(ms: ProviderMessage[]): Anthropic.MessageParam[] {
  return ms.map((m) => ({
    role: m.role,
    content: m.content.map(block).filter((b): b is Block => b !== null),
  }));
}

/** The SDK's types no longer list the sampling fields; the API still takes them for the models that do. */
export type AnthropicParams = Anthropic.MessageCreateParamsStreaming & {
  temperature?: number;
  top_p?: number;
  top_k?: number;
};

export function anthropicParams(call: ProviderCall): AnthropicParams {
  const budget = thinkingBudget(call.reasoning);
  const p: AnthropicParams = {
    model: call.model,
    max_tokens: call.maxTokens ?? (budget ? budget + DEFAULT_MAX_TOKENS : DEFAULT_MAX_TOKENS),
    messages: messages(call.messages),
    stream: true,
  };
  if (call.system?.length)
    p.system = call.system.map((s) => ({
      type: "text" as const,
      text: s.text,
      ...(s.cache_control ? { cache_control: s.cache_control } : {}),
    }));
  if (call.temperature !== undefined) p.temperature = call.temperature;
  if (call.topP !== undefined) p.top_p = call.topP;
  if (call.topK !== undefined) p.top_k = call.topK;
  if (call.stop) p.stop_sequences = call.stop;
  if (call.user !== undefined) p.metadata = { user_id: call.user };
  if (budget) p.thinking = { type: "enabled", budget_tokens: budget, display: "summarized" };
  const tools: Anthropic.Tool[] = (call.tools ?? []).map((t) => ({
    name: t.name,
    ...(t.description !== undefined ? { description: t.description } : {}),
    input_schema: (t.parameters ?? { type: "object", properties: {} }) as Anthropic.Tool["input_schema"],
    ...(t.strict !== undefined ? { strict: t.strict } : {}),
    ...(t.cache_control ? { cache_control: t.cache_control } : {}),
  }));
  const noParallel = call.parallelToolCalls === false ? { disable_parallel_tool_use: true } : {};
  const tc = call.toolChoice;
  if (tc !== undefined || call.parallelToolCalls === false)
    p.tool_choice =
      tc === "none"
        ? { type: "none" }
        : tc === "required"
          ? { type: "any", ...noParallel }
          : typeof tc === "object"
            ? { type: "tool", name: tc.name, ...noParallel }
            : { type: "auto", ...noParallel };
  const rf = call.responseFormat;
  if (rf?.type === "json_schema") p.output_config = { format: { type: "json_schema", schema: rf.schema } };
  else if (rf?.type === "json_object") {
    tools.push({
      name: JSON_TOOL,
      description: "Reply with a JSON object: its input is the whole reply.",
      input_schema: { type: "object" },
    });
    p.tool_choice = { type: "tool", name: JSON_TOOL };
  }
  if (tools.length) p.tools = tools;
  return p;
}

/**
 * The count_tokens body: exactly what /v1/messages would send for the call, minus the fields a
 * count does not take (Anthropic answers them with a 400): max_tokens, stream, metadata, sampling
 * and stop parameters.
 */
export function anthropicCountParams(call: ProviderCall): Anthropic.MessageCountTokensParams {
  const p: Partial<AnthropicParams> = anthropicParams(call);
  delete p.max_tokens;
  delete p.stream;
  delete p.metadata;
  delete p.temperature;
  delete p.top_p;
  delete p.top_k;
  delete p.stop_sequences;
  return p as Anthropic.MessageCountTokensParams;
}

type Blocks = Map<
  number,
  { kind: "text" | "thinking" | "json" | "tool" | "other"; tool?: number; signature?: string }
>;

/** One raw Anthropic stream event → canonical events (pushed to `out`). */
function mapEvent(
  ev: Anthropic.RawMessageStreamEvent,
  blocks: Blocks,
  out: ProviderEvent[],
  tools: { n: number },
): void {
  if (ev.type === "message_start") out.push({ type: "usage", usage: usageOf(ev.message.usage) });
  else if (ev.type === "content_block_start") {
    const b = ev.content_block;
    if (b.type === "text") {
      blocks.set(ev.index, { kind: "text" });
      if (b.text) out.push({ type: "text", text: b.text });
    } else if (b.type === "thinking") {
      blocks.set(ev.index, { kind: "thinking" });
      out.push({ type: "reasoning", text: b.thinking });
    } else if (b.type === "redacted_thinking") {
      blocks.set(ev.index, { kind: "other" });
      out.push({ type: "reasoning_end", redacted: b.data });
    } else if (b.type === "tool_use" && b.name === JSON_TOOL) blocks.set(ev.index, { kind: "json" });
    else if (b.type === "tool_use") {
      const index = tools.n++;
      blocks.set(ev.index, { kind: "tool", tool: index });
      out.push({ type: "tool_start", index, id: b.id, name: b.name });
    } else blocks.set(ev.index, { kind: "other" });
  } else if (ev.type === "content_block_delta") {
    const b = blocks.get(ev.index);
    const d = ev.delta;
    if (d.type === "text_delta" && d.text) out.push({ type: "text", text: d.text });
    else if (d.type === "thinking_delta" && d.thinking) out.push({ type: "reasoning", text: d.thinking });
    else if (d.type === "signature_delta" && b) b.signature = d.signature;
    else if (d.type === "input_json_delta" && b?.kind === "json" && d.partial_json)
      out.push({ type: "text", text: d.partial_json });
    else if (d.type === "input_json_delta" && b?.tool !== undefined)
      out.push({ type: "tool_args", index: b.tool, json: d.partial_json });
  } else if (ev.type === "content_block_stop") {
    const b = blocks.get(ev.index);
    if (b?.kind === "thinking")
      out.push({ type: "reasoning_end", ...(b.signature ? { signature: b.signature } : {}) });
    else if (b?.tool !== undefined) out.push({ type: "tool_end", index: b.tool });
  } else if (ev.type === "message_delta") {
    out.push({ type: "usage", usage: usageOf(ev.usage) });
    if (ev.delta.stop_reason) out.push({ type: "stop", reason: stopReason(ev.delta.stop_reason) });
  }
}

/** One network read's SSE events → canonical events; an `error` event throws like the SDK would. */
async function* events(batches: AsyncIterable<SseMessage[]>): AsyncGenerator<ProviderEvent[]> {
  /** Content block index → what it is (tool calls numbered in reply order). */
  const blocks: Blocks = new Map();
  const tools = { n: 0 };
  for await (const batch of batches) {
    const out: ProviderEvent[] = [];
    for (const m of batch) {
      if (m.event === "ping") continue;
      const json = JSON.parse(m.data) as
        | Anthropic.RawMessageStreamEvent
        | { type: "error"; error?: { type?: string; message?: string } };
      if (json.type === "error") {
        // What came before the error in this read reaches the caller first (as with the SDK).
        if (out.length) yield out;
        throw upstreamError({
          provider: "anthropic",
          inStream: true,
          message: json.error?.message ?? "error event in the stream",
          ...(json.error?.type ? { type: json.error.type } : {}),
        });
      }
      mapEvent(json, blocks, out, tools);
    }
    if (out.length) yield out;
  }
}

export function anthropicAdapter(cfg: ProviderClientConfig): ProviderAdapter {
  const opts = stainlessOptions(cfg);
  // ANTHROPIC_AUTH_TOKEN: the SDK sends authToken as Authorization: Bearer (no x-api-key).
  const client = new Anthropic(cfg.bearer ? { ...opts, apiKey: null, authToken: cfg.apiKey } : opts);
  const post = stainlessStream(client, "/v1/messages", cfg.fetch);
  const count = stainlessPost(client, "/v1/messages/count_tokens", cfg.fetch, false);
  const adapter = sdkAdapter({
    provider: "anthropic",
    mapError,
    events,
    stream: async (call) => sseBatches(await post(anthropicParams(call), call)),
  });
  return {
    provider: adapter.provider,
    openStream: adapter.openStream,
    async countTokens(call) {
      let text: string;
      try {
        text = await (await count(anthropicCountParams(call), call)).text();
      } catch (e) {
        throw e instanceof PipbotError ? e : mapError(e);
      }
      let tokens: unknown;
      try {
        tokens = (JSON.parse(text) as { input_tokens?: unknown } | null)?.input_tokens;
      } catch {
        tokens = undefined;
      }
      if (typeof tokens !== "number")
        throw upstreamError({
          provider: "anthropic",
          status: 200,
          message: `count_tokens answered without a numeric input_tokens: ${text.slice(0, 200)}`,
        });
      return tokens;
    },
  };
}
