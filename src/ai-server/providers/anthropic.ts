/**
 * Anthropic Messages through `@anthropic-ai/sdk` (SDK retries off; our retry loop owns retries).
 * The canonical call maps onto native blocks: images/PDFs (base64 or url sources), tool_use /
 * tool_result, thinking blocks with their signatures, cache_control on any block, native
 * structured output (`output_config.format`) for a JSON schema, and a forced single tool for
 * schema-less JSON mode (its input returned as the reply's text). The stream is read in
 * anthropic-stream.ts; a non-stream caller's call is one non-stream request (`complete`, its
 * answer read in anthropic-message.ts) unless the SDK's own rule says it must stream.
 */
import Anthropic from "@anthropic-ai/sdk";
import type { ContentPart } from "../../shared/chat-api.ts";
import { PipbotError } from "../../shared/errors.ts";
import { messageEvents } from "./anthropic-message.ts";
import { anthropicEvents, JSON_TOOL } from "./anthropic-stream.ts";
import { thinkingBudget } from "./capabilities.ts";
import {
  sdkAdapter,
  sseBatches,
  stainlessError,
  stainlessOptions,
  stainlessPost,
  stainlessStream,
  wholeJson,
} from "./sdk-adapter.ts";
import type { ProviderAdapter, ProviderCall, ProviderClientConfig, ProviderMessage } from "./types.ts";
import { upstreamError } from "./upstream-errors.ts";

const DEFAULT_MAX_TOKENS = 4096;

const mapError = (e: unknown) =>
  stainlessError<InstanceType<typeof Anthropic.APIError>>("anthropic", e, Anthropic, (err) => {
    const body = err.error as { error?: { type?: string; message?: string } } | undefined;
    return { message: body?.error?.message ?? err.apiMessage ?? err.message, type: body?.error?.type };
  });

type Block = Anthropic.ContentBlockParam;

function mediaBlock(p: Extract<ContentPart, { type: "image" | "document" }>): Block {
  const cache = p.cache_control ? { cache_control: p.cache_control } : {};
  if (p.type === "image")
    return {
      type: "image",
      source:
        p.url !== undefined
          ? { type: "url", url: p.url }
          : {
              type: "base64",
              media_type: p.mimeType as Anthropic.Base64ImageSource["media_type"],
              data: p.data ?? "",
            },
      ...cache,
    };
  return {
    type: "document",
    source:
      p.url !== undefined
        ? { type: "url", url: p.url }
        : { type: "base64", media_type: "application/pdf", data: p.data ?? "" },
    ...(p.fileName ? { title: p.fileName } : {}),
    ...cache,
  };
}

function block(p: ContentPart): Block | null {
  const cache = "cache_control" in p && p.cache_control ? { cache_control: p.cache_control } : {};
  switch (p.type) {
    case "text":
      return { type: "text", text: p.text, ...cache };
    case "image":
    case "document":
      return mediaBlock(p);
    case "tool_call":
      return { type: "tool_use", id: p.id, name: p.name, input: p.input };
    case "tool_result":
      return {
        type: "tool_result",
        tool_use_id: p.toolCallId,
        content:
          typeof p.content === "string"
            ? p.content
            : (p.content.map((c) =>
                c.type === "text" ? { type: "text" as const, text: c.text } : mediaBlock(c),
              ) as Anthropic.ToolResultBlockParam["content"]),
        ...(p.isError ? { is_error: true } : {}),
        ...cache,
      };
    case "reasoning":
      // Only Anthropic's own blocks can go back (a signature proves them); others' reasoning is history only.
      if (p.redacted !== undefined) return { type: "redacted_thinking", data: p.redacted };
      if (p.signature !== undefined) return { type: "thinking", thinking: p.text, signature: p.signature };
      return null;
  }
}

function messages(ms: ProviderMessage[]): Anthropic.MessageParam[] {
  return ms.map((m) => ({
    role: m.role,
    content: m.content.map(block).filter((b): b is Block => b !== null),
  }));
}

/**
 * A Messages request body: streaming (`stream: true`) or not (`stream` absent). The SDK's types no
 * longer list the sampling fields; the API still takes them for the models that do.
 */
export type AnthropicParams = Omit<Anthropic.MessageCreateParamsStreaming, "stream"> & {
  stream?: true;
  temperature?: number;
  top_p?: number;
  top_k?: number;
};

