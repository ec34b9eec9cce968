/**
 * Anthropic's error `type` for an HTTP status, as its API sends it (`{"type":"error","error":
 * {"type", "message"}}`): used where pipbot speaks Anthropic's wire — the AI server's /v1/messages
 * and the upstream simulator. Any other status is `api_error`.
 */
const ANTHROPIC_ERROR_TYPES: Readonly<Record<number, string>> = {
  400: "invalid_request_error",
  401: "authentication_error",
  402: "billing_error",
  403: "permission_error",
  404: "not_found_error",
  413: "request_too_large",
  429: "rate_limit_error",
  500: "api_error",
  504: "timeout_error",
  529: "overloaded_error",
};

export function anthropicErrorType(status: number): string {
  return ANTHROPIC_ERROR_TYPES[status] ?? "api_error";
}
