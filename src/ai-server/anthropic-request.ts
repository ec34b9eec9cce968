/**
 * `POST /v1/messages` requests (Anthropic's Messages API) → the canonical call. Replies, stream
 * events and errors in Anthropic's shapes are in anthropic-compat.ts.
 */
import { z } from "zod";
import {
  type CacheControl,
  type ContentPart,
  cacheControlSchema,
  type ToolChoice,
} from "../shared/chat-api.ts";
import { PipbotError } from "../shared/errors.ts";
import { applyAutoCache } from "./chat-request.ts";
import { type ModelDefaults, type ModelRef, resolveModel } from "./models.ts";
import type { CallInput, ProviderMessage } from "./providers/index.ts";

const cc = { cache_control: cacheControlSchema.nullable().optional() };
/** A field the Anthropic API takes that pipbot cannot honour: refused naming it, never dropped. */
const refuse = (message: string) => z.never({ message }).optional();
const source = z.union(
  [
    z.object({ type: z.literal("base64"), media_type: z.string(), data: z.string() }),
    z.object({ type: z.literal("url"), url: z.string().regex(/^https?:\/\//, "url must be http(s)") }),
  ],
  {
    message:
      'source must be {type:"base64", media_type, data} or {type:"url", url} (text, content and file sources are not supported)',
  },
);
const text = z.object({ type: z.literal("text"), text: z.string(), ...cc }).loose();
const image = z.object({ type: z.literal("image"), source, ...cc }).loose();
const document = z
  .object({
    type: z.literal("document"),
    source,
    title: z.string().nullable().optional(),
    ...cc,
    // The reply could not carry citations, and the canonical document has no context: refused.
    citations: z
      .object({
        enabled: z.literal(false, {
          message: "citations are not supported through pipbot: remove citations",
        }),
      })
      .nullable()
      .optional(),
    context: refuse("a document's context is not supported through pipbot: put it in a text block"),
  })
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
        content: z
          .union([z.string(), z.array(z.union([text, image]))], {
            message:
              "a tool_result's content must be a string or text and image blocks (documents and search results in tool results are not supported)",
          })
          .optional(),
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

/**
 * A string, or an array of blocks (a message's content, the system prompt). Not a `z.union`: when
 * both options fail, a union reports only "Invalid input" at the field; this reports the blocks'
 * own issues at their paths (`messages.0.content.1.source: …`).
 */
function stringOrBlocks<B extends z.ZodType>(item: B, what: string) {
  const blocks = z.array(item);
  return z.unknown().transform((v, ctx): string | z.output<B>[] => {
    if (typeof v === "string") return v;
    if (!Array.isArray(v)) {
      ctx.addIssue({ code: "custom", message: `${what} must be a string or an array of blocks` });
      return z.NEVER;
    }
    const r = blocks.safeParse(v);
    if (r.success) return r.data;
    for (const i of r.error.issues) ctx.addIssue({ code: "custom", message: i.message, path: i.path });
    return z.NEVER;
  });
}
const messageContent = stringOrBlocks(block, "content");

export const anthropicRequestSchema = z.strictObject({
  model: z.string().min(1),
  max_tokens: z.number().int().positive(),
  messages: z.array(z.object({ role: z.enum(["user", "assistant"]), content: messageContent })).min(1),
  system: stringOrBlocks(text, "system").optional(),
  stop_sequences: z.array(z.string()).optional(),
  temperature: z.number().min(0).max(1).optional(),
  top_p: z.number().min(0).max(1).optional(),
  top_k: z.number().int().positive().optional(),
  stream: z.boolean().optional(),
  metadata: z.strictObject({ user_id: z.string().nullable().optional() }).optional(),
  tools: z
    .array(
      z.strictObject({
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
    .strictObject({
      type: z.enum(["auto", "any", "tool", "none"]),
      name: z.string().optional(),
      disable_parallel_tool_use: z.boolean().optional(),
    })
    .optional(),
  thinking: z
    .discriminatedUnion(
      "type",
      [
        z.strictObject({
          type: z.literal("enabled"),
          budget_tokens: z.number().int().min(1024),
          // pipbot always asks for summarized thinking (the reasoning it returns and remembers).
          display: z
            .literal("summarized", {
              message: 'only "summarized" thinking is supported through pipbot: remove thinking.display',
            })
            .nullable()
            .optional(),
        }),
        z.strictObject({ type: z.literal("disabled") }),
      ],
      {
        message:
          'must be "enabled" or "disabled": adaptive and between_tools thinking are not supported through pipbot; send {type:"enabled", budget_tokens: N}',
      },
    )
    .optional(),
  output_config: z
    .strictObject({
      effort: refuse(
        'output_config.effort is not supported through pipbot: send thinking: {type:"enabled", budget_tokens: N} instead',
      ),
      format: z
        .object({ type: z.literal("json_schema"), schema: z.record(z.string(), z.unknown()) })
        .nullable()
        .optional(),
    })
    .optional(),
  /** Request-level automatic caching: the server places breakpoints (as /chat's cache:"auto"). */
  cache_control: cacheControlSchema.nullable().optional(),
  /**
   * Server-held message threads: pipbot holds none. Refused in Anthropic's thread_unsupported_request
   * shape (anthropic-compat.ts), on which the SDK's tool runner sends the whole history instead.
   */
  thread: z
    .never({
      message:
        "message threads (server-held conversations) are not supported through pipbot: send the whole history in messages",
    })
    .nullable()
    .optional(),
});
export type AnthropicRequest = z.infer<typeof anthropicRequestSchema>;

/**
 * The model of an Anthropic-API request: a bare id (what @anthropic-ai/sdk users send: "claude-…")
 * is an Anthropic model; another provider's model is a 400 naming it, `route` and `instead`.
 */
export function anthropicModel(
  model: string,
  route: string,
  instead: string,
  d: ModelDefaults,
  configured: Parameters<typeof resolveModel>[3],
): ModelRef {
  const ref = resolveModel(model, model.includes("/") ? undefined : "anthropic", d, configured);
  if (ref.provider !== "anthropic")
    throw new PipbotError(
      "invalid_request",
      `${route} serves anthropic/ models only; ${ref.id} is ${/^[aeiou]/.test(ref.provider) ? "an" : "a"} ${ref.provider} model: ${instead}`,
      { details: { path: "model" } },
    );
  return ref;
}

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
  if (r.cache_control) applyAutoCache(call, r.cache_control);
  return call;
}

/**
 * The `anthropic-beta` features a request asks for (`client.beta.messages…({ betas })`; Claude
 * Code sends some on every request): passed on to Anthropic as they came, which answers an unknown
 * one with a 400 naming it.
 */
export function anthropicBetas(req: Request): string[] | undefined {
  const betas = (req.headers.get("anthropic-beta") ?? "")
    .split(",")
    .map((b) => b.trim())
    .filter((b) => b !== "");
  return betas.length ? betas : undefined;
}

/** The caller's Anthropic beta features as a call field (none: no field). */
export function betasOf(req: Request): { betas?: string[] } {
  const betas = anthropicBetas(req);
  return betas ? { betas } : {};
}