export function anthropicParams(call: ProviderCall, stream = true): AnthropicParams {
  const budget = thinkingBudget(call.reasoning);
  const p: AnthropicParams = {
    model: call.model,
    max_tokens: call.maxTokens ?? (budget ? budget + DEFAULT_MAX_TOKENS : DEFAULT_MAX_TOKENS),
    messages: messages(call.messages),
  };
  if (stream) p.stream = true;
  if (call.system?.length)
    p.system = call.system.map((s) => ({
      type: "text" as const,
      text: s.text,
      ...(s.cache_control ? { cache_control: s.cache_control } : {}),
    }));
  if (call.temperature !== undefined) p.temperature = call.temperature;
  if (call.topP !== undefined) p.top_p = call.topP;
  if (call.topK !== undefined) p.top_k = call.topK;
  if (call.stop) p.stop_sequences = call.stop;
  if (call.user !== undefined) p.metadata = { user_id: call.user };
  if (budget) p.thinking = { type: "enabled", budget_tokens: budget, display: "summarized" };
  const tools: Anthropic.Tool[] = (call.tools ?? []).map((t) => ({
    name: t.name,
    ...(t.description !== undefined ? { description: t.description } : {}),
    input_schema: (t.parameters ?? { type: "object", properties: {} }) as Anthropic.Tool["input_schema"],
    ...(t.strict !== undefined ? { strict: t.strict } : {}),
    ...(t.cache_control ? { cache_control: t.cache_control } : {}),
  }));
  const noParallel = call.parallelToolCalls === false ? { disable_parallel_tool_use: true } : {};
  const tc = call.toolChoice;
  if (tc !== undefined || call.parallelToolCalls === false)
    p.tool_choice =
      tc === "none"
        ? { type: "none" }
        : tc === "required"
          ? { type: "any", ...noParallel }
          : typeof tc === "object"
            ? { type: "tool", name: tc.name, ...noParallel }
            : { type: "auto", ...noParallel };
  const rf = call.responseFormat;
  if (rf?.type === "json_schema") p.output_config = { format: { type: "json_schema", schema: rf.schema } };
  else if (rf?.type === "json_object") {
    tools.push({
      name: JSON_TOOL,
      description: "Reply with a JSON object: its input is the whole reply.",
      input_schema: { type: "object" },
    });
    p.tool_choice = { type: "tool", name: JSON_TOOL };
  }
  if (tools.length) p.tools = tools;
  return p;
}

/**
 * The count_tokens body: exactly what /v1/messages would send for the call, minus the fields a
 * count does not take (Anthropic answers them with a 400): max_tokens, stream, metadata, sampling
 * and stop parameters.
 */
export function anthropicCountParams(call: ProviderCall): Anthropic.MessageCountTokensParams {
  const p: Partial<AnthropicParams> = anthropicParams(call);
  delete p.max_tokens;
  delete p.stream;
  delete p.metadata;
  delete p.temperature;
  delete p.top_p;
  delete p.top_k;
  delete p.stop_sequences;
  return p as Anthropic.MessageCountTokensParams;
}

/**
 * The per-model caps of the SDK's non-stream rule: its `MODEL_NONSTREAMING_TOKENS`
 * (`@anthropic-ai/sdk/internal/constants`, which the package does not export). A test checks this
 * copy against the installed SDK's table.
 */
export const MODEL_NONSTREAMING_TOKENS: Readonly<Record<string, number>> = {
  "claude-opus-4@20250514": 8192,
  "anthropic.claude-opus-4-1-20250805-v1:0": 8192,
  "claude-opus-4-1@20250805": 8192,
};

/**
 * True when the SDK itself would refuse this body as a non-stream request ("Streaming is required
 * for operations that may take longer than 10 minutes": max_tokens above 128 000 × 10/60, or above
 * the model's cap): the SDK's own rule, `client.calculateNonstreamingTimeout`, which throws then.
 */
export function mustStream(client: Anthropic, p: Pick<AnthropicParams, "model" | "max_tokens">): boolean {
  try {
    client.calculateNonstreamingTimeout(p.max_tokens, MODEL_NONSTREAMING_TOKENS[p.model]);
    return false;
  } catch (e) {
    if (e instanceof Anthropic.AnthropicError) return true;
    throw e;
  }
}

/** The call with the caller's beta features as the `anthropic-beta` header (SDK: `betas`). */
function withBetas<C extends Pick<ProviderCall, "headers" | "betas">>(call: C): C {
  return call.betas?.length
    ? { ...call, headers: { ...call.headers, "anthropic-beta": call.betas.join(",") } }
    : call;
}

export function anthropicAdapter(cfg: ProviderClientConfig): ProviderAdapter {
  const opts = stainlessOptions(cfg);
  // ANTHROPIC_AUTH_TOKEN: the SDK sends authToken as Authorization: Bearer (no x-api-key).
  const client = new Anthropic(cfg.bearer ? { ...opts, apiKey: null, authToken: cfg.apiKey } : opts);
  const post = stainlessStream(client, "/v1/messages", cfg.fetch);
  const postWhole = stainlessPost(client, "/v1/messages", cfg.fetch, false);
  const count = stainlessPost(client, "/v1/messages/count_tokens", cfg.fetch, false);
  const whole = async (p: AnthropicParams, call: ProviderCall) =>
    messageEvents(await wholeJson("anthropic", await postWhole(p, withBetas(call))));
  const adapter = sdkAdapter({
    provider: "anthropic",
    mapError,
    events: anthropicEvents,
    stream: async (call) => sseBatches(await post(anthropicParams(call), withBetas(call))),
    complete(call) {
      const p = anthropicParams(call, false);
      // Declined (nothing sent): the engine streams this call instead.
      return mustStream(client, p) ? undefined : whole(p, call);
    },
  });
  return {
    provider: adapter.provider,
    openStream: adapter.openStream,
    complete: adapter.complete,
    async countTokens(call) {
      let text: string;
      try {
        text = await (await count(anthropicCountParams(call), withBetas(call))).text();
      } catch (e) {
        throw e instanceof PipbotError ? e : mapError(e);
      }
      let tokens: unknown;
      try {
        tokens = (JSON.parse(text) as { input_tokens?: unknown } | null)?.input_tokens;
      } catch {
        tokens = undefined;
      }
      if (typeof tokens !== "number")
        throw upstreamError({
          provider: "anthropic",
          status: 200,
          message: `count_tokens answered without a numeric input_tokens: ${text.slice(0, 200)}`,
        });
      return tokens;
    },
  };
}
