/**
 * One attempt's reply, assembled from canonical provider events: the parts in the model's order
 * (reasoning blocks with their signatures, text, complete tool calls), and the stop reason made
 * honest (`tool_use` exactly when the reply holds tool calls).
 */
import type { AssistantPart, ReasoningPart, StopReason, ToolCallPart } from "../shared/chat-api.ts";
import { PipbotError } from "../shared/errors.ts";
import type { ProviderEvent } from "./providers/index.ts";

export interface ReplyHooks {
  onDelta?(text: string): void;
  /** A piece of a refusal (else it goes to onDelta: it is the reply's text either way). */
  onRefusal?(text: string): void;
  onReasoning?(piece: { text: string; signature?: string; redacted?: string }): void;
  onToolStart?(index: number, id: string, name: string): void;
  onToolArgs?(index: number, json: string): void;
  /** A tool call is complete (its arguments parsed). */
  onToolCall?(index: number, call: ToolCallPart): void;
}

interface OpenTool {
  id: string;
  name: string;
  json: string;
}

export class Reply {
  parts: AssistantPart[] = [];
  text = "";
  toolCalls = 0;
  private reasoning: ReasoningPart | undefined;
  private tools = new Map<number, OpenTool>();

  constructor(private readonly hooks: ReplyHooks) {}

  /** Apply one content event; true when it was content (text, reasoning or a tool call). */
  apply(ev: ProviderEvent): boolean {
    switch (ev.type) {
      case "text":
      case "refusal": {
        this.reasoning = undefined;
        const last = this.parts[this.parts.length - 1];
        if (last?.type === "text") last.text += ev.text;
        else this.parts.push({ type: "text", text: ev.text });
        this.text += ev.text;
        if (ev.type === "refusal" && this.hooks.onRefusal) this.hooks.onRefusal(ev.text);
        else this.hooks.onDelta?.(ev.text);
        return true;
      }
      case "reasoning": {
        if (!this.reasoning) {
          this.reasoning = { type: "reasoning", text: "" };
          this.parts.push(this.reasoning);
        }
        this.reasoning.text += ev.text;
        if (ev.text) this.hooks.onReasoning?.({ text: ev.text });
        return true;
      }
      case "reasoning_end": {
        const r = this.reasoning ?? { type: "reasoning" as const, text: "" };
        if (!this.reasoning) this.parts.push(r);
        if (ev.signature !== undefined) r.signature = ev.signature;
        if (ev.redacted !== undefined) r.redacted = ev.redacted;
        this.reasoning = undefined;
        if (ev.signature !== undefined || ev.redacted !== undefined)
          this.hooks.onReasoning?.({
            text: "",
            ...(ev.signature !== undefined ? { signature: ev.signature } : {}),
            ...(ev.redacted !== undefined ? { redacted: ev.redacted } : {}),
          });
        return true;
      }
      case "tool_start":
        this.reasoning = undefined;
        this.tools.set(ev.index, { id: ev.id, name: ev.name, json: "" });
        this.hooks.onToolStart?.(ev.index, ev.id, ev.name);
        return true;
      case "tool_args": {
        const t = this.tools.get(ev.index);
        if (!t)
          throw new PipbotError("upstream_error", `tool call ${ev.index} got arguments before its start`);
        t.json += ev.json;
        this.hooks.onToolArgs?.(ev.index, ev.json);
        return true;
      }
      case "tool_end": {
        const t = this.tools.get(ev.index);
        if (!t) throw new PipbotError("upstream_error", `tool call ${ev.index} ended before its start`);
        this.tools.delete(ev.index);
        let input: Record<string, unknown> = {};
        if (t.json.trim() !== "") {
          try {
            const v: unknown = JSON.parse(t.json);
            if (typeof v === "object" && v !== null && !Array.isArray(v))
              input = v as Record<string, unknown>;
            else throw new Error("not an object");
          } catch {
            throw new PipbotError(
              "upstream_error",
              `the model's arguments for tool "${t.name}" are not a JSON object: ${t.json.slice(0, 200)}`,
              { status: 502 },
            );
          }
        }
        const call: ToolCallPart = { type: "tool_call", id: t.id, name: t.name, input };
        if (ev.signature !== undefined) call.signature = ev.signature;
        this.parts.push(call);
        this.toolCalls++;
        this.hooks.onToolCall?.(ev.index, call);
        return true;
      }
      default:
        return false;
    }
  }

  /** Open tool calls still waiting for their end (an upstream that ends them with the stop). */
  closeOpenTools(): void {
    for (const index of [...this.tools.keys()].sort((a, b) => a - b)) this.apply({ type: "tool_end", index });
  }

  /** The stop reason: tool_use exactly when the reply holds tool calls. */
  stopReason(upstream: StopReason | string): StopReason | string {
    if (this.toolCalls > 0) return upstream === "max_tokens" ? upstream : "tool_use";
    return upstream === "tool_use" ? "end_turn" : upstream;
  }
}
