/**
 * `POST /v1/chat/completions` responses and `GET /v1/models`: the OpenAI-compatible face of the AI
 * server, so any OpenAI client can use pipbot as its base URL. Responses, stream chunks (indexed
 * `tool_calls` fragments, `reasoning_content` deltas) and errors in OpenAI's shapes; requests are
 * read in openai-request.ts.
 */
import type { AssistantPart, ChatUsage, ToolCallPart } from "../shared/chat-api.ts";
import { type PipbotError, retryHeaders, toPipbotError } from "../shared/errors.ts";
import type { ChatOutcome } from "./chat.ts";
import type { ModelRef } from "./models.ts";
import type { SseFraming } from "./sse.ts";

/**
 * OpenAI's finish_reason for a canonical stop reason. A reason OpenAI has no word for (Gemini's
 * `malformed_function_call`, `language`, `other` …, Anthropic's `pause_turn`) is passed on as is,
 * as `/chat` reports it — never disguised as a clean `stop` (clients map unknown values to
 * "other").
 */
export function finishReason(stop: string): string {
  if (stop === "end_turn" || stop === "stop_sequence" || stop === "other") return "stop";
  if (stop === "max_tokens" || stop === "model_context_window_exceeded") return "length";
  if (stop === "tool_use") return "tool_calls";
  if (stop === "content_filter" || stop === "refusal") return "content_filter";
  return stop;
}

export function openaiUsage(u: ChatUsage) {
  const prompt = u.inputTokens + u.cacheReadTokens + u.cacheWriteTokens;
  return {
    prompt_tokens: prompt,
    completion_tokens: u.outputTokens,
    total_tokens: prompt + u.outputTokens,
    prompt_tokens_details: { cached_tokens: u.cacheReadTokens, cache_write_tokens: u.cacheWriteTokens },
    completion_tokens_details: { reasoning_tokens: u.reasoningTokens },
  };
}

const created = () => Math.floor(Date.now() / 1000);

function toolCallOf(p: ToolCallPart) {
  return {
    id: p.id,
    type: "function" as const,
    function: { name: p.name, arguments: JSON.stringify(p.input) },
    ...(p.signature !== undefined ? { extra_content: { google: { thought_signature: p.signature } } } : {}),
  };
}

/** The assistant message of a reply: content, tool_calls, reasoning_content and thinking_blocks. */
export function openaiMessage(parts: AssistantPart[], text: string) {
  const calls = parts.filter((p): p is ToolCallPart => p.type === "tool_call");
  const reasoning = parts.filter((p) => p.type === "reasoning");
  const msg: Record<string, unknown> = {
    role: "assistant",
    content: text === "" && calls.length ? null : text,
    refusal: null,
  };
  if (calls.length) msg.tool_calls = calls.map(toolCallOf);
  if (reasoning.length) {
    msg.reasoning_content = reasoning.map((r) => r.text).join("");
    if (reasoning.some((r) => r.signature !== undefined || r.redacted !== undefined))
      msg.thinking_blocks = reasoning.map((r) =>
        r.redacted !== undefined
          ? { type: "redacted_thinking", data: r.redacted }
          : {
              type: "thinking",
              thinking: r.text,
              ...(r.signature !== undefined ? { signature: r.signature } : {}),
            },
      );
  }
  return msg;
}

/**
 * An OpenAI refusal (Structured Outputs) is OpenAI's shape again: `refusal` holds the text,
 * `content` is null and `finish_reason` is `stop` (what the SDK's `parse()` expects).
 */
const openaiRefusal = (o: ChatOutcome) => o.stopReason === "refusal" && o.ref.provider === "openai";

export function completionBody(id: string, o: ChatOutcome) {
  const refused = openaiRefusal(o);
  const message = openaiMessage(o.parts, o.text);
  if (refused) {
    message.content = null;
    message.refusal = o.text;
  }
  return {
    id,
    object: "chat.completion",
    created: created(),
    model: o.ref.id,
    choices: [
      {
        index: 0,
        message,
        logprobs: null,
        finish_reason: refused ? "stop" : finishReason(String(o.stopReason)),
      },
    ],
    usage: openaiUsage(o.usage),
  };
}

/** OpenAI's error object for a PipbotError. */
export function openaiErrorBody(err: PipbotError) {
  const issues = err.details?.issues as { path: string }[] | undefined;
  const param = issues?.[0]?.path ?? (typeof err.details?.path === "string" ? err.details.path : null);
  const type =
    err.status === 401
      ? "authentication_error"
      : err.status === 429
        ? "rate_limit_error"
        : err.status >= 500
          ? "server_error"
          : "invalid_request_error";
  return { error: { message: err.message, type, param, code: err.code } };
}

