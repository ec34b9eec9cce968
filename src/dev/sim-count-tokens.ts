/**
 * Upstream simulator: Anthropic's `POST /v1/messages/count_tokens` (`{"input_tokens": N}`) and the
 * one deterministic input count the Anthropic wire reports — the same number in a count and in
 * the `usage.input_tokens` of a /v1/messages call with the same content, as with the real API.
 *
 * The count is the simulator's estimate (`estimateTokens`: characters / 4) over what the model
 * reads: the system prompt, text, thinking, tool calls (name + input JSON), tool results, the tool
 * definitions (their JSON) and a fixed `MEDIA_CHARS` per image or document.
 */
import { estimateTokens } from "./sim-options.ts";
import { BadRequest, isObj, parseAnthropic, type SimRequest } from "./sim-request.ts";

/** What one image or PDF counts for, in characters (1,500 tokens: a mid-sized image on Anthropic). */
export const MEDIA_CHARS = 6000;

/** The body fields Anthropic's count_tokens takes; anything else is its 400 "Extra inputs". */
const COUNT_FIELDS = new Set([
  "model",
  "messages",
  "system",
  "tools",
  "tool_choice",
  "thinking",
  "output_config",
  "cache_control",
  "speed",
  "mcp_servers",
  "context_management",
]);

type Json = Record<string, unknown>;
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

/** Characters of one content (a string or blocks), media counted as `MEDIA_CHARS`. */
function contentChars(content: unknown): number {
  if (typeof content === "string") return content.length;
  let n = 0;
  for (const b of arr(content)) {
    if (!isObj(b)) continue;
    if (b.type === "text" && typeof b.text === "string") n += b.text.length;
    else if (b.type === "thinking" && typeof b.thinking === "string") n += b.thinking.length;
    else if (b.type === "tool_use") n += String(b.name ?? "").length + JSON.stringify(b.input ?? {}).length;
    else if (b.type === "tool_result") n += contentChars(b.content ?? "");
    else if (b.type === "image" || b.type === "document") n += MEDIA_CHARS;
  }
  return n;
}

/** Characters the model reads in an Anthropic request body (messages, system, tools). */
export function anthropicInputChars(body: Json): number {
  let n = contentChars(body.system ?? "");
  for (const m of arr(body.messages)) if (isObj(m)) n += contentChars(m.content);
  for (const t of arr(body.tools)) n += JSON.stringify(t).length;
  return n;
}

/**
 * An Anthropic body (`/v1/messages`, or `/v1/messages/count_tokens` when `count`) read with
 * /v1/messages' checks and this file's input count. A count is checked as the real API does: only
 * its own fields (`max_tokens`, `stream`, `metadata`, sampling parameters … → 400).
 */
export function parseAnthropicBody(body: Json, count: boolean): SimRequest {
  if (count)
    for (const k of Object.keys(body))
      if (!COUNT_FIELDS.has(k)) throw new BadRequest(400, `${k}: Extra inputs are not permitted`);
  // A count has no max_tokens (and no thinking budget bound by it).
  const r = parseAnthropic(count ? { ...body, max_tokens: Number.MAX_SAFE_INTEGER } : body);
  if (count) delete r.maxTokens;
  r.inputChars = anthropicInputChars(body);
  return r;
}

/** The count_tokens reply. */
export const countTokensBody = (r: SimRequest) => ({
  input_tokens: estimateTokens("x".repeat(r.inputChars)),
});
