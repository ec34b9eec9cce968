/**
 * Upstream simulator: each provider's request body read into one shape (what the reply depends
 * on), with the checks the real APIs make that our translation could get wrong — a tool result
 * without its call, Anthropic thinking blocks without their signature, Gemini function calls sent
 * back without their thought signature, OpenAI's JSON mode without the word "json" — each failing
 * with the provider's own 400.
 */
export class BadRequest extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

type Json = Record<string, unknown>;
export const isObj = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

export interface SimTool {
  name: string;
  schema: Json;
}

export interface SimRequest {
  model: string;
  stream: boolean;
  maxTokens?: number;
  includeUsage: boolean;
  /** Text of the last user message. */
  lastUser: string;
  inputChars: number;
  /** The last user message's images and documents, described ("image/png, 68 bytes"). */
  media: string[];
  /** Tool results in the last user message. */
  toolResults: { name: string; content: string }[];
  tools: SimTool[];
  toolChoice: "auto" | "none" | "required" | { name: string };
  /** JSON output asked for (schema when one was given). */
  json?: { schema?: Json };
  thinking: boolean;
}

function textOf(content: unknown): string {
  if (typeof content === "string") return content;
  return arr(content)
    .map((b) => (isObj(b) && typeof b.text === "string" && b.thought !== true ? b.text : ""))
    .join("");
}

const b64Bytes = (data: string) => Math.floor((data.replace(/=+$/, "").length * 3) / 4);
const describe = (mime: string, data: unknown, url?: unknown) =>
  typeof url === "string"
    ? `${mime || "file"} from ${url}`
    : `${mime}, ${b64Bytes(String(data ?? ""))} bytes`;

// ---- Anthropic -----------------------------------------------------------------------------

export function parseAnthropic(body: Json): SimRequest {
  if (typeof body.model !== "string") throw new BadRequest(400, "model: Field required");
  if (typeof body.max_tokens !== "number") throw new BadRequest(400, "max_tokens: Field required");
  const msgs = arr(body.messages).filter(isObj);
  if (msgs.length === 0) throw new BadRequest(400, "messages: at least one message is required");
  const thinking = isObj(body.thinking) && body.thinking.type === "enabled";
  if (thinking && isObj(body.thinking) && Number(body.thinking.budget_tokens) >= body.max_tokens)
    throw new BadRequest(400, "`max_tokens` must be greater than `thinking.budget_tokens`");
  const names = new Map<string, string>();
  let prevToolUses = new Set<string>();
  msgs.forEach((m, i) => {
    const blocks = arr(m.content).filter(isObj);
    if (m.role === "assistant") {
      prevToolUses = new Set();
      blocks.forEach((b, j) => {
        if (b.type === "thinking" && typeof b.signature !== "string")
          throw new BadRequest(400, `messages.${i}.content.${j}.thinking.signature: Field required`);
        if (b.type === "tool_use") {
          prevToolUses.add(String(b.id));
          names.set(String(b.id), String(b.name));
        }
      });
      const isLastAssistant = !msgs.slice(i + 1).some((x) => x.role === "assistant");
      const first = blocks[0];
      if (
        thinking &&
        isLastAssistant &&
        prevToolUses.size > 0 &&
        first?.type !== "thinking" &&
        first?.type !== "redacted_thinking"
      )
        throw new BadRequest(
          400,
          `messages.${i}.content.0.type: Expected \`thinking\` or \`redacted_thinking\`, but found \`${String(first?.type)}\`. When \`thinking\` is enabled, a final \`assistant\` message must start with a thinking block (preceeding the lastmost set of \`tool_use\` and \`tool_result\` blocks).`,
        );
    } else {
      blocks.forEach((b, j) => {
        if (b.type === "tool_result" && !prevToolUses.has(String(b.tool_use_id)))
          throw new BadRequest(
            400,
            `messages.${i}.content.${j}: unexpected \`tool_use_id\` found in \`tool_result\` blocks: ${String(b.tool_use_id)}. Each \`tool_result\` block must have a corresponding \`tool_use\` block in the previous message.`,
          );
      });
      prevToolUses = new Set();
    }
  });
  const last = [...msgs].reverse().find((m) => m.role === "user");
  const lastBlocks = arr(last?.content).filter(isObj);
  const media = lastBlocks.flatMap((b) => {
    if ((b.type !== "image" && b.type !== "document") || !isObj(b.source)) return [];
    return [
      describe(
        String(b.source.media_type ?? ""),
        b.source.data,
        b.source.type === "url" ? b.source.url : undefined,
      ),
    ];
  });
  const toolResults = lastBlocks
    .filter((b) => b.type === "tool_result")
    .map((b) => ({ name: names.get(String(b.tool_use_id)) ?? "?", content: textOf(b.content) }));
  const tc = isObj(body.tool_choice) ? body.tool_choice : { type: "auto" };
  const format =
    isObj(body.output_config) && isObj(body.output_config.format) ? body.output_config.format : undefined;
  const out: SimRequest = {
    model: body.model,
    stream: body.stream === true,
    maxTokens: body.max_tokens,
    includeUsage: false,
    lastUser: lastBlocks.length ? textOf(lastBlocks) : textOf(last?.content),
    inputChars: msgs.reduce((n, m) => n + textOf(m.content).length, 0) + textOf(body.system).length,
    media,
    toolResults,
    tools: arr(body.tools)
      .filter(isObj)
      .map((t) => ({ name: String(t.name), schema: isObj(t.input_schema) ? t.input_schema : {} })),
    toolChoice:
      tc.type === "any"
        ? "required"
        : tc.type === "none"
          ? "none"
          : tc.type === "tool"
            ? { name: String(tc.name) }
            : "auto",
    thinking,
  };
  if (format?.type === "json_schema") out.json = { schema: isObj(format.schema) ? format.schema : {} };
  return out;
}

