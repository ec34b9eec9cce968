/**
 * Reading Anthropic's Messages stream: raw SSE events (content blocks, deltas, thinking
 * signatures, tool input JSON, usage, stop reason) → canonical provider events, one batch per
 * network read; an in-stream `error` event throws as the SDK would. The forced JSON tool
 * (anthropic.ts, json_object mode) comes out as the reply's text. A whole (non-stream) message is
 * read in anthropic-message.ts with the same usage and stop-reason mapping.
 */
import type Anthropic from "@anthropic-ai/sdk";
import type { StopReason } from "../../shared/chat-api.ts";
import type { SseMessage } from "./sdk-adapter.ts";
import type { ProviderEvent, UsagePatch } from "./types.ts";
import { upstreamError } from "./upstream-errors.ts";

/** The forced tool that carries schema-less JSON mode (json_object; anthropic.ts sets it up). */
export const JSON_TOOL = "json_response";

/** Anthropic's usage object (a stream's message_start / message_delta, or a whole message's) → a usage patch. */
export function usageOf(u: object | null | undefined): UsagePatch {
  const out: UsagePatch = {};
  if (!u) return out;
  const src = u as Record<string, unknown>;
  const fields: [keyof UsagePatch, string][] = [
    ["inputTokens", "input_tokens"],
    ["outputTokens", "output_tokens"],
    ["cacheReadTokens", "cache_read_input_tokens"],
    ["cacheWriteTokens", "cache_creation_input_tokens"],
  ];
  for (const [k, wire] of fields) {
    const v = src[wire];
    if (typeof v === "number") out[k] = v;
  }
  const details = src.output_tokens_details as { thinking_tokens?: unknown } | undefined;
  if (typeof details?.thinking_tokens === "number") out.reasoningTokens = details.thinking_tokens;
  return out;
}

export const stopReason = (r: string | null | undefined): StopReason | string =>
  r === "end_turn" || r === "max_tokens" || r === "stop_sequence" || r === "tool_use" || r === "refusal"
    ? r
    : (r ?? "other");

type Blocks = Map<
  number,
  { kind: "text" | "thinking" | "json" | "tool" | "other"; tool?: number; signature?: string }
>;

/** One raw Anthropic stream event → canonical events (pushed to `out`). */
function mapEvent(
  ev: Anthropic.RawMessageStreamEvent,
  blocks: Blocks,
  out: ProviderEvent[],
  tools: { n: number },
): void {
  if (ev.type === "message_start") out.push({ type: "usage", usage: usageOf(ev.message.usage) });
  else if (ev.type === "content_block_start") {
    const b = ev.content_block;
    if (b.type === "text") {
      blocks.set(ev.index, { kind: "text" });
      if (b.text) out.push({ type: "text", text: b.text });
    } else if (b.type === "thinking") {
      blocks.set(ev.index, { kind: "thinking" });
      out.push({ type: "reasoning", text: b.thinking });
    } else if (b.type === "redacted_thinking") {
      blocks.set(ev.index, { kind: "other" });
      out.push({ type: "reasoning_end", redacted: b.data });
    } else if (b.type === "tool_use" && b.name === JSON_TOOL) blocks.set(ev.index, { kind: "json" });
    else if (b.type === "tool_use") {
      const index = tools.n++;
      blocks.set(ev.index, { kind: "tool", tool: index });
      out.push({ type: "tool_start", index, id: b.id, name: b.name });
    } else blocks.set(ev.index, { kind: "other" });
  } else if (ev.type === "content_block_delta") {
    const b = blocks.get(ev.index);
    const d = ev.delta;
    if (d.type === "text_delta" && d.text) out.push({ type: "text", text: d.text });
    else if (d.type === "thinking_delta" && d.thinking) out.push({ type: "reasoning", text: d.thinking });
    else if (d.type === "signature_delta" && b) b.signature = d.signature;
    else if (d.type === "input_json_delta" && b?.kind === "json" && d.partial_json)
      out.push({ type: "text", text: d.partial_json });
    else if (d.type === "input_json_delta" && b?.tool !== undefined)
      out.push({ type: "tool_args", index: b.tool, json: d.partial_json });
  } else if (ev.type === "content_block_stop") {
    const b = blocks.get(ev.index);
    if (b?.kind === "thinking")
      out.push({ type: "reasoning_end", ...(b.signature ? { signature: b.signature } : {}) });
    else if (b?.tool !== undefined) out.push({ type: "tool_end", index: b.tool });
  } else if (ev.type === "message_delta") {
    out.push({ type: "usage", usage: usageOf(ev.usage) });
    if (ev.delta.stop_reason)
      out.push({
        type: "stop",
        reason: stopReason(ev.delta.stop_reason),
        ...(ev.delta.stop_sequence ? { sequence: ev.delta.stop_sequence } : {}),
      });
  }
}

/** One network read's SSE events → canonical events; an `error` event throws like the SDK would. */
export async function* anthropicEvents(
  batches: AsyncIterable<SseMessage[]>,
): AsyncGenerator<ProviderEvent[]> {
  /** Content block index → what it is (tool calls numbered in reply order). */
  const blocks: Blocks = new Map();
  const tools = { n: 0 };
  for await (const batch of batches) {
    const out: ProviderEvent[] = [];
    for (const m of batch) {
      if (m.event === "ping") continue;
      const json = JSON.parse(m.data) as
        | Anthropic.RawMessageStreamEvent
        | { type: "error"; error?: { type?: string; message?: string } };
      if (json.type === "error") {
        // What came before the error in this read reaches the caller first (as with the SDK).
        if (out.length) yield out;
        throw upstreamError({
          provider: "anthropic",
          inStream: true,
          message: json.error?.message ?? "error event in the stream",
          ...(json.error?.type ? { type: json.error.type } : {}),
        });
      }
      mapEvent(json, blocks, out, tools);
    }
    if (out.length) yield out;
  }
}
