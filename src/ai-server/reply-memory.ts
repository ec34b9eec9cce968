/**
 * What a provider needs back on the next turn of a tool loop but many clients drop: Gemini's
 * thought signature on each function call, and Anthropic's signed thinking blocks before the tool
 * calls. The AI server remembers them per tool call id (bounded, least recently used first out)
 * and puts them back when a caller returns the call without them — so the Vercel AI SDK,
 * LangChain or any OpenAI client keeps working with thinking models across tool steps.
 */
import type { AssistantPart, ReasoningPart } from "../shared/chat-api.ts";
import type { ProviderMessage } from "./providers/index.ts";

const DEFAULT_CAPACITY = 2000;

interface Remembered {
  signature?: string;
  reasoning: ReasoningPart[];
}

export class ReplyMemory {
  private readonly map = new Map<string, Remembered>();

  constructor(private readonly capacity = DEFAULT_CAPACITY) {}

  /** Remember a reply's tool calls (only when something would be lost without it). */
  remember(parts: AssistantPart[]): void {
    const reasoning = parts.filter(
      (p): p is ReasoningPart =>
        p.type === "reasoning" && (p.signature !== undefined || p.redacted !== undefined),
    );
    for (const p of parts) {
      if (p.type !== "tool_call" || (p.signature === undefined && reasoning.length === 0)) continue;
      this.map.delete(p.id);
      this.map.set(p.id, { ...(p.signature !== undefined ? { signature: p.signature } : {}), reasoning });
      if (this.map.size > this.capacity) this.map.delete(this.map.keys().next().value as string);
    }
  }

  /** Put back what the caller dropped from assistant messages with remembered tool calls (in place). */
  restore(messages: ProviderMessage[]): void {
    if (this.map.size === 0) return;
    for (const m of messages) {
      if (m.role !== "assistant") continue;
      let reasoning: ReasoningPart[] | undefined;
      const hasSigned = m.content.some(
        (p) => p.type === "reasoning" && (p.signature !== undefined || p.redacted !== undefined),
      );
      const content = m.content.map((p) => {
        if (p.type !== "tool_call") return p;
        const r = this.map.get(p.id);
        if (!r) return p;
        reasoning ??= r.reasoning;
        return p.signature === undefined && r.signature !== undefined ? { ...p, signature: r.signature } : p;
      });
      m.content =
        !hasSigned && reasoning?.length
          ? [...reasoning, ...content.filter((p) => p.type !== "reasoning")]
          : content;
    }
  }
}
