/**
 * `POST /v1/messages`: Anthropic's Messages API for `anthropic/` models through the same engine,
 * retries, usage and proxy-v1 as /chat, so `@anthropic-ai/sdk` (and Claude-native tools) can use
 * pipbot as their base URL. Requests → the canonical call; replies, stream events and errors in
 * Anthropic's shapes. Other providers' models get a 400 pointing at /v1/chat/completions.
 */

import { z } from "zod";
import { anthropicErrorType } from "../shared/anthropic-errors.ts";
import { retryAfterHeader } from "../shared/backoff.ts";
import {
  type CacheControl,
  type ContentPart,
  cacheControlSchema,
  type ToolChoice,
} from "../shared/chat-api.ts";
import { PipbotError, toPipbotError } from "../shared/errors.ts";
import type { ChatOutcome } from "./chat.ts";
import { applyAutoCache } from "./chat-request.ts";
import type { ModelRef } from "./models.ts";
import type { CallInput, ProviderMessage } from "./providers/index.ts";
import type { SseFraming } from "./sse.ts";

const cc = { cache_control: cacheControlSchema.nullable().optional() };
const source = z.union([
  z.object({ type: z.literal("base64"), media_type: z.string(), data: z.string() }),
  z.object({ type: z.literal("url"), url: z.string().regex(/^https?:\/\//, "url must be http(s)") }),
]);
const text = z.object({ type: z.literal("text"), text: z.string(), ...cc }).loose();
const image = z.object({ type: z.literal("image"), source, ...cc }).loose();
const document = z
  .object({ type: z.literal("document"), source, title: z.string().nullable().optional(), ...cc })
  .loose();
const block = z.discriminatedUnion(
  "type",
  [
    text,
    image,
    document,
    z
      .object({
        type: z.literal("tool_use"),
        id: z.string(),
        name: z.string(),
        input: z.record(z.string(), z.unknown()),
      })
      .loose(),
    z
      .object({
        type: z.literal("tool_result"),
        tool_use_id: z.string(),
        content: z.union([z.string(), z.array(z.union([text, image]))]).optional(),
        is_error: z.boolean().optional(),
        ...cc,
      })
      .loose(),
    z.object({ type: z.literal("thinking"), thinking: z.string(), signature: z.string() }).loose(),
    z.object({ type: z.literal("redacted_thinking"), data: z.string() }).loose(),
  ],
  {
    message:
      "content blocks must be text, image, document, tool_use, tool_result, thinking or redacted_thinking",
  },
);

export const anthropicRequestSchema = z.strictObject({
  model: z.string().min(1),
  max_tokens: z.number().int().positive(),
  messages: z
    .array(z.object({ role: z.enum(["user", "assistant"]), content: z.union([z.string(), z.array(block)]) }))
    .min(1),
  system: z.union([z.string(), z.array(text)]).optional(),
  stop_sequences: z.array(z.string()).optional(),
  temperature: z.number().min(0).max(1).optional(),
  top_p: z.number().min(0).max(1).optional(),
  top_k: z.number().int().positive().optional(),
  stream: z.boolean().optional(),
  metadata: z.object({ user_id: z.string().nullable().optional() }).optional(),
  tools: z
    .array(
      z.object({
        type: z
          .literal("custom", { message: "only custom tools are supported (no server tools)" })
          .optional(),
        name: z.string().regex(/^[a-zA-Z0-9_-]{1,64}$/),
        description: z.string().optional(),
        input_schema: z.record(z.string(), z.unknown()),
        strict: z.boolean().optional(),
        ...cc,
      }),
    )
    .optional(),
  tool_choice: z
    .object({
      type: z.enum(["auto", "any", "tool", "none"]),
      name: z.string().optional(),
      disable_parallel_tool_use: z.boolean().optional(),
    })
    .optional(),
  thinking: z
    .union([
      z.object({
        type: z.literal("enabled"),
        budget_tokens: z.number().int().min(1024),
        display: z.string().optional(),
      }),
      z.object({ type: z.literal("disabled") }),
    ])
    .optional(),
  output_config: z
    .object({
      format: z
        .object({ type: z.literal("json_schema"), schema: z.record(z.string(), z.unknown()) })
        .nullable()
        .optional(),
    })
    .optional(),
  /** Request-level automatic caching: the server places breakpoints (as /chat's cache:"auto"). */
  cache_control: cacheControlSchema.nullable().optional(),
});
export type AnthropicRequest = z.infer<typeof anthropicRequestSchema>;

function media(b: z.infer<typeof image> | z.infer<typeof document>): ContentPart {
  const c = b.cache_control ? { cache_control: b.cache_control } : {};
  const src = b.source.type === "url" ? { url: b.source.url } : { data: b.source.data };
  if (b.type === "image") {
    const mimeType = b.source.type === "base64" ? b.source.media_type : undefined;
    return { type: "image", ...(mimeType ? { mimeType: mimeType as "image/png" } : {}), ...src, ...c };
  }
  return {
    type: "document",
    mimeType: "application/pdf",
    ...src,
    ...(b.title ? { fileName: b.title } : {}),
    ...c,
  };
}

const cacheOf = (b: { cache_control?: CacheControl | null | undefined }): { cache_control?: CacheControl } =>
  b.cache_control ? { cache_control: b.cache_control } : {};

function part(b: z.infer<typeof block>): ContentPart {
  switch (b.type) {
    case "text":
      return { type: "text", text: b.text, ...cacheOf(b) };
    case "image":
    case "document":
      return media(b);
    case "tool_use":
      return { type: "tool_call", id: b.id, name: b.name, input: b.input };
    case "tool_result":
      return {
        type: "tool_result",
        toolCallId: b.tool_use_id,
        content:
          typeof b.content === "string" || b.content === undefined
            ? (b.content ?? "")
            : b.content.map((x) =>
                x.type === "text" ? { type: "text" as const, text: x.text } : (media(x) as never),
              ),
        ...(b.is_error ? { isError: true } : {}),
        ...cacheOf(b),
      };
    case "thinking":
      return { type: "reasoning", text: b.thinking, signature: b.signature };
    case "redacted_thinking":
      return { type: "reasoning", text: "", redacted: b.data };
  }
}

export function fromAnthropic(r: AnthropicRequest): CallInput {
  const messages: ProviderMessage[] = r.messages.map((m) => ({
    role: m.role,
    content: typeof m.content === "string" ? [{ type: "text", text: m.content }] : m.content.map(part),
  }));
  const call: CallInput = { messages, maxTokens: r.max_tokens };
  if (r.system !== undefined)
    call.system =
      typeof r.system === "string"
        ? [{ type: "text", text: r.system }]
        : r.system.map((s) => ({
            type: "text",
            text: s.text,
            ...(s.cache_control ? { cache_control: s.cache_control } : {}),
          }));
  if (r.stop_sequences?.length) call.stop = r.stop_sequences;
  if (r.temperature !== undefined) call.temperature = r.temperature;
  if (r.top_p !== undefined) call.topP = r.top_p;
  if (r.top_k !== undefined) call.topK = r.top_k;
  if (r.metadata?.user_id) call.user = r.metadata.user_id;
  if (r.tools?.length)
    call.tools = r.tools.map((t) => ({
      name: t.name,
      parameters: t.input_schema,
      ...(t.description !== undefined ? { description: t.description } : {}),
      ...(t.strict !== undefined ? { strict: t.strict } : {}),
      ...(t.cache_control ? { cache_control: t.cache_control } : {}),
    }));
  const tc = r.tool_choice;
  if (tc) {
    if (tc.type === "tool" && !tc.name)
      throw new PipbotError("invalid_request", "tool_choice.name is required with type tool", {
        details: { path: "tool_choice.name" },
      });
    const choice: ToolChoice =
      tc.type === "any" ? "required" : tc.type === "tool" ? { type: "tool", name: tc.name ?? "" } : tc.type;
    call.toolChoice = choice;
    if (tc.disable_parallel_tool_use) call.parallelToolCalls = false;
  }
  if (r.thinking?.type === "enabled") call.reasoning = { budgetTokens: r.thinking.budget_tokens };
  if (r.output_config?.format)
    call.responseFormat = { type: "json_schema", schema: r.output_config.format.schema };
  if (r.cache_control) applyAutoCache(call);
  return call;
}

// ---- replies ------------------------------------------------------------------------------

function usage(o: ChatOutcome) {
  return {
    input_tokens: o.usage.inputTokens,
    output_tokens: o.usage.outputTokens,
    cache_creation_input_tokens: o.usage.cacheWriteTokens,
    cache_read_input_tokens: o.usage.cacheReadTokens,
  };
}

const STOP = new Set(["end_turn", "max_tokens", "stop_sequence", "tool_use", "refusal"]);
const stopReason = (s: string) => (STOP.has(s) ? s : "end_turn");

function contentBlocks(o: ChatOutcome) {
  return o.parts.map((p) => {
    if (p.type === "text") return { type: "text", text: p.text };
    if (p.type === "tool_call") return { type: "tool_use", id: p.id, name: p.name, input: p.input };
    if (p.redacted !== undefined) return { type: "redacted_thinking", data: p.redacted };
    return { type: "thinking", thinking: p.text, signature: p.signature ?? "" };
  });
}

export function messageBody(id: string, model: string, o: ChatOutcome) {
  return {
    id,
    type: "message",
    role: "assistant",
    model,
    content: contentBlocks(o),
    stop_reason: stopReason(String(o.stopReason)),
    stop_sequence: null,
    usage: usage(o),
  };
}

/** Our 503s (upstream unavailable, shutting down) are retryable: the SDKs retry overloaded_error. */
const errorType = (status: number) => (status === 503 ? "overloaded_error" : anthropicErrorType(status));

export function anthropicErrorBody(e: unknown) {
  const err = toPipbotError(e);
  return { type: "error", error: { type: errorType(err.status), message: err.message } };
}

export function anthropicErrorResponse(e: unknown): Response {
  const err = toPipbotError(e);
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (err.retryAfterMs !== undefined) headers["retry-after"] = retryAfterHeader(err.retryAfterMs);
  return new Response(JSON.stringify(anthropicErrorBody(err)), { status: err.status, headers });
}

const ev = (type: string, data: Record<string, unknown>) =>
  `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;

/** Anthropic's stream: message_start, content blocks (start / deltas / stop), message_delta, message_stop. */
export function anthropicFraming(id: string, model: string): SseFraming {
  let index = -1;
  let open: "text" | "thinking" | "tool" | undefined;
  const close = () => {
    if (!open) return "";
    open = undefined;
    return ev("content_block_stop", { index });
  };
  const begin = (kind: "text" | "thinking" | "tool", block: Record<string, unknown>) => {
    const out = close();
    index++;
    open = kind;
    return out + ev("content_block_start", { index, content_block: block });
  };
  return {
    start: (_ref: ModelRef) =>
      ev("message_start", {
        message: {
          id,
          type: "message",
          role: "assistant",
          model,
          content: [],
          stop_reason: null,
          stop_sequence: null,
          usage: { input_tokens: 0, output_tokens: 0 },
        },
      }),
    delta: (t) =>
      (open === "text" ? "" : begin("text", { type: "text", text: "" })) +
      ev("content_block_delta", { index, delta: { type: "text_delta", text: t } }),
    reasoning(piece) {
      if (piece.redacted !== undefined)
        return begin("thinking", { type: "redacted_thinking", data: piece.redacted }) + close();
      let out =
        open === "thinking" ? "" : begin("thinking", { type: "thinking", thinking: "", signature: "" });
      if (piece.text)
        out += ev("content_block_delta", { index, delta: { type: "thinking_delta", thinking: piece.text } });
      if (piece.signature !== undefined) {
        out += ev("content_block_delta", {
          index,
          delta: { type: "signature_delta", signature: piece.signature },
        });
        out += close();
      }
      return out;
    },
    toolStart: (_i, toolId, name) => begin("tool", { type: "tool_use", id: toolId, name, input: {} }),
    toolArgs: (_i, json) =>
      ev("content_block_delta", { index, delta: { type: "input_json_delta", partial_json: json } }),
    toolCall: () => close(),
    done: (o) =>
      close() +
      ev("message_delta", {
        delta: { stop_reason: stopReason(String(o.stopReason)), stop_sequence: null },
        usage: usage(o),
      }) +
      ev("message_stop", {}),
    error: (o) => close() + `event: error\ndata: ${JSON.stringify(anthropicErrorBody(o.error))}\n\n`,
  };
}
