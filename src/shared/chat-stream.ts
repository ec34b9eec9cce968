/**
 * The AI server's `POST /chat` stream events (SSE, `event: <type>` + `data: <json>`), used by the
 * AI server (framing) and by the gateway (parsing):
 *   start {id, provider, model}
 *   → delta {text} | reasoning {text, signature?, redacted?} | tool_call {index, id, name, input, signature?} …
 *   → exactly one of  done {message, stopReason, usage}  or  error {code, message, retryable, retryAfterMs?}
 * `reasoning` events come only when reasoning was asked for and the provider returns its text;
 * `tool_call` events only when tools were given (each call complete, once). A client that knows
 * neither may ignore them: `done.message` holds the whole reply again.
 * Comment lines (`: keep-alive`) may appear anywhere while the upstream is silent.
 */
import { z } from "zod";
import { assistantMessageSchema, chatUsageSchema } from "./chat-api.ts";

export const streamStartSchema = z.object({ id: z.string(), provider: z.string(), model: z.string() });
export const streamDeltaSchema = z.object({ text: z.string() });
/** A piece of reasoning text; `signature` / `redacted` arrive with a block's last piece. */
export const streamReasoningSchema = z.object({
  text: z.string(),
  signature: z.string().optional(),
  redacted: z.string().optional(),
});
/** One complete tool call, sent as soon as the model finished it (index: its order in the reply). */
export const streamToolCallSchema = z.object({
  index: z.number().int().min(0),
  id: z.string(),
  name: z.string(),
  input: z.record(z.string(), z.unknown()),
  signature: z.string().optional(),
});
export const streamDoneSchema = z.object({
  message: assistantMessageSchema,
  stopReason: z.string(),
  usage: chatUsageSchema,
});
export const streamErrorSchema = z.object({
  code: z.string(),
  message: z.string(),
  retryable: z.boolean(),
  retryAfterMs: z.number().optional(),
});

export type StreamEvent =
  | { type: "start"; data: z.infer<typeof streamStartSchema> }
  | { type: "delta"; data: z.infer<typeof streamDeltaSchema> }
  | { type: "reasoning"; data: z.infer<typeof streamReasoningSchema> }
  | { type: "tool_call"; data: z.infer<typeof streamToolCallSchema> }
  | { type: "done"; data: z.infer<typeof streamDoneSchema> }
  | { type: "error"; data: z.infer<typeof streamErrorSchema> };

const eventSchemas = {
  start: streamStartSchema,
  delta: streamDeltaSchema,
  reasoning: streamReasoningSchema,
  tool_call: streamToolCallSchema,
  done: streamDoneSchema,
  error: streamErrorSchema,
} as const;

/** Validate one SSE event (name + JSON data) of the /chat stream; null when unknown or malformed. */
export function parseStreamEvent(event: string, data: string): StreamEvent | null {
  if (!(event in eventSchemas)) return null;
  let json: unknown;
  try {
    json = JSON.parse(data);
  } catch {
    return null;
  }
  const parsed = eventSchemas[event as keyof typeof eventSchemas].safeParse(json);
  return parsed.success ? ({ type: event, data: parsed.data } as StreamEvent) : null;
}

/** Serialize one event as an SSE frame. */
export function formatStreamEvent(ev: StreamEvent): string {
  return `event: ${ev.type}\ndata: ${JSON.stringify(ev.data)}\n\n`;
}
