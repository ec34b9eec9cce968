/**
 * `POST /v1/messages` requests (Anthropic's Messages API; the schema is anthropic-schema.ts) → the
 * canonical call. Replies, stream events and errors in Anthropic's shapes are in anthropic-compat.ts.
 */
import type { CacheControl, ContentPart, ToolChoice } from "../shared/chat-api.ts";
import { PipbotError } from "../shared/errors.ts";
import type {
  AnthropicBlock,
  AnthropicDocumentBlock,
  AnthropicImageBlock,
  AnthropicRequest,
} from "./anthropic-schema.ts";
import { applyAutoCache } from "./chat-request.ts";
import { type ModelDefaults, type ModelRef, resolveModel } from "./models.ts";
import type { CallInput, ProviderMessage } from "./providers/index.ts";

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

function media(b: AnthropicImageBlock | AnthropicDocumentBlock): ContentPart {
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

function part(b: AnthropicBlock): ContentPart {
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
 * Code sends some on every request), as a call field (none: no field): passed on to Anthropic as
 * they came, which answers an unknown one with a 400 naming it.
 */
export function betasOf(req: Request): { betas?: string[] } {
  const betas = (req.headers.get("anthropic-beta") ?? "")
    .split(",")
    .map((b) => b.trim())
    .filter((b) => b !== "");
  return betas.length ? { betas } : {};
}
