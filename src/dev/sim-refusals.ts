/**
 * What each provider says when it refuses a request before generating: missing credentials
 * (checked the way each provider checks them) and an unknown model, in the providers' own words.
 */
import type { SimOptions } from "./sim-options.ts";
import type { SimProvider } from "./sim-wire.ts";

/** Null when the request carries the provider's kind of credentials, else the provider's message. */
export function authOk(provider: SimProvider, req: Request, url: URL): string | null {
  const bearer = /^Bearer\s+\S+/i.test(req.headers.get("authorization") ?? "");
  if (provider === "anthropic") {
    if (!bearer && !req.headers.get("x-api-key"))
      return "missing credentials: send x-api-key or Authorization: Bearer";
    return null;
  }
  if (provider === "openai") return bearer ? null : "You didn't provide an API key.";
  return req.headers.get("x-goog-api-key") || url.searchParams.get("key")
    ? null
    : "Method doesn't allow unregistered callers. Please use API Key.";
}

/** Each provider's real answer to an unknown model. */
export function unknownModel(provider: SimProvider, model: string): string {
  if (provider === "openai") return `The model \`${model}\` does not exist or you do not have access to it.`;
  if (provider === "google")
    return `models/${model} is not found for API version v1beta, or is not supported for generateContent. Call ListModels to see the list of available models and their supported methods.`;
  return `model: ${model}`;
}

/**
 * A simulated failure (`status`, `fail_times`): its message and retry hints, where each provider
 * puts them — Gemini in the error body (RetryInfo, `retryAfterMs` for the wire's error body), the
 * others as `retry-after` / `retry-after-ms` headers. `should_retry` is always a header (a test knob).
 */
export function simulatedFailure(
  provider: SimProvider,
  status: number,
  opts: Pick<SimOptions, "retryAfterS" | "retryAfterMs" | "shouldRetry">,
): { message: string; headers: Record<string, string>; retryAfterMs?: number } {
  const headers: Record<string, string> = {};
  const message =
    status === 529
      ? "Overloaded"
      : status === 429
        ? "Rate limit reached (simulated)"
        : `simulated upstream error ${status}`;
  if (opts.shouldRetry !== undefined) headers["x-should-retry"] = opts.shouldRetry;
  if (provider === "google") {
    const ms = opts.retryAfterMs ?? (opts.retryAfterS !== undefined ? opts.retryAfterS * 1000 : undefined);
    return ms === undefined ? { message, headers } : { message, headers, retryAfterMs: ms };
  }
  if (opts.retryAfterS !== undefined) headers["retry-after"] = String(opts.retryAfterS);
  if (opts.retryAfterMs !== undefined) headers["retry-after-ms"] = String(opts.retryAfterMs);
  return { message, headers };
}
