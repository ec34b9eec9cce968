/**
 * `POST /v1/chat/completions` and `GET /v1/models`: the OpenAI-compatible face of the AI server,
 * so any OpenAI client can use pipbot as its base URL (model ids `provider/model`, or bare → the
 * default provider). Requests, responses, stream chunks and errors in OpenAI's shapes.
 */

import { z } from "zod";
import { retryAfterHeader } from "../shared/backoff.ts";
import type { ChatUsage, Provider } from "../shared/chat-api.ts";
import { type PipbotError, toPipbotError } from "../shared/errors.ts";
import type { ChatOutcome } from "./chat.ts";
import type { ModelRef } from "./models.ts";
import type { SseFraming } from "./sse.ts";

const part = z.object({ type: z.literal("text"), text: z.string() }).loose();

export const openaiRequestSchema = z
  .object({
    model: z.string().min(1, "model must be a non-empty string").optional(),
    messages: z
      .array(
        z
          .object({
            role: z.enum(["system", "developer", "user", "assistant"], {
              message: "role must be system, developer, user or assistant (tool messages are not supported)",
            }),
            content: z.union([z.string(), z.array(part)], {
              message: 'content must be a string or an array of {type:"text", text} parts',
            }),
          })
          .loose(),
      )
      .min(1, "messages must contain at least one message"),
    stream: z.boolean().optional(),
    stream_options: z.object({ include_usage: z.boolean().optional() }).loose().nullable().optional(),
    max_tokens: z.number().int().positive().nullable().optional(),
    max_completion_tokens: z.number().int().positive().nullable().optional(),
    temperature: z.number().min(0).max(2).nullable().optional(),
    user: z.string().optional(),
  })
  .loose();

export type OpenAIRequest = z.infer<typeof openaiRequestSchema>;

/** OpenAI messages → system text + user/assistant turns. */
export function fromOpenAI(r: OpenAIRequest): {
  system?: string;
  messages: { role: "user" | "assistant"; text: string }[];
} {
  const text = (c: OpenAIRequest["messages"][number]["content"]) =>
    typeof c === "string" ? c : c.map((p) => p.text).join("");
  const sys = r.messages
    .filter((m) => m.role === "system" || m.role === "developer")
    .map((m) => text(m.content));
  const messages = r.messages
    .filter((m) => m.role === "user" || m.role === "assistant")
    .map((m) => ({ role: m.role as "user" | "assistant", text: text(m.content) }));
  return { ...(sys.length ? { system: sys.join("\n\n") } : {}), messages };
}

export function finishReason(stop: string): string {
  if (stop === "max_tokens") return "length";
  if (stop === "tool_use") return "tool_calls";
  if (stop === "content_filter") return "content_filter";
  return "stop";
}

export function openaiUsage(u: ChatUsage) {
  const prompt = u.inputTokens + u.cacheReadTokens + u.cacheWriteTokens;
  return {
    prompt_tokens: prompt,
    completion_tokens: u.outputTokens,
    total_tokens: prompt + u.outputTokens,
    prompt_tokens_details: { cached_tokens: u.cacheReadTokens },
    completion_tokens_details: { reasoning_tokens: u.reasoningTokens },
  };
}

const created = () => Math.floor(Date.now() / 1000);

export function completionBody(id: string, o: ChatOutcome) {
  return {
    id,
    object: "chat.completion",
    created: created(),
    model: o.ref.id,
    choices: [
      {
        index: 0,
        message: { role: "assistant", content: o.text, refusal: null },
        logprobs: null,
        finish_reason: finishReason(String(o.stopReason)),
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
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (err.retryAfterMs !== undefined) {
    headers["retry-after"] = retryAfterHeader(err.retryAfterMs);
    headers["retry-after-ms"] = String(err.retryAfterMs);
  }
  return new Response(JSON.stringify(openaiErrorBody(err)), { status: err.status, headers });
}

/** `data:`-only chunks; usage chunk when asked; `[DONE]` only after a success. */
export function openaiFraming(id: string, includeUsage: boolean): SseFraming {
  let first = true;
  let model = "";
  const chunk = (delta: Record<string, unknown>, finish: string | null) =>
    `data: ${JSON.stringify({
      id,
      object: "chat.completion.chunk",
      created: created(),
      model,
      choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
      ...(includeUsage ? { usage: null } : {}),
    })}\n\n`;
  return {
    start(ref: ModelRef) {
      model = ref.id;
      return "";
    },
    delta(text) {
      const d: Record<string, unknown> = first ? { role: "assistant", content: text } : { content: text };
      first = false;
      return chunk(d, null);
    },
    done(o) {
      let out = first ? chunk({ role: "assistant", content: "" }, null) : "";
      out += chunk({}, finishReason(String(o.stopReason)));
      if (includeUsage)
        out += `data: ${JSON.stringify({ id, object: "chat.completion.chunk", created: created(), model, choices: [], usage: openaiUsage(o.usage) })}\n\n`;
      return `${out}data: [DONE]\n\n`;
    },
    error(o) {
      return `data: ${JSON.stringify(openaiErrorBody(toPipbotError(o.error)))}\n\n`;
    },
  };
}

export function modelsBody(models: ModelRef[]) {
  return {
    object: "list",
    data: models.map((m) => ({ id: m.id, object: "model", created: 0, owned_by: m.provider as Provider })),
  };
}
