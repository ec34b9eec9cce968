/**
 * Upstream failures → PipbotError: one classification for all providers (status, retry hints),
 * used by each provider file after it has pulled status/headers/message out of its SDK's error.
 */
import { parseRetryAfter } from "../../shared/backoff.ts";
import { type ErrorCode, PipbotError } from "../../shared/errors.ts";
import type { Provider } from "./types.ts";

export interface UpstreamFailure {
  provider: Provider;
  /** HTTP status; undefined for a connection failure or an in-stream error event. */
  status?: number;
  headers?: Headers | null;
  message: string;
  /** Provider error type/code (e.g. overloaded_error, insufficient_quota, UNAVAILABLE). */
  type?: string;
  /** True when this is a transport failure (refused, reset, cut mid-stream). */
  connection?: boolean;
  /** True for an error event inside a 200 stream. */
  inStream?: boolean;
  /**
   * True when the upstream refused the server's credential whatever its status (Gemini answers a
   * bad key with a 400 API_KEY_INVALID): treated as a 401, not as the caller's bad request.
   */
  credential?: boolean;
  cause?: unknown;
}

/** Each provider's credential variables (direct mode): named by "not configured" and by a 401/403. */
export const CREDENTIAL_VARS: Record<Provider, string> = {
  anthropic: "ANTHROPIC_API_KEY (or ANTHROPIC_AUTH_TOKEN)",
  openai: "OPENAI_API_KEY (or OPENAI_BASE_URL for a keyless OpenAI-compatible server)",
  google: "GEMINI_API_KEY (or GOOGLE_API_KEY, or GOOGLE_APPLICATION_CREDENTIALS_JSON for Vertex AI)",
};

/** Retry delay from `retry-after-ms` / `retry-after` (seconds or HTTP date). */
export function retryAfterMs(headers: Headers | null | undefined, now = Date.now()): number | undefined {
  if (!headers) return undefined;
  const ms = headers.get("retry-after-ms");
  if (ms !== null && ms.trim() !== "" && Number.isFinite(Number(ms))) return Math.max(0, Number(ms));
  return parseRetryAfter(headers.get("retry-after"), { nowMs: now });
}

function classify(f: UpstreamFailure): { code: ErrorCode; retryable: boolean; status: number } {
  const s = f.credential ? 401 : f.status;
  if (s === undefined) {
    if (f.connection) return { code: "upstream_connection", retryable: true, status: 502 };
    const overloaded = /overload|unavailable/i.test(`${f.type ?? ""} ${f.message}`);
    return {
      code: overloaded ? "upstream_overloaded" : "upstream_error",
      retryable: true,
      status: overloaded ? 529 : 502,
    };
  }
  if (s === 400 || s === 422) return { code: "invalid_request", retryable: false, status: 400 };
  if (s === 401 || s === 403) return { code: "upstream_error", retryable: false, status: 502 };
  if (s === 402) return { code: "upstream_error", retryable: false, status: 402 };
  if (s === 404) return { code: "not_found", retryable: false, status: 404 };
  if (s === 413) return { code: "payload_too_large", retryable: false, status: 413 };
  if (s === 429) return { code: "rate_limited", retryable: f.type !== "insufficient_quota", status: 429 };
  if (s === 408 || s === 409) return { code: "upstream_error", retryable: true, status: 502 };
  if (s === 529) return { code: "upstream_overloaded", retryable: true, status: 529 };
  if (s === 503) return { code: "upstream_unavailable", retryable: true, status: 503 };
  if (s === 504) return { code: "upstream_unavailable", retryable: true, status: 504 };
  if (s >= 500) return { code: "upstream_error", retryable: true, status: 502 };
  return { code: "upstream_error", retryable: false, status: 502 };
}

/** The PipbotError for an upstream failure (message names the provider; never a URL or key). */
export function upstreamError(f: UpstreamFailure): PipbotError {
  const c = classify(f);
  const should = f.headers?.get("x-should-retry");
  const retryable = should === "true" ? true : should === "false" ? false : c.retryable;
  const where =
    f.status === undefined ? (f.connection ? "connection failed" : "error in stream") : `HTTP ${f.status}`;
  let message = `${f.provider} upstream ${where}: ${f.message}`.slice(0, 1000);
  if (f.credential || f.status === 401 || f.status === 403)
    message += ` — check ${CREDENTIAL_VARS[f.provider]}, or PIPBOT_SERVICE_TOKEN in proxy mode`;
  const ra = retryAfterMs(f.headers);
  return new PipbotError(c.code, message, {
    retryable,
    status: c.status,
    ...(ra !== undefined ? { retryAfterMs: ra } : {}),
    details: {
      provider: f.provider,
      ...(f.status !== undefined ? { upstreamStatus: f.status } : {}),
      ...(f.type ? { upstreamType: f.type } : {}),
    },
    cause: f.cause,
  });
}
