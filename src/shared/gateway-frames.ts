/**
 * The gateway protocol's frames (protocol 3 and 4), in one place for both ends: the gateway
 * (src/gateway, which parses requests and writes responses and events) and `pipbot chat`
 * (src/chat-client, which writes requests and parses responses and events). They mirror
 * RequestFrame / ResponseFrame / EventFrame of @openclaw/gateway-protocol's protocol.schema.json
 * (gateway-frames.test.ts checks them against it); inbound frames are read leniently (extra keys
 * ignored), outbound ones never carry extra keys.
 */
import { z } from "zod";

export const errorShapeSchema = z.object({
  code: z.string().min(1),
  message: z.string().min(1),
  details: z.record(z.string(), z.unknown()).optional(),
  retryable: z.boolean().optional(),
  retryAfterMs: z.number().int().min(0).optional(),
});

export const requestFrameSchema = z.looseObject({
  type: z.literal("req", { message: 'type must be "req"' }),
  id: z.string({ message: "id must be a non-empty string" }).min(1, "id must be a non-empty string"),
  method: z
    .string({ message: "method must be a non-empty string" })
    .min(1, "method must be a non-empty string"),
  params: z.unknown().optional(),
});

export const responseFrameSchema = z.looseObject({
  type: z.literal("res"),
  id: z.string().min(1),
  ok: z.boolean(),
  payload: z.unknown().optional(),
  error: errorShapeSchema.optional(),
});

export const eventFrameSchema = z.looseObject({
  type: z.literal("event"),
  event: z.string().min(1),
  payload: z.unknown().optional(),
  seq: z.number().int().min(0).optional(),
});

/** What a client receives from the gateway. */
export const serverFrameSchema = z.discriminatedUnion("type", [responseFrameSchema, eventFrameSchema]);

export type ErrorShapeFrame = z.infer<typeof errorShapeSchema>;
export type RequestFrame = { type: "req"; id: string; method: string; params?: unknown };
export type ResponseFrame = z.infer<typeof responseFrameSchema>;
export type EventFrame = z.infer<typeof eventFrameSchema>;
export type ServerFrame = z.infer<typeof serverFrameSchema>;

/** Parse one text frame: JSON, an object, then `schema`; the reason names the first problem. */
export function parseFrame<T extends z.ZodType>(
  text: string,
  schema: T,
):
  | { ok: true; frame: z.infer<T> }
  | { ok: false; reason: string; json: boolean; value?: Record<string, unknown> } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, reason: "not JSON", json: false };
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return { ok: false, reason: "not an object", json: true };
  }
  const r = schema.safeParse(value);
  if (r.success) return { ok: true, frame: r.data };
  return {
    ok: false,
    reason: r.error.issues[0]?.message ?? "invalid frame",
    json: true,
    value: value as Record<string, unknown>,
  };
}
