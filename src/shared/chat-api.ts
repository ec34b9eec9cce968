/**
 * The AI server's `POST /chat` contract, used by the AI server (validation, SSE events) and by
 * the gateway (client). One place for the request, the non-stream response and the stream events.
 *
 * Stream (SSE, `event: <type>` + `data: <json>`):
 *   start {id, provider, model}  →  delta {text} …  →  exactly one of  done {message, stopReason, usage}
 *                                                                   or error {code, message, retryable, retryAfterMs?}
 * Comment lines (`: keep-alive`) may appear anywhere while the upstream is silent.
 */
import { z } from "zod";

export const PROVIDERS = ["anthropic", "openai", "google"] as const;
export type Provider = (typeof PROVIDERS)[number];
/** "anthropic, openai or google", for messages. */
export const PROVIDER_CHOICES = `${PROVIDERS.slice(0, -1).join(", ")} or ${PROVIDERS.at(-1)}`;

export const textBlockSchema = z.object({ type: z.literal("text"), text: z.string() });

export const chatMessageSchema = z.object({
  role: z.enum(["user", "assistant"], { message: 'role must be "user" or "assistant"' }),
  content: z.union([z.string(), z.array(textBlockSchema).min(1, "content blocks must not be empty")], {
    message: 'content must be a string or an array of {type:"text", text} blocks',
  }),
});

export const chatRequestSchema = z.strictObject({
  provider: z.enum(PROVIDERS, { message: `provider must be ${PROVIDER_CHOICES}` }).optional(),
  model: z.string().min(1, "model must be a non-empty string").optional(),
  messages: z.array(chatMessageSchema).min(1, "messages must contain at least one message"),
  system: z.string().optional(),
  max_tokens: z.number().int().positive().max(1_000_000).optional(),
  temperature: z.number().min(0).max(2).optional(),
  stream: z.boolean().optional(),
  fallbacks: z.array(z.string().min(1)).max(10).optional(),
  metadata: z
    .object({ conversationId: z.string().max(200).optional() })
    .loose()
    .optional(),
});

export type ChatMessage = z.infer<typeof chatMessageSchema>;
export type ChatRequest = z.infer<typeof chatRequestSchema>;

/** Token usage of one request: the one usage type (the store, the AI server and the gateway use it). */
export const chatUsageSchema = z.object({
  inputTokens: z.number(),
  outputTokens: z.number(),
  cacheReadTokens: z.number(),
  cacheWriteTokens: z.number(),
  reasoningTokens: z.number(),
  /** True when the upstream never reported usage (e.g. aborted OpenAI stream) and we estimated. */
  estimated: z.boolean().optional(),
});
export type ChatUsage = z.infer<typeof chatUsageSchema>;

/** Canonical stop reasons (each provider's are mapped onto these). */
export type StopReason =
  | "end_turn"
  | "max_tokens"
  | "stop_sequence"
  | "tool_use"
  | "refusal"
  | "content_filter"
  | "other";

export const assistantMessageSchema = z.object({
  role: z.literal("assistant"),
  content: z.array(textBlockSchema),
});
export type AssistantMessage = z.infer<typeof assistantMessageSchema>;

export interface ChatResponse {
  id: string;
  provider: Provider;
  model: string;
  message: AssistantMessage;
  stopReason: StopReason | string;
  usage: ChatUsage;
  attempts: number;
}

// ---- stream events ----------------------------------------------------------------------------

export const streamStartSchema = z.object({ id: z.string(), provider: z.string(), model: z.string() });
export const streamDeltaSchema = z.object({ text: z.string() });
export const streamDoneSchema = z.object({
  message: assistantMessageSchema,
  stopReason: z.string(),
  usage: chatUsageSchema,
});
export const streamErrorSchema = z.object({
  code: z.string(),
  message: z.string(),
  retryable: z.boolean(),
  retryAfterMs: z.number().optional(),
});

export type StreamEvent =
  | { type: "start"; data: z.infer<typeof streamStartSchema> }
  | { type: "delta"; data: z.infer<typeof streamDeltaSchema> }
  | { type: "done"; data: z.infer<typeof streamDoneSchema> }
  | { type: "error"; data: z.infer<typeof streamErrorSchema> };

const eventSchemas = {
  start: streamStartSchema,
  delta: streamDeltaSchema,
  done: streamDoneSchema,
  error: streamErrorSchema,
} as const;

/** Validate one SSE event (name + JSON data) of the /chat stream; null when unknown or malformed. */
export function parseStreamEvent(event: string, data: string): StreamEvent | null {
  if (!(event in eventSchemas)) return null;
  let json: unknown;
  try {
    json = JSON.parse(data);
  } catch {
    return null;
  }
  const parsed = eventSchemas[event as keyof typeof eventSchemas].safeParse(json);
  return parsed.success ? ({ type: event, data: parsed.data } as StreamEvent) : null;
}

/** Serialize one event as an SSE frame. */
export function formatStreamEvent(ev: StreamEvent): string {
  return `event: ${ev.type}\ndata: ${JSON.stringify(ev.data)}\n\n`;
}

/** Text of a message's content (string or blocks). */
export function contentText(content: ChatMessage["content"]): string {
  return typeof content === "string" ? content : content.map((b) => b.text).join("");
}

/** Split `provider/model`; a bare model returns provider undefined. */
export function splitModel(model: string): { provider?: Provider; model: string } {
  const i = model.indexOf("/");
  if (i > 0) {
    const p = model.slice(0, i);
    if ((PROVIDERS as readonly string[]).includes(p))
      return { provider: p as Provider, model: model.slice(i + 1) };
  }
  return { model };
}
