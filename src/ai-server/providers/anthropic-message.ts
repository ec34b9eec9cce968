/**
 * Reading a whole Anthropic message (the answer to a non-stream `POST /v1/messages`) into the
 * canonical events a stream of the same message gives, in the same order (anthropic-stream.ts
 * reads the stream; its usage and stop-reason mapping is reused here): usage, then per content
 * block — thinking → reasoning + reasoning_end (signature), redacted_thinking → reasoning_end
 * (redacted), text, tool_use → tool_start / tool_args / tool_end (the forced JSON tool of
 * json_object mode → its input as the reply's text) — then the stop reason. An error object in a
 * 200 body throws like the stream's error event; a body that is not a message throws, naming it.
 */
import type Anthropic from "@anthropic-ai/sdk";
import { JSON_TOOL, stopReason, usageOf } from "./anthropic-stream.ts";
import type { ProviderEvent } from "./types.ts";
import { upstreamError } from "./upstream-errors.ts";

type Body = Anthropic.Message | { type: "error"; error?: { type?: string; message?: string } };

/** One content block → canonical events (pushed to `out`); `tools` numbers the tool calls. */
function blockEvents(b: Anthropic.ContentBlock, out: ProviderEvent[], tools: { n: number }): void {
  switch (b.type) {
    case "text":
      if (b.text) out.push({ type: "text", text: b.text });
      return;
    case "thinking":
      out.push({ type: "reasoning", text: b.thinking });
      out.push({ type: "reasoning_end", ...(b.signature ? { signature: b.signature } : {}) });
      return;
    case "redacted_thinking":
      out.push({ type: "reasoning_end", redacted: b.data });
      return;
    case "tool_use": {
      const json = JSON.stringify(b.input ?? {});
      if (b.name === JSON_TOOL) {
        out.push({ type: "text", text: json });
        return;
      }
      const index = tools.n++;
      out.push({ type: "tool_start", index, id: b.id, name: b.name });
      out.push({ type: "tool_args", index, json });
      out.push({ type: "tool_end", index });
      return;
    }
    default:
      // Server tool blocks and results: not part of the canonical reply (as in the stream).
      return;
  }
}

/** A non-stream response body → the canonical events of the whole answer. */
export function messageEvents(body: unknown): ProviderEvent[] {
  const m = body as Body | null;
  if (m?.type === "error")
    throw upstreamError({
      provider: "anthropic",
      inStream: true,
      message: m.error?.message ?? "error object in the response body",
      ...(m.error?.type ? { type: m.error.type } : {}),
    });
  if (!m || !Array.isArray(m.content))
    throw upstreamError({
      provider: "anthropic",
      status: 200,
      message: `the answer is not a message (no content array): ${String(JSON.stringify(body)).slice(0, 200)}`,
    });
  const out: ProviderEvent[] = [{ type: "usage", usage: usageOf(m.usage) }];
  const tools = { n: 0 };
  for (const b of m.content) blockEvents(b, out, tools);
  if (m.stop_reason)
    out.push({
      type: "stop",
      reason: stopReason(m.stop_reason),
      ...(m.stop_sequence ? { sequence: m.stop_sequence } : {}),
    });
  return out;
}
