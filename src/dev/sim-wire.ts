/** Upstream simulator: the shape every provider wire format implements (see sim-anthropic/openai/google). */
import type { SimOptions } from "./sim-options.ts";

export type SimProvider = "anthropic" | "openai" | "google";

/** One piece of the reply; `block` is its content block (Anthropic's index). */
export type SimPart =
  | { kind: "text"; text: string; block: number }
  | { kind: "reasoning"; text: string; block: number; first: boolean; last: boolean; signature: string }
  | {
      kind: "tool";
      /** The call's number in the reply (OpenAI's tool_calls index). */
      call: number;
      id: string;
      name: string;
      json: string;
      block: number;
      first: boolean;
      last: boolean;
      /** Gemini's thought signature for this call. */
      signature?: string;
    };

/** Everything needed to render one reply in any wire format. */
export interface SimPlan {
  id: string;
  /** The model id echoed back (without simulator options). */
  model: string;
  parts: SimPart[];
  inputTokens: number;
  /** True when the reply was cut short by max_tokens. */
  truncated: boolean;
  tool: boolean;
  opts: SimOptions;
  /** OpenAI: stream_options.include_usage. */
  includeUsage: boolean;
  /** Reasoning tokens reported in usage. */
  thoughts: number;
}

export interface SimErrorReply {
  status: number;
  body: unknown;
}

export interface SimWire {
  provider: SimProvider;
  /** Header carrying the request id. */
  requestIdHeader: string;
  /** Non-stream JSON body. */
  json(plan: SimPlan): unknown;
  /** Stream frames sent right after the response headers (before the first chunk). */
  pre(plan: SimPlan): string;
  /** Frames for part `i` (output tokens so far = i + 1). */
  part(plan: SimPlan, i: number): string;
  /** Closing frames after the last part. */
  post(plan: SimPlan): string;
  /** An in-stream error after 200 (`fault=error_after`). */
  errorFrame(plan: SimPlan): string;
  /**
   * A provider error body for an HTTP status; `retryAfterMs`: the retry hint, for a provider that
   * puts it in the body (Gemini's RetryInfo) — the others send it as headers.
   */
  error(status: number, message: string, retryAfterMs?: number): SimErrorReply;
}

export const sse = (data: unknown, event?: string): string =>
  `${event ? `event: ${event}\n` : ""}data: ${JSON.stringify(data)}\n\n`;

export const fullText = (plan: SimPlan): string =>
  plan.parts.map((p) => (p.kind === "text" ? p.text : "")).join("");

export const reasoningText = (plan: SimPlan): string =>
  plan.parts.map((p) => (p.kind === "reasoning" ? p.text : "")).join("");

/** The reply's tool calls, whole (arguments joined). */
export function toolCalls(
  plan: SimPlan,
): { call: number; id: string; name: string; json: string; signature?: string }[] {
  const out: { call: number; id: string; name: string; json: string; signature?: string }[] = [];
  for (const p of plan.parts) {
    if (p.kind !== "tool") continue;
    const c = out.find((x) => x.call === p.call);
    if (c) c.json += p.json;
    else
      out.push({
        call: p.call,
        id: p.id,
        name: p.name,
        json: p.json,
        ...(p.signature ? { signature: p.signature } : {}),
      });
  }
  return out;
}

/** Output tokens: reply parts (text, reasoning and tool fragments alike). */
export const outputTokens = (plan: SimPlan, partsSent = plan.parts.length): number => partsSent;
