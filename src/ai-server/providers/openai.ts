/**
 * OpenAI Chat Completions (or any OpenAI-compatible server) through the `openai` SDK, retries off.
 * Canonical parts map to image_url / file parts, tool_calls and role:"tool" messages; JSON modes
 * and reasoning effort are native. OpenAI-compatible servers that stream their reasoning
 * (`reasoning_content`, or `reasoning` like Ollama/vLLM) have it returned as reasoning text.
 */
import OpenAI from "openai";
import type { ContentPart, StopReason } from "../../shared/chat-api.ts";
import {
  type SseMessage,
  sdkAdapter,
  sseBatches,
  stainlessError,
  stainlessOptions,
  stainlessPost,
  stainlessStream,
  wholeJson,
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

type UserPart = OpenAI.ChatCompletionContentPart;

function userPart(p: ContentPart): UserPart | null {
  if (p.type === "text") return { type: "text", text: p.text };
  if (p.type === "image")
    return { type: "image_url", image_url: { url: p.url ?? `data:${p.mimeType};base64,${p.data}` } };
  if (p.type === "document")
    return {
      type: "file",
      file: { filename: p.fileName ?? "document.pdf", file_data: `data:${p.mimeType};base64,${p.data}` },
    };
  return null;
}

function messages(call: ProviderCall): OpenAI.ChatCompletionMessageParam[] {
  const out: OpenAI.ChatCompletionMessageParam[] = [];
  if (call.system?.length) out.push({ role: "system", content: call.system.map((s) => s.text).join("\n\n") });
  for (const m of call.messages) out.push(...message(m));
  return out;
}

function message(m: ProviderMessage): OpenAI.ChatCompletionMessageParam[] {
  if (m.role === "assistant") {
    const text = m.content.map((p) => (p.type === "text" ? p.text : "")).join("");
    const calls = m.content.flatMap((p) =>
      p.type === "tool_call"
        ? [
            {
              id: p.id,
              type: "function" as const,
              function: { name: p.name, arguments: JSON.stringify(p.input) },
            },
          ]
        : [],
    );
    return [
      {
        role: "assistant",
        content: text || (calls.length ? null : ""),
        ...(calls.length ? { tool_calls: calls } : {}),
      },
    ];
  }
  const out: OpenAI.ChatCompletionMessageParam[] = [];
  // Tool results first: OpenAI wants them right after the assistant's tool calls.
  for (const p of m.content)
    if (p.type === "tool_result")
      out.push({
        role: "tool",
        tool_call_id: p.toolCallId,
        content:
          typeof p.content === "string"
            ? p.content
            : p.content.map((c) => (c.type === "text" ? c.text : "")).join(""),
      });
  const parts = m.content.map(userPart).filter((p): p is UserPart => p !== null);
  if (parts.length === 0) return out;
  const onlyText = parts.every((p) => p.type === "text");
  out.push({
    role: "user",
    content: onlyText ? parts.map((p) => (p.type === "text" ? p.text : "")).join("") : parts,
  });
  return out;
}

export function openaiParams(call: ProviderCall): OpenAI.ChatCompletionCreateParamsStreaming;
export function openaiParams(
  call: ProviderCall,
  stream: false,
): OpenAI.ChatCompletionCreateParamsNonStreaming;
export function openaiParams(call: ProviderCall, stream = true): OpenAI.ChatCompletionCreateParams {
  const p: OpenAI.ChatCompletionCreateParams = stream
    ? {
        model: call.model,
        messages: messages(call),
        stream: true,
        // Always ask for the final usage chunk (proxy-v1 contract; estimated when it never comes).
        stream_options: { include_usage: true },
      }
    : { model: call.model, messages: messages(call), stream: false };
  if (call.maxTokens !== undefined) p.max_completion_tokens = call.maxTokens;
  if (call.temperature !== undefined) p.temperature = call.temperature;
  if (call.topP !== undefined) p.top_p = call.topP;
  if (call.stop) p.stop = call.stop;
  if (call.seed !== undefined) p.seed = call.seed;
  if (call.frequencyPenalty !== undefined) p.frequency_penalty = call.frequencyPenalty;
  if (call.presencePenalty !== undefined) p.presence_penalty = call.presencePenalty;
  if (call.user !== undefined) p.user = call.user;
  if (call.promptCacheKey !== undefined) p.prompt_cache_key = call.promptCacheKey;
  if (call.reasoning) p.reasoning_effort = call.reasoning.effort ?? "medium";
  if (call.tools?.length)
    p.tools = call.tools.map((t) => ({
      type: "function" as const,
      function: {
        name: t.name,
        ...(t.description !== undefined ? { description: t.description } : {}),
        parameters: t.parameters ?? { type: "object", properties: {} },
        ...(t.strict !== undefined ? { strict: t.strict } : {}),
      },
    }));
  const tc = call.toolChoice;
  if (tc !== undefined)
    p.tool_choice = typeof tc === "object" ? { type: "function", function: { name: tc.name } } : tc;
  if (call.parallelToolCalls !== undefined) p.parallel_tool_calls = call.parallelToolCalls;
  const rf = call.responseFormat;
  if (rf?.type === "json_object") p.response_format = { type: "json_object" };
  else if (rf?.type === "json_schema")
    p.response_format = {
      type: "json_schema",
      json_schema: {
        name: rf.name ?? "response",
        schema: rf.schema,
        ...(rf.description !== undefined ? { description: rf.description } : {}),
        ...(rf.strict !== undefined ? { strict: rf.strict } : {}),
      },
    };
  return p;
}

type StreamChunk = OpenAI.ChatCompletionChunk & {
  error?: { message?: string; type?: string; code?: string };
};

/** One network read's SSE events → canonical events; a `data: {"error": …}` frame throws like the SDK would. */
async function* events(batches: AsyncIterable<SseMessage[]>): AsyncGenerator<ProviderEvent[]> {
  const open = new Set<number>();
  let refused = false;
  for await (const batch of batches) {
    const out: ProviderEvent[] = [];
    for (const m of batch) {
      if (m.data === "[DONE]") break;
      const chunk = JSON.parse(m.data) as StreamChunk;
      if (chunk.error) {
        // What came before the error in this read reaches the caller first (as with the SDK).
        if (out.length) yield out;
        throw upstreamError({
          provider: "openai",
          inStream: true,
          message: chunk.error.message ?? "error event in the stream",
          ...((chunk.error.code ?? chunk.error.type) ? { type: chunk.error.code ?? chunk.error.type } : {}),
        });
      }
      const choice = chunk.choices[0];
      const delta = choice?.delta as
        | (OpenAI.ChatCompletionChunk.Choice.Delta & Record<string, unknown>)
        | undefined;
      if (delta) {
        const reasoning = delta.reasoning_content ?? delta.reasoning;
        if (typeof reasoning === "string" && reasoning) out.push({ type: "reasoning", text: reasoning });
        if (delta.content) out.push({ type: "text", text: delta.content });
        // A refusal (Structured Outputs) is the reply's text, and the stop reason says so.
        if (delta.refusal) {
          refused = true;
          out.push({ type: "refusal", text: delta.refusal });
        }
        for (const t of delta.tool_calls ?? []) {
          if (!open.has(t.index)) {
            open.add(t.index);
            out.push({
              type: "tool_start",
              index: t.index,
              id: t.id ?? `call_${t.index}`,
              name: t.function?.name ?? "",
            });
          }
          if (t.function?.arguments)
            out.push({ type: "tool_args", index: t.index, json: t.function.arguments });
        }
      }
      if (choice?.finish_reason) {
        for (const index of [...open].sort((x, y) => x - y)) out.push({ type: "tool_end", index });
        open.clear();
        out.push({ type: "stop", reason: refused ? "refusal" : stopReason(choice.finish_reason) });
      }
      if (chunk.usage) out.push({ type: "usage", usage: usageOf(chunk.usage) });
    }
    if (out.length) yield out;
  }
}

type Completion = OpenAI.ChatCompletion & { choices: { message: Record<string, unknown> }[] };

/** A whole chat.completion → the canonical events its stream would give. */
export function completionEvents(c: Completion): ProviderEvent[] {
  const out: ProviderEvent[] = [];
  const choice = c.choices?.[0];
  if (choice) {
    const m = choice.message as OpenAI.ChatCompletionMessage & Record<string, unknown>;
    const reasoning = m.reasoning_content ?? m.reasoning;
    if (typeof reasoning === "string" && reasoning) out.push({ type: "reasoning", text: reasoning });
    if (m.content) out.push({ type: "text", text: m.content });
    if (m.refusal) out.push({ type: "refusal", text: m.refusal });
    (m.tool_calls ?? []).forEach((t, index) => {
      if (t.type !== "function") return;
      out.push({ type: "tool_start", index, id: t.id || `call_${index}`, name: t.function.name });
      if (t.function.arguments) out.push({ type: "tool_args", index, json: t.function.arguments });
      out.push({ type: "tool_end", index });
    });
    if (choice.finish_reason)
      out.push({ type: "stop", reason: m.refusal ? "refusal" : stopReason(choice.finish_reason) });
  }
  if (c.usage) out.push({ type: "usage", usage: usageOf(c.usage) });
  return out;
}

export function openaiAdapter(cfg: ProviderClientConfig): ProviderAdapter {
  const opts = stainlessOptions(cfg);
  // Keyless (Ollama, vLLM, LM Studio): null removes the SDK's Authorization header.
  const client = new OpenAI(
    cfg.keyless ? { ...opts, defaultHeaders: { ...opts.defaultHeaders, Authorization: null } } : opts,
  );
  const post = stainlessStream(client, "/chat/completions", cfg.fetch);
  const postWhole = stainlessPost(client, "/chat/completions", cfg.fetch, false);
  return sdkAdapter({
    provider: "openai",
    mapError,
    events,
    stream: async (call) => sseBatches(await post(openaiParams(call), call)),
    complete: async (call) =>
      completionEvents(
        (await wholeJson("openai", await postWhole(openaiParams(call, false), call))) as Completion,
      ),
  });
}
