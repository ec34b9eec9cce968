/**
 * The `POST /v1/messages` request schema (zod): Anthropic's Messages API as pipbot carries it.
 * What pipbot cannot honour is refused here with a message naming the field and the fix (never
 * ignored); anthropic-request.ts turns a valid request into the canonical call.
 */
import { z } from "zod";
import { cacheControlSchema } from "../shared/chat-api.ts";

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
export type AnthropicImageBlock = z.infer<typeof image>;
export type AnthropicDocumentBlock = z.infer<typeof document>;
export type AnthropicBlock = z.infer<typeof block>;
