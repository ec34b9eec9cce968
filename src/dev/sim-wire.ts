/** Upstream simulator: the shape every provider wire format implements (see sim-anthropic/openai/google). */
import type { SimOptions } from "./sim-options.ts";

export type SimProvider = "anthropic" | "openai" | "google";

export type SimPart =
  | { kind: "text"; text: string }
  | { kind: "tool"; json: string; first: boolean; last: boolean };

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
  /** A provider error body for an HTTP status. */
  error(status: number, message: string): SimErrorReply;
}

export const sse = (data: unknown, event?: string): string =>
  `${event ? `event: ${event}\n` : ""}data: ${JSON.stringify(data)}\n\n`;

export const fullText = (plan: SimPlan): string =>
  plan.parts.map((p) => (p.kind === "text" ? p.text : "")).join("");

export const outputTokens = (plan: SimPlan, partsSent = plan.parts.length): number => partsSent;
