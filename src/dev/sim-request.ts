/**
 * Upstream simulator: each provider's request body read into one shape (`SimRequest`, what the
 * reply depends on), with the checks the real APIs make that our translation could get wrong —
 * each failing with the provider's own 400. This file: the shape, its helpers, and the Anthropic
 * body (a tool result without its call, thinking blocks without their signature);
 * sim-request-openai.ts and sim-request-google.ts read the other two.
 */
export class BadRequest extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export type Json = Record<string, unknown>;
export const isObj = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);
export const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

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

/** The text of a content value: the string, or its text blocks joined (Gemini thoughts left out). */
export function textOf(content: unknown): string {
  if (typeof content === "string") return content;
  return arr(content)
    .map((b) => (isObj(b) && typeof b.text === "string" && b.thought !== true ? b.text : ""))
    .join("");
}

const b64Bytes = (data: string) => Math.floor((data.replace(/=+$/, "").length * 3) / 4);
/** A media part as the reply echoes it: "image/png, 68 bytes" or "image/png from <url>". */
export const describe = (mime: string, data: unknown, url?: unknown) =>
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
