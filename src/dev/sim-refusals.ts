/**
 * What each provider says when it refuses a request before generating: missing credentials
 * (checked the way each provider checks them) and an unknown model, in the providers' own words.
 */
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
