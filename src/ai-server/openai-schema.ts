/**
 * The `POST /v1/chat/completions` request schema (zod): every OpenAI parameter pipbot carries, plus
 * the LiteLLM / Google extensions openai-request.ts describes. Unknown keys pass validation and are
 * refused there (or dropped on request), never ignored.
 */
import { z } from "zod";
import { cacheControlSchema, REASONING_EFFORTS } from "../shared/chat-api.ts";

const cc = { cache_control: cacheControlSchema.optional() };
const textPart = z.object({ type: z.literal("text"), text: z.string(), ...cc }).loose();
const imagePart = z
  .object({
    type: z.literal("image_url"),
    image_url: z.object({ url: z.string().min(1), detail: z.enum(["auto", "low", "high"]).optional() }),
    ...cc,
  })
  .loose();
const filePart = z
  .object({
    type: z.literal("file"),
    file: z.object({
      file_data: z.string().optional(),
      file_id: z.string().optional(),
      filename: z.string().optional(),
    }),
    ...cc,
  })
  .loose();
export const userPart = z.discriminatedUnion("type", [textPart, imagePart, filePart], {
  message:
    'content parts must be {type:"text"}, {type:"image_url"} or {type:"file"} (audio is not supported)',
});
const toolCall = z
  .object({
    id: z.string().min(1),
    type: z.literal("function").optional(),
    function: z.object({ name: z.string().min(1), arguments: z.string() }),
    extra_content: z
      .object({ google: z.object({ thought_signature: z.string().optional() }).optional() })
      .optional(),
  })
  .loose();
const thinkingBlock = z.union([
  z.object({ type: z.literal("thinking"), thinking: z.string(), signature: z.string().optional() }).loose(),
  z.object({ type: z.literal("redacted_thinking"), data: z.string() }).loose(),
]);

const assistantMessage = z
  .object({
    role: z.literal("assistant"),
    content: z
      .union([z.string(), z.array(textPart)])
      .nullable()
      .optional(),
    tool_calls: z.array(toolCall).optional(),
    /** A refused turn sent back as the SDK returned it (content null): its text is the turn's. */
    refusal: z.string().nullable().optional(),
    reasoning_content: z.string().nullable().optional(),
    thinking_blocks: z.array(thinkingBlock).optional(),
  })
  .loose();
export type AssistantMessage = z.infer<typeof assistantMessage>;
const message = z.discriminatedUnion(
  "role",
  [
    z.object({ role: z.literal("system"), content: z.union([z.string(), z.array(textPart)]) }).loose(),
    z.object({ role: z.literal("developer"), content: z.union([z.string(), z.array(textPart)]) }).loose(),
    z.object({ role: z.literal("user"), content: z.union([z.string(), z.array(userPart)]) }).loose(),
    assistantMessage,
    z
      .object({
        role: z.literal("tool"),
        tool_call_id: z.string().min(1),
        content: z.union([z.string(), z.array(textPart)]),
      })
      .loose(),
  ],
  { message: "role must be system, developer, user, assistant or tool" },
);

const tool = z.object({
  type: z.literal("function"),
  function: z.object({
    name: z.string().regex(/^[a-zA-Z0-9_-]{1,64}$/, "tool name must be 1–64 of a-z A-Z 0-9 _ -"),
    description: z.string().optional(),
    parameters: z.record(z.string(), z.unknown()).optional(),
    strict: z.boolean().nullable().optional(),
  }),
  ...cc,
});

const responseFormat = z.discriminatedUnion("type", [
  z.object({ type: z.literal("text") }),
  z.object({ type: z.literal("json_object") }),
  z.object({
    type: z.literal("json_schema"),
    json_schema: z.object({
      name: z.string().regex(/^[a-zA-Z0-9_-]{1,64}$/, "json_schema.name must be 1–64 of a-z A-Z 0-9 _ -"),
      description: z.string().optional(),
      schema: z.record(z.string(), z.unknown()).optional(),
      strict: z.boolean().nullable().optional(),
    }),
  }),
]);

const num = (min: number, max: number) => z.number().min(min).max(max).nullable().optional();

/** The parameters we carry; anything else is refused (or dropped on request). */
export const known = {
  model: z.string().min(1, "model must be a non-empty string").optional(),
  messages: z.array(message).min(1, "messages must contain at least one message"),
  stream: z.boolean().nullable().optional(),
  stream_options: z.object({ include_usage: z.boolean().optional() }).loose().nullable().optional(),
  max_tokens: z.number().int().positive().nullable().optional(),
  max_completion_tokens: z.number().int().positive().nullable().optional(),
  temperature: num(0, 2),
  top_p: num(0, 1),
  top_k: z.number().int().positive().nullable().optional(),
  frequency_penalty: num(-2, 2),
  presence_penalty: num(-2, 2),
  stop: z
    .union([z.string().min(1), z.array(z.string().min(1)).max(16)])
    .nullable()
    .optional(),
  seed: z.number().int().nullable().optional(),
  n: z.number().int().positive().nullable().optional(),
  user: z.string().max(256).optional(),
  safety_identifier: z.string().max(256).optional(),
  metadata: z.record(z.string(), z.string()).nullable().optional(),
  tools: z.array(tool).max(128).optional(),
  tool_choice: z
    .union([
      z.enum(["auto", "none", "required"]),
      z.object({ type: z.literal("function"), function: z.object({ name: z.string().min(1) }) }),
    ])
    .optional(),
  parallel_tool_calls: z.boolean().nullable().optional(),
  response_format: responseFormat.optional(),
  reasoning_effort: z
    .enum(REASONING_EFFORTS, {
      message: "reasoning_effort must be none, minimal, low, medium or high",
    })
    .nullable()
    .optional(),
  prompt_cache_key: z.string().optional(),
  logprobs: z.boolean().nullable().optional(),
  store: z.boolean().nullable().optional(),
  drop_params: z.boolean().optional(),
};

export const openaiRequestSchema = z.object(known).loose();
export type OpenAIRequest = z.infer<typeof openaiRequestSchema>;
