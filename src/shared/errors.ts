/**
 * The one error shape of pipbot: every failure that crosses a boundary (HTTP body, SSE `error`
 * event, log line, CLI message) is a PipbotError or is converted to one with `toPipbotError`.
 *
 * Wire form (`toJSON`): { code, message, retryable, retryAfterMs?, details? }.
 * HTTP bodies wrap it: { error: { ... } } with `status` as the HTTP status code.
 */

import { retryAfterHeader } from "./backoff.ts";

export const ERROR_CODES = {
  invalid_request: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  payload_too_large: 413,
  rate_limited: 429,
  client_closed: 499,
  internal: 500,
  provider_not_configured: 400,
  upstream_error: 502,
  upstream_unavailable: 503,
  upstream_overloaded: 529,
  upstream_connection: 502,
  timeout: 504,
  unavailable: 503,
  shutting_down: 503,
  config_invalid: 500,
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface ErrorBody {
  code: ErrorCode | string;
  message: string;
  retryable: boolean;
  retryAfterMs?: number;
  details?: Record<string, unknown>;
}

export interface PipbotErrorInit {
  retryable?: boolean;
  retryAfterMs?: number;
  status?: number;
  details?: Record<string, unknown>;
  cause?: unknown;
}

export class PipbotError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;
  readonly retryAfterMs?: number;
  readonly status: number;
  readonly details?: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, init: PipbotErrorInit = {}) {
    super(message, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = "PipbotError";
    this.code = code;
    this.retryable = init.retryable ?? false;
    if (init.retryAfterMs !== undefined) this.retryAfterMs = Math.max(0, Math.round(init.retryAfterMs));
    this.status = init.status ?? ERROR_CODES[code];
    if (init.details !== undefined) this.details = init.details;
  }

  toJSON(): ErrorBody {
    const body: ErrorBody = { code: this.code, message: this.message, retryable: this.retryable };
    if (this.retryAfterMs !== undefined) body.retryAfterMs = this.retryAfterMs;
    if (this.details !== undefined) body.details = this.details;
    return body;
  }

  /** `{ error: {...} }`, the body of every non-2xx HTTP response. */
  toHttpBody(): { error: ErrorBody } {
    return { error: this.toJSON() };
  }
}

export function isPipbotError(value: unknown): value is PipbotError {
  return value instanceof PipbotError;
}

/** Anything thrown → a PipbotError. Unknown errors become `internal` and keep the original as cause. */
export function toPipbotError(value: unknown, fallback: ErrorCode = "internal"): PipbotError {
  if (value instanceof PipbotError) return value;
  if (value instanceof Error) {
    if (value.name === "AbortError")
      return new PipbotError("client_closed", "request aborted", { cause: value });
    return new PipbotError(fallback, value.message || fallback, { cause: value });
  }
  return new PipbotError(fallback, typeof value === "string" ? value : fallback);
}

/** A JSON Response with the one error shape. */
export function errorResponse(err: PipbotError, headers?: Record<string, string>): Response {
  const h = { "content-type": "application/json", ...headers, ...retryHeaders(err) };
  return new Response(JSON.stringify(err.toHttpBody()), { status: err.status, headers: h });
}

/**
 * An error response's retry advice, in the headers the SDKs read: `retry-after` (+ `retry-after-ms`,
 * OpenAI's), and `x-should-retry: false` when retrying cannot help (a spent budget, a refused
 * credential): the openai and Anthropic SDKs would otherwise retry a 429 / 5xx on their own — and
 * @anthropic-ai/sdk honours any retry-after, hours included.
 */
export function retryHeaders(err: PipbotError): Record<string, string> {
  const h: Record<string, string> = {};
  if (err.retryAfterMs !== undefined) {
    h["retry-after"] = retryAfterHeader(err.retryAfterMs);
    h["retry-after-ms"] = String(err.retryAfterMs);
  }
  if (!err.retryable) h["x-should-retry"] = "false";
  return h;
}
