/**
 * The AI server's `POST /chat` contract, used by the AI server (validation) and by the gateway
 * (client): the request, its content parts and the non-stream response. The stream's events are
 * in chat-stream.ts.
 *
 * Message content is a string or an array of parts (docs/AI-SERVER.md has the full table):
 *   user:      text | image | document | tool_result
 *   assistant: text | reasoning | tool_call   (send reasoning and tool calls back unchanged)
 */
import { z } from "zod";

export const PROVIDERS = ["anthropic", "openai", "google"] as const;
export type Provider = (typeof PROVIDERS)[number];
/** "anthropic, openai or google", for messages. */
export const PROVIDER_CHOICES = `${PROVIDERS.slice(0, -1).join(", ")} or ${PROVIDERS.at(-1)}`;

/** Anthropic-style cache breakpoint: the prompt up to and including this part is cached. */
export const cacheControlSchema = z.object({
  type: z.literal("ephemeral"),
  ttl: z.enum(["5m", "1h"]).optional(),
});
export type CacheControl = z.infer<typeof cacheControlSchema>;
const cc = { cache_control: cacheControlSchema.optional() };

export const textBlockSchema = z.object({ type: z.literal("text"), text: z.string(), ...cc });

export const IMAGE_TYPES = ["image/png", "image/jpeg", "image/gif", "image/webp"] as const;
export const DOCUMENT_TYPES = ["application/pdf"] as const;

/** Image and document parts: inline base64 `data` or an http(s) `url` (exactly one). */
const source = {
  data: z.string().min(1, "data must be non-empty base64").optional(),
  url: z
    .string()
    .regex(/^https?:\/\/\S+$/, "url must be an http(s) URL")
    .optional(),
};
type Sourced = { data?: string | undefined; url?: string | undefined };
const oneSource = (p: Sourced) => (p.data === undefined) !== (p.url === undefined);
const oneSourceMsg = { message: "give exactly one of data (base64) or url" };

export const imagePartSchema = z
  .object({
    type: z.literal("image"),
    /** Required with data; with url it may be left out (taken from the fetched content-type). */
    mimeType: z
      .enum(IMAGE_TYPES, { message: `mimeType must be one of ${IMAGE_TYPES.join(", ")}` })
      .optional(),
    ...source,
    ...cc,
  })
  .refine(oneSource, oneSourceMsg)
  .refine((p) => p.url !== undefined || p.mimeType !== undefined, {
    message: "mimeType is required with data",
  });

export const documentPartSchema = z
  .object({
    type: z.literal("document"),
    mimeType: z.enum(DOCUMENT_TYPES, { message: 'mimeType must be "application/pdf"' }),
    fileName: z.string().max(255).optional(),
    ...source,
    ...cc,
  })
  .refine(oneSource, oneSourceMsg);

/** A tool call the model made (assistant messages). `signature`: Gemini's thought signature. */
export const toolCallPartSchema = z.object({
  type: z.literal("tool_call"),
  id: z.string().min(1),
  name: z.string().min(1),
  input: z.record(z.string(), z.unknown()),
  signature: z.string().optional(),
});

/** The result of one tool call (user messages; OpenAI's role:"tool" messages become these). */
export const toolResultPartSchema = z.object({
  type: z.literal("tool_result"),
  toolCallId: z.string().min(1),
  /** The tool's name (Gemini's functionResponse needs it; taken from the matching call when absent). */
  name: z.string().optional(),
  content: z.union([z.string(), z.array(z.union([textBlockSchema, imagePartSchema]))]),
  isError: z.boolean().optional(),
  ...cc,
});

/**
 * The model's reasoning (assistant messages). Send it back unchanged on the next turn: Anthropic
 * requires each thinking block's `signature`; `redacted` carries a redacted block's opaque data.
 */
export const reasoningPartSchema = z.object({
  type: z.literal("reasoning"),
  text: z.string(),
  signature: z.string().optional(),
  redacted: z.string().optional(),
});

export const contentPartSchema = z.union([
  textBlockSchema,
  imagePartSchema,
  documentPartSchema,
  toolCallPartSchema,
  toolResultPartSchema,
  reasoningPartSchema,
]);
export type ContentPart = z.infer<typeof contentPartSchema>;
export type TextPart = z.infer<typeof textBlockSchema>;
export type ImagePart = z.infer<typeof imagePartSchema>;
export type DocumentPart = z.infer<typeof documentPartSchema>;
export type ToolCallPart = z.infer<typeof toolCallPartSchema>;
export type ToolResultPart = z.infer<typeof toolResultPartSchema>;
export type ReasoningPart = z.infer<typeof reasoningPartSchema>;

const PARTS_BY_ROLE = {
  user: ["text", "image", "document", "tool_result"],
  assistant: ["text", "tool_call", "reasoning"],
} as const;

