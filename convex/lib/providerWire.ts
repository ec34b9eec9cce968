/**
 * What the usage proxy knows about each provider's wire: which paths it forwards, where the SDK
 * puts its credential, how the operator's key is sent upstream, the model a request names, and
 * the provider's own error JSON (so the SDKs parse the proxy's refusals like the provider's).
 */
export type Provider = "anthropic" | "openai" | "google";

export const PROVIDERS: Provider[] = ["anthropic", "openai", "google"];

/** Paths the proxy forwards (anything else is 404: the operator's key is not a general credential). */
const ALLOWED: Record<Provider, RegExp> = {
  anthropic: /^\/v1\/(messages(\/count_tokens)?|models(\/[^/]+)?)$/,
  openai: /^\/v1\/(chat\/completions|responses|embeddings|models(\/[^/]+)?)$/,
  google:
    /^\/(v1|v1beta)\/models(\/[^/:]+(:(generateContent|streamGenerateContent|countTokens|embedContent))?)?$/,
};

export const allowedPath = (p: Provider, path: string) => ALLOWED[p].test(path);

/** Paths that generate (and are billed): the rest — model lists, token counts — only pass through. */
const BILLABLE: Record<Provider, RegExp> = {
  anthropic: /^\/v1\/messages$/,
  openai: /^\/v1\/(chat\/completions|responses|embeddings)$/,
  google: /:(generateContent|streamGenerateContent|embedContent)$/,
};

export const billablePath = (p: Provider, path: string) => BILLABLE[p].test(path);

/** Environment of the Convex deployment: the operator's provider keys and (optional) base URLs. */
export const UPSTREAM_ENV: Record<Provider, { key: string[]; baseUrl: string; defaultBase: string }> = {
  anthropic: {
    key: ["ANTHROPIC_API_KEY"],
    baseUrl: "ANTHROPIC_BASE_URL",
    defaultBase: "https://api.anthropic.com",
  },
  openai: { key: ["OPENAI_API_KEY"], baseUrl: "OPENAI_BASE_URL", defaultBase: "https://api.openai.com" },
  google: {
    key: ["GEMINI_API_KEY", "GOOGLE_API_KEY"],
    baseUrl: "GOOGLE_BASE_URL",
    defaultBase: "https://generativelanguage.googleapis.com",
  },
};

/** The credential the SDK sent (the VM's service token is its apiKey). */
export function sdkCredential(p: Provider, h: Headers): string | null {
  if (p === "google") return h.get("x-goog-api-key");
  const bearer = /^Bearer\s+(.+)$/i.exec(h.get("authorization") ?? "")?.[1];
  if (bearer) return bearer;
  return p === "anthropic" ? h.get("x-api-key") : null;
}

const DROP_REQUEST = new Set([
  "host",
  "content-length",
  "connection",
  "authorization",
  "x-api-key",
  "x-goog-api-key",
  "accept-encoding",
  "cookie",
]);

/** Request headers for the provider: the SDK's own minus credentials and ours, plus the operator's key. */
export function upstreamHeaders(p: Provider, incoming: Headers, key: string): Headers {
  const out = new Headers();
  incoming.forEach((value, name) => {
    const n = name.toLowerCase();
    if (DROP_REQUEST.has(n) || n.startsWith("x-pipbot-") || n.startsWith("x-forwarded-")) return;
    out.set(n, value);
  });
  out.set("accept-encoding", "identity"); // usage is read from the body as it passes
  if (p === "anthropic") out.set("x-api-key", key);
  else if (p === "openai") out.set("authorization", `Bearer ${key}`);
  else out.set("x-goog-api-key", key);
  return out;
}

const DROP_RESPONSE = new Set(["content-length", "content-encoding", "transfer-encoding", "connection"]);

export function responseHeaders(upstream: Headers, requestId: string): Headers {
  const out = new Headers();
  upstream.forEach((value, name) => {
    if (!DROP_RESPONSE.has(name.toLowerCase())) out.set(name, value);
  });
  out.set("x-pipbot-request-id", requestId);
  return out;
}

/** The model a request names: the body's `model`, or Gemini's path segment. */
export function requestModel(p: Provider, path: string, body: unknown): string | undefined {
  if (p === "google") return /\/models\/([^/:]+)/.exec(path)?.[1];
  const m = (body as { model?: unknown } | null)?.model;
  return typeof m === "string" ? m : undefined;
}

export type Refusal =
  | "auth"
  | "budget_month"
  | "budget_day"
  | "not_found"
  | "unconfigured"
  | "unreachable"
  | "bad_request";

const STATUS: Record<Refusal, number> = {
  auth: 401,
  budget_month: 402,
  budget_day: 429,
  not_found: 404,
  unconfigured: 503,
  unreachable: 502,
  bad_request: 400,
};

const ANTHROPIC_TYPE: Record<Refusal, string> = {
  auth: "authentication_error",
  budget_month: "billing_error",
  budget_day: "rate_limit_error",
  not_found: "not_found_error",
  unconfigured: "api_error",
  unreachable: "api_error",
  bad_request: "invalid_request_error",
};

const OPENAI_TYPE: Record<Refusal, [string, string | null]> = {
  auth: ["invalid_request_error", "invalid_api_key"],
  budget_month: ["insufficient_quota", "insufficient_quota"],
  budget_day: ["insufficient_quota", "budget_exceeded"],
  not_found: ["invalid_request_error", "unknown_url"],
  unconfigured: ["server_error", null],
  unreachable: ["server_error", null],
  bad_request: ["invalid_request_error", null],
};

const GOOGLE_STATUS: Record<Refusal, string> = {
  auth: "UNAUTHENTICATED",
  budget_month: "FAILED_PRECONDITION",
  budget_day: "RESOURCE_EXHAUSTED",
  not_found: "NOT_FOUND",
  unconfigured: "UNAVAILABLE",
  unreachable: "UNAVAILABLE",
  bad_request: "INVALID_ARGUMENT",
};

/** A proxy-side refusal in the provider's own error shape (with retry-after when there is one). */
export function refusal(
  p: Provider,
  kind: Refusal,
  message: string,
  opts: { requestId?: string; retryAfterS?: number } = {},
): Response {
  const status = STATUS[kind];
  const body =
    p === "anthropic"
      ? { type: "error", error: { type: ANTHROPIC_TYPE[kind], message }, request_id: opts.requestId ?? null }
      : p === "openai"
        ? { error: { message, type: OPENAI_TYPE[kind][0], param: null, code: OPENAI_TYPE[kind][1] } }
        : { error: { code: status, message, status: GOOGLE_STATUS[kind] } };
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (opts.requestId) headers["x-pipbot-request-id"] = opts.requestId;
  if (opts.retryAfterS !== undefined) headers["retry-after"] = String(opts.retryAfterS);
  // Budgets do not refill by retrying: tell the SDKs not to.
  if (kind === "budget_day" || kind === "budget_month" || kind === "auth")
    headers["x-should-retry"] = "false";
  return new Response(JSON.stringify(body), { status, headers });
}