// ---- OpenAI ------------------------------------------------------------------------------------

export function parseOpenAI(body: Json): SimRequest {
  if (typeof body.model !== "string") throw new BadRequest(400, "you must provide a model parameter");
  const msgs = arr(body.messages).filter(isObj);
  if (msgs.length === 0) throw new BadRequest(400, "'messages' must contain at least one message");
  const names = new Map<string, string>();
  let open = new Set<string>();
  msgs.forEach((m, i) => {
    if (m.role === "tool") {
      if (!open.has(String(m.tool_call_id)))
        throw new BadRequest(
          400,
          `Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls'.`,
        );
      open.delete(String(m.tool_call_id));
      return;
    }
    if (open.size > 0)
      throw new BadRequest(
        400,
        `An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. The following tool_call_ids did not have response messages: ${[...open].join(", ")} (messages.${i})`,
      );
    open = new Set();
    for (const t of arr(m.tool_calls).filter(isObj)) {
      open.add(String(t.id));
      if (isObj(t.function)) names.set(String(t.id), String(t.function.name));
    }
  });
  const rf = isObj(body.response_format) ? body.response_format : undefined;
  if (rf?.type === "json_object" && !msgs.some((m) => /json/i.test(textOf(m.content))))
    throw new BadRequest(
      400,
      "'messages' must contain the word 'json' in some form, to use 'response_format' of type 'json_object'.",
    );
  // The last user turn: the user message, or the tool results after the last assistant message.
  let tail = msgs.length;
  while (tail > 0 && msgs[tail - 1]?.role === "tool") tail--;
  const toolResults = msgs
    .slice(tail)
    .map((m) => ({ name: names.get(String(m.tool_call_id)) ?? "?", content: textOf(m.content) }));
  const last = [...msgs].reverse().find((m) => m.role === "user");
  const media = arr(last?.content)
    .filter(isObj)
    .flatMap((p) => {
      if (p.type === "image_url" && isObj(p.image_url)) {
        const url = String(p.image_url.url);
        const d = /^data:([^;]+);base64,(.*)$/s.exec(url);
        return [d ? describe(d[1] ?? "", d[2]) : describe("image", undefined, url)];
      }
      if (p.type === "file" && isObj(p.file)) {
        const d = /^data:([^;]+);base64,(.*)$/s.exec(String(p.file.file_data ?? ""));
        return [describe(d?.[1] ?? "file", d?.[2])];
      }
      return [];
    });
  const max = body.max_completion_tokens ?? body.max_tokens;
  const so = isObj(body.stream_options) ? body.stream_options : {};
  const tc = body.tool_choice;
  const out: SimRequest = {
    model: body.model,
    stream: body.stream === true,
    ...(typeof max === "number" ? { maxTokens: max } : {}),
    includeUsage: so.include_usage === true,
    lastUser: toolResults.length ? "" : textOf(last?.content),
    inputChars: msgs.reduce((n, m) => n + textOf(m.content).length, 0),
    media: toolResults.length ? [] : media,
    toolResults,
    tools: arr(body.tools)
      .filter(isObj)
      .map((t) => (isObj(t.function) ? t.function : {}))
      .map((f) => ({ name: String(f.name), schema: isObj(f.parameters) ? f.parameters : {} })),
    toolChoice:
      tc === "none" || tc === "required"
        ? tc
        : isObj(tc) && isObj(tc.function)
          ? { name: String(tc.function.name) }
          : "auto",
    thinking: typeof body.reasoning_effort === "string" && body.reasoning_effort !== "none",
  };
  if (rf?.type === "json_object") out.json = {};
  if (rf?.type === "json_schema" && isObj(rf.json_schema))
    out.json = { schema: isObj(rf.json_schema.schema) ? rf.json_schema.schema : {} };
  return out;
}

