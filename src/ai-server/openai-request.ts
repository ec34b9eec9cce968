/**
 * `POST /v1/chat/completions` requests → the canonical call. Every OpenAI parameter is either
 * carried (natively or translated per provider) or refused with a 400 naming it — an unknown or
 * unsupported parameter is never silently ignored (`drop_params: true` / `x-pipbot-drop-params`
 * drops it instead and the response lists it in `x-pipbot-dropped-params`).
 *
 * Extensions understood here (LiteLLM / Google compatible): `cache_control` on content parts and
 * tools (Anthropic breakpoints), `reasoning_content` + `thinking_blocks` on assistant messages
 * (Anthropic thinking with its signatures, sent back), `extra_content.google.thought_signature`
 * on tool calls (Gemini), `top_k`.
 */
import type { z } from "zod";
import type { ContentPart, cacheControlSchema, ResponseFormat, ToolChoice } from "../shared/chat-api.ts";
import { PipbotError } from "../shared/errors.ts";
import { checkDocumentType, checkImageType, parseDataUri } from "./media.ts";
import { type AssistantMessage, known, type OpenAIRequest, type userPart } from "./openai-schema.ts";
import type { CallInput, ProviderMessage } from "./providers/index.ts";

/** A forced tool choice (`required` or a named tool) with no tools offered cannot be honoured. */
const forcedWithoutTools = (r: OpenAIRequest) =>
  r.tool_choice !== undefined && r.tool_choice !== "auto" && r.tool_choice !== "none" && !r.tools?.length;

/**
 * Parameters we recognise but cannot carry (one-choice engine, no logprobs, …), by their path:
 * also those inside messages that OpenAI honours and the canonical call has no place for — a
 * participant's `name` (a tool result's is only its tool's name: accepted) and an image's
 * `detail` other than `auto`.
 */
function unsupportedParams(r: OpenAIRequest): string[] {
  const out: string[] = [];
  for (const k of Object.keys(r)) if (!(k in known)) out.push(k);
  if (r.n != null && r.n > 1) out.push("n");
  if (r.logprobs === true) out.push("logprobs");
  if (r.store === true) out.push("store");
  if (forcedWithoutTools(r)) out.push("tool_choice");
  r.messages.forEach((m, i) => {
    if (m.role !== "tool" && (m as { name?: unknown }).name != null) out.push(`messages.${i}.name`);
    if (m.role === "user" && typeof m.content !== "string")
      m.content.forEach((p, j) => {
        if (p.type === "image_url" && p.image_url.detail !== undefined && p.image_url.detail !== "auto")
          out.push(`messages.${i}.content.${j}.image_url.detail`);
      });
  });
  return out;
}

