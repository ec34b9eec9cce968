/**
 * `POST /chat` requests → the canonical call, and `cache: "auto"`: the server places Anthropic
 * cache breakpoints itself — the end of the system prompt (which covers the tools before it) and
 * the last two user turns — within Anthropic's limit of 4 per request, counting the caller's own.
 */
import type { CacheControl, ChatRequest, ContentPart } from "../shared/chat-api.ts";
import type { CallInput } from "./providers/index.ts";

const MAX_BREAKPOINTS = 4;
const EPHEMERAL: CacheControl = { type: "ephemeral" };

export function fromChatRequest(r: ChatRequest): CallInput {
  const call: CallInput = {
    messages: r.messages.map((m) => ({
      role: m.role,
      content: typeof m.content === "string" ? [{ type: "text", text: m.content }] : m.content,
    })),
  };
  if (r.system !== undefined)
    call.system = typeof r.system === "string" ? [{ type: "text", text: r.system }] : r.system;
  if (r.max_tokens !== undefined) call.maxTokens = r.max_tokens;
  if (r.temperature !== undefined) call.temperature = r.temperature;
  if (r.top_p !== undefined) call.topP = r.top_p;
  if (r.stop !== undefined) call.stop = r.stop;
  if (r.seed !== undefined) call.seed = r.seed;
  if (r.user !== undefined) call.user = r.user;
  if (r.tools !== undefined) call.tools = r.tools;
  if (r.tool_choice !== undefined) call.toolChoice = r.tool_choice;
  if (r.parallel_tool_calls !== undefined) call.parallelToolCalls = r.parallel_tool_calls;
  if (r.response_format !== undefined && r.response_format.type !== "text")
    call.responseFormat = r.response_format;
  if (r.reasoning !== undefined) call.reasoning = r.reasoning;
  if (r.cache === "auto") applyAutoCache(call);
  return call;
}

const cacheable = (p: ContentPart) => p.type !== "tool_call" && p.type !== "reasoning";

function countBreakpoints(call: CallInput): number {
  let n = 0;
  for (const s of call.system ?? []) if (s.cache_control) n++;
  for (const t of call.tools ?? []) if (t.cache_control) n++;
  for (const m of call.messages) for (const p of m.content) if ("cache_control" in p && p.cache_control) n++;
  return n;
}

/**
 * Mark the system prompt's end and the last two user turns as cache breakpoints (in place), with
 * `mark` (/v1/messages: the request-level cache_control, its TTL included).
 */
export function applyAutoCache(call: CallInput, mark: CacheControl = EPHEMERAL): void {
  let budget = MAX_BREAKPOINTS - countBreakpoints(call);
  const sys = call.system;
  if (sys?.length && budget > 0) {
    const last = sys[sys.length - 1];
    if (last && !last.cache_control) {
      sys[sys.length - 1] = { ...last, cache_control: mark };
      budget--;
    }
  }
  let turns = 0;
  for (let i = call.messages.length - 1; i >= 0 && turns < 2 && budget > 0; i--) {
    const m = call.messages[i];
    if (m?.role !== "user") continue;
    turns++;
    const j = m.content.findLastIndex(cacheable);
    const p = m.content[j];
    if (!p || !cacheable(p) || ("cache_control" in p && p.cache_control)) continue;
    const content = [...m.content];
    content[j] = { ...p, cache_control: mark } as ContentPart;
    call.messages[i] = { role: m.role, content };
    budget--;
  }
}