export const chatMessageSchema = z
  .object({
    role: z.enum(["user", "assistant"], { message: 'role must be "user" or "assistant"' }),
    content: z.union([z.string(), z.array(contentPartSchema).min(1, "content blocks must not be empty")], {
      message:
        "content must be a string or an array of content parts (text, image, document, tool_call, tool_result, reasoning)",
    }),
  })
  .superRefine((m, ctx) => {
    if (typeof m.content === "string") return;
    const allowed: readonly string[] = PARTS_BY_ROLE[m.role];
    m.content.forEach((p, i) => {
      if (!allowed.includes(p.type))
        ctx.addIssue({
          code: "custom",
          path: ["content", i, "type"],
          message: `a ${m.role} message cannot hold a "${p.type}" part (allowed: ${allowed.join(", ")})`,
        });
    });
  });

/** A tool the model may call; `parameters` is a JSON Schema object. */
export const toolSchema = z.object({
  name: z.string().regex(/^[a-zA-Z0-9_-]{1,64}$/, "tool name must be 1–64 of a-z A-Z 0-9 _ -"),
  description: z.string().optional(),
  parameters: z.record(z.string(), z.unknown()).optional(),
  strict: z.boolean().optional(),
  ...cc,
});
export type ToolDef = z.infer<typeof toolSchema>;

export const toolChoiceSchema = z.union([
  z.enum(["auto", "none", "required"]),
  z.object({ type: z.literal("tool"), name: z.string().min(1) }),
]);
export type ToolChoice = z.infer<typeof toolChoiceSchema>;

export const responseFormatSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("text") }),
  z.object({ type: z.literal("json_object") }),
  z.object({
    type: z.literal("json_schema"),
    name: z
      .string()
      .regex(/^[a-zA-Z0-9_-]{1,64}$/, "schema name must be 1–64 of a-z A-Z 0-9 _ -")
      .optional(),
    description: z.string().optional(),
    schema: z.record(z.string(), z.unknown()),
    strict: z.boolean().optional(),
  }),
]);
export type ResponseFormat = z.infer<typeof responseFormatSchema>;

/** `none`: no reasoning at all (a model that reasons by default is told not to). */
export const REASONING_EFFORTS = ["none", "minimal", "low", "medium", "high"] as const;
export type ReasoningEffort = (typeof REASONING_EFFORTS)[number];
export const reasoningSchema = z
  .strictObject({
    effort: z
      .enum(REASONING_EFFORTS, { message: `effort must be one of ${REASONING_EFFORTS.join(", ")}` })
      .optional(),
    /** An explicit thinking budget in tokens (Anthropic, Gemini); OpenAI takes effort only. */
    budgetTokens: z.number().int().min(0).max(1_000_000).optional(),
  })
  .refine((r) => !(r.effort === "none" && (r.budgetTokens ?? 0) > 0), {
    message: "effort none and a budgetTokens above 0 contradict each other: send one of them",
  });
export type Reasoning = z.infer<typeof reasoningSchema>;

export const chatRequestSchema = z.strictObject({
  provider: z.enum(PROVIDERS, { message: `provider must be ${PROVIDER_CHOICES}` }).optional(),
  model: z.string().min(1, "model must be a non-empty string").optional(),
  messages: z.array(chatMessageSchema).min(1, "messages must contain at least one message"),
  /** A string, or text blocks (each may carry cache_control). */
  system: z
    .union([z.string(), z.array(textBlockSchema).min(1, "system blocks must not be empty")])
    .optional(),
  max_tokens: z.number().int().positive().max(1_000_000).optional(),
  temperature: z.number().min(0).max(2).optional(),
  top_p: z.number().min(0).max(1).optional(),
  stop: z.array(z.string().min(1)).min(1).max(16).optional(),
  seed: z.number().int().optional(),
  stream: z.boolean().optional(),
  fallbacks: z.array(z.string().min(1)).max(10).optional(),
  tools: z.array(toolSchema).max(128).optional(),
  tool_choice: toolChoiceSchema.optional(),
  parallel_tool_calls: z.boolean().optional(),
  response_format: responseFormatSchema.optional(),
  reasoning: reasoningSchema.optional(),
  /** "auto": the server places cache breakpoints itself (system + the last turns; Anthropic). */
  cache: z.literal("auto").optional(),
  /** The end user: logged, stored with usage, and sent to providers that take it. */
  user: z.string().max(256).optional(),
  /**
   * true: parameters the chosen provider cannot honour are dropped (and listed in the
   * `x-pipbot-dropped-params` response header) instead of a 400.
   */
  drop_params: z.boolean().optional(),
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

/** The reply: reasoning, text and tool calls in the order the model gave them. */
export const assistantMessageSchema = z.object({
  role: z.literal("assistant"),
  content: z.array(z.union([textBlockSchema, reasoningPartSchema, toolCallPartSchema])),
});
export type AssistantMessage = z.infer<typeof assistantMessageSchema>;
export type AssistantPart = AssistantMessage["content"][number];

export interface ChatResponse {
  id: string;
  provider: Provider;
  model: string;
  message: AssistantMessage;
  stopReason: StopReason | string;
  usage: ChatUsage;
  attempts: number;
}

/** Text of a message's content: the string, or its text parts joined (reasoning excluded). */
export function contentText(content: ChatMessage["content"] | AssistantMessage["content"]): string {
  if (typeof content === "string") return content;
  let out = "";
  for (const b of content) if (b.type === "text") out += b.text;
  return out;
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