function mediaPart(p: z.infer<typeof userPart>, path: string): ContentPart {
  const cache = p.cache_control ? { cache_control: p.cache_control } : {};
  if (p.type === "text") return { type: "text", text: p.text, ...cache };
  if (p.type === "image_url") {
    const url = p.image_url.url;
    if (url.startsWith("data:")) {
      const d = parseDataUri(url, `${path}.image_url.url`);
      return {
        type: "image",
        mimeType: checkImageType(d.mimeType, `${path}.image_url.url`),
        data: d.data,
        ...cache,
      };
    }
    if (!/^https?:\/\//.test(url))
      throw new PipbotError(
        "invalid_request",
        `${path}.image_url.url must be a data: URI or an http(s) URL`,
        {
          details: { path: `${path}.image_url.url` },
        },
      );
    return { type: "image", url, ...cache };
  }
  if (p.file.file_id !== undefined || p.file.file_data === undefined)
    throw new PipbotError(
      "invalid_request",
      `${path}.file: send file_data (a data: URI); uploaded file ids are not supported`,
      {
        details: { path: `${path}.file` },
      },
    );
  const d = parseDataUri(p.file.file_data, `${path}.file.file_data`);
  return {
    type: "document",
    mimeType: checkDocumentType(d.mimeType, `${path}.file.file_data`),
    data: d.data,
    ...(p.file.filename ? { fileName: p.file.filename } : {}),
    ...cache,
  };
}

const textParts = (
  c: string | { text: string; cache_control?: z.infer<typeof cacheControlSchema> | undefined }[],
) =>
  typeof c === "string"
    ? [{ type: "text" as const, text: c }]
    : c.map((p) => ({
        type: "text" as const,
        text: p.text,
        ...(p.cache_control ? { cache_control: p.cache_control } : {}),
      }));

function parseArgs(json: string, path: string): Record<string, unknown> {
  try {
    const v: unknown = JSON.parse(json || "{}");
    if (typeof v === "object" && v !== null && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    /* below */
  }
  throw new PipbotError("invalid_request", `${path}.function.arguments must be a JSON object string`, {
    details: { path },
  });
}

/** OpenAI messages → system blocks + canonical turns (role:"tool" results join the next user turn). */
function convertMessages(r: OpenAIRequest): { system: CallInput["system"]; messages: ProviderMessage[] } {
  const system: NonNullable<CallInput["system"]> = [];
  const messages: ProviderMessage[] = [];
  const push = (role: ProviderMessage["role"], parts: ContentPart[]) => {
    const last = messages[messages.length - 1];
    // Consecutive tool results and the user text after them form one user turn.
    if (last && last.role === role && role === "user" && last.content.some((p) => p.type === "tool_result"))
      last.content.push(...parts);
    else messages.push({ role, content: parts });
  };
  r.messages.forEach((m, i) => {
    const path = `messages.${i}`;
    if (m.role === "system" || m.role === "developer") system.push(...textParts(m.content));
    else if (m.role === "user")
      push(
        "user",
        typeof m.content === "string"
          ? textParts(m.content)
          : m.content.map((p, j) => mediaPart(p, `${path}.content.${j}`)),
      );
    else if (m.role === "tool")
      push("user", [
        {
          type: "tool_result",
          toolCallId: m.tool_call_id,
          content: typeof m.content === "string" ? m.content : m.content.map((p) => p.text).join(""),
        },
      ]);
    else messages.push({ role: "assistant", content: assistantParts(m, path) });
  });
  return { system: system.length ? system : undefined, messages };
}

function assistantParts(m: AssistantMessage, path: string): ContentPart[] {
  const parts: ContentPart[] = [];
  if (m.thinking_blocks?.length)
    for (const b of m.thinking_blocks)
      parts.push(
        b.type === "thinking"
          ? { type: "reasoning", text: b.thinking, ...(b.signature ? { signature: b.signature } : {}) }
          : { type: "reasoning", text: "", redacted: b.data },
      );
  else if (m.reasoning_content) parts.push({ type: "reasoning", text: m.reasoning_content });
  if (m.content) parts.push(...textParts(m.content).filter((p) => p.text !== ""));
  else if (m.refusal) parts.push({ type: "text", text: m.refusal });
  (m.tool_calls ?? []).forEach((t, j) => {
    const sig = t.extra_content?.google?.thought_signature;
    parts.push({
      type: "tool_call",
      id: t.id,
      name: t.function.name,
      input: parseArgs(t.function.arguments, `${path}.tool_calls.${j}`),
      ...(sig ? { signature: sig } : {}),
    });
  });
  if (parts.length === 0) parts.push({ type: "text", text: "" });
  return parts;
}

function responseFormatOf(rf: OpenAIRequest["response_format"]): ResponseFormat | undefined {
  if (!rf || rf.type === "text") return undefined;
  if (rf.type === "json_object") return { type: "json_object" };
  const s = rf.json_schema;
  return {
    type: "json_schema",
    name: s.name,
    schema: s.schema ?? { type: "object" },
    ...(s.description !== undefined ? { description: s.description } : {}),
    ...(s.strict != null ? { strict: s.strict } : {}),
  };
}

export interface OpenAICall {
  call: CallInput;
  /** Parameters refused by any provider here (unknown, n>1, logprobs …); dropped only on request. */
  unsupported: string[];
}

export function fromOpenAI(r: OpenAIRequest): OpenAICall {
  const { system, messages } = convertMessages(r);
  if (!messages.some((m) => m.role === "user"))
    throw new PipbotError("invalid_request", "messages must contain at least one user message", {
      details: { path: "messages" },
    });
  const call: CallInput = { messages };
  if (system) call.system = system;
  const max = r.max_completion_tokens ?? r.max_tokens;
  if (max != null) call.maxTokens = max;
  if (r.temperature != null) call.temperature = r.temperature;
  if (r.top_p != null) call.topP = r.top_p;
  if (r.top_k != null) call.topK = r.top_k;
  if (r.frequency_penalty != null && r.frequency_penalty !== 0) call.frequencyPenalty = r.frequency_penalty;
  if (r.presence_penalty != null && r.presence_penalty !== 0) call.presencePenalty = r.presence_penalty;
  if (r.stop != null) call.stop = typeof r.stop === "string" ? [r.stop] : r.stop;
  if (r.seed != null) call.seed = r.seed;
  const user = r.user ?? r.safety_identifier;
  if (user !== undefined) call.user = user;
  if (r.tools?.length)
    call.tools = r.tools.map((t) => ({
      name: t.function.name,
      ...(t.function.description !== undefined ? { description: t.function.description } : {}),
      ...(t.function.parameters ? { parameters: t.function.parameters } : {}),
      ...(t.function.strict != null ? { strict: t.function.strict } : {}),
      ...(t.cache_control ? { cache_control: t.cache_control } : {}),
    }));
  const tc = r.tool_choice;
  if (tc !== undefined && !forcedWithoutTools(r)) {
    const choice: ToolChoice = typeof tc === "string" ? tc : { type: "tool", name: tc.function.name };
    call.toolChoice = choice;
  }
  if (r.parallel_tool_calls != null) call.parallelToolCalls = r.parallel_tool_calls;
  const rf = responseFormatOf(r.response_format);
  if (rf) call.responseFormat = rf;
  if (r.reasoning_effort != null) call.reasoning = { effort: r.reasoning_effort };
  if (r.prompt_cache_key !== undefined) call.promptCacheKey = r.prompt_cache_key;
  return { call, unsupported: unsupportedParams(r) };
}