export function openaiErrorResponse(e: unknown): Response {
  const err = toPipbotError(e);
  const headers = { "content-type": "application/json", ...retryHeaders(err) };
  return new Response(JSON.stringify(openaiErrorBody(err)), { status: err.status, headers });
}

/** `data:`-only chunks; usage chunk when asked; `[DONE]` only after a success. */
export function openaiFraming(id: string, includeUsage: boolean): SseFraming {
  let first = true;
  let model = "";
  const chunk = (delta: Record<string, unknown>, finish: string | null) => {
    if (first) {
      delta = { role: "assistant", ...delta };
      first = false;
    }
    return `data: ${JSON.stringify({
      id,
      object: "chat.completion.chunk",
      created: created(),
      model,
      choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
      ...(includeUsage ? { usage: null } : {}),
    })}\n\n`;
  };
  // Gemini sends each call whole, its thought signature last (tool_end): its calls are held until
  // then and sent as ONE fragment with the signature — Google's own OpenAI-compatible stream shape,
  // which the openai SDK's stream helper and the Vercel AI SDK take the signature from. Other
  // providers' calls stream as they come.
  let wholeCalls = false;
  let thinking = "";
  const blocks: Record<string, unknown>[] = [];
  const held = new Map<number, { id: string; name: string; args: string }>();
  return {
    start(ref: ModelRef) {
      model = ref.id;
      wholeCalls = ref.provider === "google";
      return "";
    },
    delta: (text) => chunk({ content: text }, null),
    // OpenAI's own refusal stream: `delta.refusal` pieces, then finish_reason stop (the SDK's
    // stream helper then gives `refusal` and `parsed: null`; the AI SDK a content-filter finish).
    refusal: (text) => chunk({ refusal: text }, null),
    // An Anthropic thinking block ends with its signature (or is redacted): the reply's blocks so
    // far are then sent as `thinking_blocks` (LiteLLM's field, as on non-stream replies) — the
    // whole list each time, since the openai SDK's stream helper keeps an unknown delta field's
    // last value — so a streaming client can send them back itself. Plain text pays nothing.
    reasoning(piece) {
      thinking += piece.text;
      const delta: Record<string, unknown> = piece.text ? { reasoning_content: piece.text } : {};
      if (piece.redacted !== undefined || piece.signature !== undefined) {
        blocks.push(
          piece.redacted !== undefined
            ? { type: "redacted_thinking", data: piece.redacted }
            : { type: "thinking", thinking, signature: piece.signature },
        );
        thinking = "";
        delta.thinking_blocks = blocks;
      }
      return piece.text || delta.thinking_blocks ? chunk(delta, null) : "";
    },
    toolStart(index, tid, name) {
      if (wholeCalls) {
        held.set(index, { id: tid, name, args: "" });
        return "";
      }
      return chunk(
        { tool_calls: [{ index, id: tid, type: "function", function: { name, arguments: "" } }] },
        null,
      );
    },
    toolArgs(index, json) {
      const h = held.get(index);
      if (h) {
        h.args += json;
        return "";
      }
      return chunk({ tool_calls: [{ index, function: { arguments: json } }] }, null);
    },
    toolCall(index, call) {
      const h = held.get(index);
      if (!h) return "";
      held.delete(index);
      const sig =
        call.signature !== undefined
          ? { extra_content: { google: { thought_signature: call.signature } } }
          : {};
      return chunk(
        {
          tool_calls: [
            { index, id: h.id, type: "function", function: { name: h.name, arguments: h.args }, ...sig },
          ],
        },
        null,
      );
    },
    done(o) {
      let out = first ? chunk({ content: "" }, null) : "";
      out += chunk({}, openaiRefusal(o) ? "stop" : finishReason(String(o.stopReason)));
      if (includeUsage)
        out += `data: ${JSON.stringify({ id, object: "chat.completion.chunk", created: created(), model, choices: [], usage: openaiUsage(o.usage) })}\n\n`;
      return `${out}data: [DONE]\n\n`;
    },
    error(o) {
      return `data: ${JSON.stringify(openaiErrorBody(toPipbotError(o.error)))}\n\n`;
    },
    // A failure before the first chunk is the HTTP error a non-stream request gets (OpenAI's API
    // and LiteLLM do the same): the SDKs raise NotFoundError, RateLimitError… and retry on status.
    errorResponse: (o) => openaiErrorResponse(o.error),
  };
}
