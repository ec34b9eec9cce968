/**
 * `POST /v1/messages`: Anthropic's Messages API for `anthropic/` models through the same engine,
 * retries, usage and proxy-v1 as /chat, so `@anthropic-ai/sdk` (and Claude-native tools) can use
 * pipbot as their base URL. Replies, stream events and errors in Anthropic's shapes (requests are
 * read in anthropic-request.ts). Other providers' models get a 400 pointing at /v1/chat/completions.
 */
import { anthropicErrorType } from "../shared/anthropic-errors.ts";
import { type PipbotError, retryHeaders, toPipbotError } from "../shared/errors.ts";
import type { ChatOutcome } from "./chat.ts";
import type { ModelRef } from "./models.ts";
import type { UsagePatch } from "./providers/index.ts";
import type { SseFraming } from "./sse.ts";

function usage(o: ChatOutcome) {
  const u = o.usage;
  return {
    input_tokens: u.inputTokens,
    output_tokens: u.outputTokens,
    cache_creation_input_tokens: u.cacheWriteTokens,
    cache_read_input_tokens: u.cacheReadTokens,
    // Anthropic's breakdown of output_tokens, when the upstream reported thinking tokens.
    ...(u.reasoningTokens > 0 ? { output_tokens_details: { thinking_tokens: u.reasoningTokens } } : {}),
  };
}

/** The SDK's `StopReason`s: passed on as Anthropic sent them (others' reasons → end_turn). */
const STOP = new Set([
  "end_turn",
  "max_tokens",
  "stop_sequence",
  "tool_use",
  "pause_turn",
  "refusal",
  "model_context_window_exceeded",
]);
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
    stop_sequence: o.stopSequence ?? null,
    usage: usage(o),
  };
}

/** Our 503s (upstream unavailable, shutting down) are retryable: the SDKs retry overloaded_error. */
const errorType = (status: number) => (status === 503 ? "overloaded_error" : anthropicErrorType(status));

/**
 * A refused `thread` field (anthropic-request.ts) in Anthropic's rejection shape: the SDK's tool
 * runner (`client.beta.messages.toolRunner`, threaded by default) then stops threading and sends
 * the whole history, so it works unchanged.
 */
function threadRejection(err: PipbotError) {
  const issues = err.details?.issues;
  return Array.isArray(issues) && issues.some((i) => (i as { path?: unknown }).path === "thread")
    ? { details: { error_code: "thread_unsupported_request", unsupported: ["thread"] } }
    : {};
}

export function anthropicErrorBody(e: unknown) {
  const err = toPipbotError(e);
  return {
    type: "error",
    error: { type: errorType(err.status), message: err.message, ...threadRejection(err) },
  };
}

export function anthropicErrorResponse(e: unknown): Response {
  const err = toPipbotError(e);
  const headers = { "content-type": "application/json", ...retryHeaders(err) };
  return new Response(JSON.stringify(anthropicErrorBody(err)), { status: err.status, headers });
}

const ev = (type: string, data: Record<string, unknown>) =>
  `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;

/**
 * Anthropic's stream: message_start, content blocks (start / deltas / stop), message_delta,
 * message_stop; its headers wait for the first token, so an earlier failure is an HTTP error.
 */
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
    // Anthropic's message_start carries the input and cache usage (clients such as Cline and Roo
    // Code read them there, and only output_tokens from message_delta).
    start: (_ref: ModelRef, u?: UsagePatch) =>
      ev("message_start", {
        message: {
          id,
          type: "message",
          role: "assistant",
          model,
          content: [],
          stop_reason: null,
          stop_sequence: null,
          usage: {
            input_tokens: u?.inputTokens ?? 0,
            output_tokens: u?.outputTokens ?? 0,
            cache_creation_input_tokens: u?.cacheWriteTokens ?? 0,
            cache_read_input_tokens: u?.cacheReadTokens ?? 0,
          },
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
        delta: { stop_reason: stopReason(String(o.stopReason)), stop_sequence: o.stopSequence ?? null },
        usage: usage(o),
      }) +
      ev("message_stop", {}),
    error: (o) => close() + `event: error\ndata: ${JSON.stringify(anthropicErrorBody(o.error))}\n\n`,
    // A failure before any token is an HTTP error, as on Anthropic's API (the SDK's error classes).
    errorResponse: (o) => anthropicErrorResponse(o.error),
  };
}