// ---- Gemini ------------------------------------------------------------------------------------

export function parseGoogle(body: Json, model: string, stream: boolean): SimRequest {
  const contents = arr(body.contents).filter(isObj);
  if (contents.length === 0)
    throw new BadRequest(400, "* GenerateContentRequest.contents: contents is not specified");
  contents.forEach((c, i) => {
    arr(c.parts)
      .filter(isObj)
      .forEach((p, j) => {
        if (c.role === "model" && isObj(p.functionCall) && typeof p.thoughtSignature !== "string")
          throw new BadRequest(
            400,
            `Function call is missing a thought_signature in functionCall parts. This is required for tools to work correctly, and missing thought_signature may lead to degraded model performance. Additional data, function call \`default_api:${String(p.functionCall.name)}\` , position ${i + 1}. Please refer to https://ai.google.dev/gemini-api/docs/thought-signatures for more details.`,
          );
        if (isObj(p.functionResponse) && typeof p.functionResponse.name !== "string")
          throw new BadRequest(
            400,
            `* GenerateContentRequest.contents[${i}].parts[${j}].function_response.name: Name cannot be empty.`,
          );
      });
  });
  const last = [...contents].reverse().find((c) => c.role === undefined || c.role === "user");
  const parts = arr(last?.parts).filter(isObj);
  const gc = isObj(body.generationConfig) ? body.generationConfig : {};
  const fcc =
    isObj(body.toolConfig) && isObj(body.toolConfig.functionCallingConfig)
      ? body.toolConfig.functionCallingConfig
      : {};
  const allowed = arr(fcc.allowedFunctionNames);
  const out: SimRequest = {
    model,
    stream,
    ...(typeof gc.maxOutputTokens === "number" ? { maxTokens: gc.maxOutputTokens } : {}),
    includeUsage: false,
    lastUser: textOf(parts),
    inputChars:
      contents.reduce((n, c) => n + textOf(c.parts).length, 0) +
      textOf(isObj(body.systemInstruction) ? body.systemInstruction.parts : undefined).length,
    media: parts.flatMap((p) =>
      isObj(p.inlineData)
        ? [describe(String(p.inlineData.mimeType), p.inlineData.data)]
        : isObj(p.fileData)
          ? [describe(String(p.fileData.mimeType), undefined, p.fileData.fileUri)]
          : [],
    ),
    toolResults: parts.flatMap((p) =>
      isObj(p.functionResponse)
        ? [
            {
              name: String(p.functionResponse.name),
              content: JSON.stringify(p.functionResponse.response ?? {}),
            },
          ]
        : [],
    ),
    tools: arr(body.tools)
      .filter(isObj)
      .flatMap((t) => arr(t.functionDeclarations).filter(isObj))
      .map((f) => ({
        name: String(f.name),
        schema: isObj(f.parametersJsonSchema)
          ? f.parametersJsonSchema
          : isObj(f.parameters)
            ? f.parameters
            : {},
      })),
    toolChoice:
      fcc.mode === "NONE"
        ? "none"
        : fcc.mode === "ANY"
          ? allowed.length === 1
            ? { name: String(allowed[0]) }
            : "required"
          : "auto",
    thinking: isObj(gc.thinkingConfig) && gc.thinkingConfig.includeThoughts === true,
  };
  if (gc.responseMimeType === "application/json") {
    const schema = gc.responseJsonSchema ?? gc.responseSchema;
    out.json = isObj(schema) ? { schema } : {};
  }
  return out;
}
