/**
 * Wire shapes of the OpenClaw-compatible gateway protocol (3 and 4), in one place: frames, the
 * error shape with its structured `details.code`, `connect` params, version negotiation and the
 * exact `hello-ok` payload. Nothing here touches a socket.
 *
 * Frames never carry extra top-level keys: protocol-3 clients validate strictly and drop frames
 * that fail.
 */
import { z } from "zod";
import { type ErrorCode, PipbotError } from "../shared/errors.ts";
import { parseFrame, type RequestFrame, requestFrameSchema } from "../shared/gateway-frames.ts";

export const PROTOCOL_MIN = 3;
export const PROTOCOL_MAX = 4;
/** Inbound frame limit before the handshake completes. */
export const PRE_HANDSHAKE_MAX_BYTES = 64 * 1024;
/** Inbound frame limit after the handshake (protocol 4's value), advertised as policy.maxPayload. */
export const MAX_PAYLOAD_BYTES = 25 * 1024 * 1024;
export const TICK_INTERVAL_MS = 30_000;
/** Close reasons are limited to 123 bytes by RFC 6455; the spec says at most 120. */
export const MAX_CLOSE_REASON_BYTES = 120;

export const CLOSE = {
  normal: 1000,
  protocolError: 1002,
  policy: 1008,
  tooBig: 1009,
  restart: 1012,
} as const;

export type GatewayErrorCode = "INVALID_REQUEST" | "UNAVAILABLE" | "NOT_PAIRED" | "FORBIDDEN";

export interface ErrorShape {
  code: GatewayErrorCode;
  message: string;
  details?: Record<string, unknown>;
  retryable?: boolean;
  retryAfterMs?: number;
}

export type { EventFrame, RequestFrame } from "../shared/gateway-frames.ts";

/** A response as the gateway writes it (the shared frame, with the protocol's error shape). */
export interface ResponseFrame {
  type: "res";
  id: string;
  ok: boolean;
  payload?: unknown;
  error?: ErrorShape;
}

/** The protocol's error code for each of pipbot's error codes (the rest are UNAVAILABLE). */
const WIRE_CODES: Partial<Record<ErrorCode, GatewayErrorCode>> = {
  invalid_request: "INVALID_REQUEST",
  unauthorized: "INVALID_REQUEST",
  rate_limited: "INVALID_REQUEST",
  not_found: "INVALID_REQUEST",
  conflict: "INVALID_REQUEST",
  payload_too_large: "INVALID_REQUEST",
  forbidden: "FORBIDDEN",
};

/** A failed request's PipbotError in the protocol's wire shape (`retryable` only when true). */
export function errorShape(err: PipbotError): ErrorShape {
  const e: ErrorShape = { code: WIRE_CODES[err.code] ?? "UNAVAILABLE", message: err.message || err.code };
  if (err.details !== undefined) e.details = err.details;
  if (err.retryable) e.retryable = true;
  if (err.retryAfterMs !== undefined) e.retryAfterMs = err.retryAfterMs;
  return e;
}

export const invalidRequest = (message: string, details?: Record<string, unknown>) =>
  new PipbotError("invalid_request", message, details ? { details } : {});

export function okResponse(id: string, payload: unknown): ResponseFrame {
  return { type: "res", id, ok: true, payload };
}

/** `res {ok:false, error}`: a request's failure as a response frame. */
export function errorFrame(id: string, err: PipbotError): ResponseFrame {
  return { type: "res", id, ok: false, error: errorShape(err) };
}

/** Parse one inbound text frame as a request; `id` is reported when it was readable. */
export function parseRequestFrame(
  text: string,
): { ok: true; frame: RequestFrame } | { ok: false; reason: string; id?: string; json: boolean } {
  const r = parseFrame(text, requestFrameSchema);
  if (!r.ok) {
    const id = typeof r.value?.id === "string" && r.value.id.length > 0 ? r.value.id : undefined;
    return { ok: false, reason: r.reason, json: r.json, ...(id ? { id } : {}) };
  }
  const frame: RequestFrame = { type: "req", id: r.frame.id, method: r.frame.method };
  if (r.frame.params !== undefined) frame.params = r.frame.params;
  return { ok: true, frame };
}

// ---- connect -------------------------------------------------------------------------------------

export const connectParamsSchema = z.looseObject({
  minProtocol: z.number().int(),
  maxProtocol: z.number().int(),
  client: z.looseObject({
    id: z.string().min(1),
    version: z.string(),
    platform: z.string(),
    mode: z.string(),
  }),
  role: z.string().optional(),
  scopes: z.array(z.string()).optional(),
  auth: z.looseObject({ token: z.string().optional(), password: z.string().optional() }).optional(),
});
export type ConnectParams = z.infer<typeof connectParamsSchema>;

/** The first zod issue as a short human string: `client.id: expected string`. */
export function describeZodError(err: z.ZodError): string {
  const issue = err.issues[0];
  if (!issue) return "invalid";
  const path = issue.path.length ? `${issue.path.join(".")}: ` : "";
  return `${path}${issue.message}`.slice(0, 200);
}

/** 4 if the client's range includes 4, else 3 if it includes 3, else null (protocol mismatch). */
export function negotiateProtocol(min: number, max: number): 3 | 4 | null {
  if (min <= 4 && 4 <= max) return 4;
  if (min <= 3 && 3 <= max) return 3;
  return null;
}

export interface HelloOkInput {
  protocol: 3 | 4;
  version: string;
  connId: string;
  methods: string[];
  events: string[];
  uptimeMs: number;
  maxBufferedBytes: number;
  tickIntervalMs?: number;
  scopes: string[];
}

/** The hello-ok payload EXACTLY as specified (no extra keys; `auth` only for protocol 4). */
export function helloOk(i: HelloOkInput): Record<string, unknown> {
  const hello: Record<string, unknown> = {
    type: "hello-ok",
    protocol: i.protocol,
    server: { version: i.version, connId: i.connId },
    features: { methods: [...i.methods], events: [...i.events] },
    snapshot: {
      presence: [],
      health: {},
      stateVersion: { presence: 0, health: 0 },
      uptimeMs: Math.max(0, Math.floor(i.uptimeMs)),
      sessionDefaults: { defaultAgentId: "main", mainKey: "main", mainSessionKey: "agent:main:main" },
    },
    policy: {
      maxPayload: MAX_PAYLOAD_BYTES,
      maxBufferedBytes: i.maxBufferedBytes,
      tickIntervalMs: i.tickIntervalMs ?? TICK_INTERVAL_MS,
    },
  };
  if (i.protocol === 4) {
    hello.auth = { role: "operator", scopes: [...i.scopes] };
    // The Control UI keeps the token for the tab (reloads) only when the gateway says it uses one.
    (hello.snapshot as Record<string, unknown>).authMode = "token";
  }
  return hello;
}

/** Trim a close reason to the byte limit without splitting a character. */
export function closeReason(reason: string): string {
  const enc = new TextEncoder();
  if (enc.encode(reason).length <= MAX_CLOSE_REASON_BYTES) return reason;
  let out = reason;
  while (enc.encode(out).length > MAX_CLOSE_REASON_BYTES) out = out.slice(0, -1);
  return out;
}

/** Serialize an event frame with a pre-serialized payload (broadcasts stringify the payload once). */
export function eventFrameText(
  event: string,
  payloadJson: string | undefined,
  seq: number | undefined,
): string {
  let s = `{"type":"event","event":${JSON.stringify(event)}`;
  if (payloadJson !== undefined) s += `,"payload":${payloadJson}`;
  if (seq !== undefined) s += `,"seq":${seq}`;
  return `${s}}`;
}
