/**
 * The one interface every provider implements. Each provider file maps its official SDK's stream
 * to `ProviderEvent`s and its SDK's errors to `PipbotError` (via `upstreamError`), so nothing
 * outside `providers/` knows a provider's wire format.
 */
import type { ChatUsage, Provider, StopReason } from "../../shared/chat-api.ts";

export type { Provider } from "../../shared/chat-api.ts";

export interface ProviderMessage {
  role: "user" | "assistant";
  text: string;
}

/** One upstream call (one attempt). */
export interface ProviderCall {
  /** Bare model id (no provider prefix). */
  model: string;
  messages: ProviderMessage[];
  system?: string;
  maxTokens?: number;
  temperature?: number;
  /** Extra request headers for this call (proxy-v1 request / conversation ids, caller identity). */
  headers: Record<string, string>;
  /**
   * A credential for this call only, replacing the client's own key in the SDK's credential header
   * (proxy-v1: the calling VM's service token, forwarded with its user id).
   */
  apiKey?: string;
  /** Aborts the upstream request (caller gone, timeout). */
  signal: AbortSignal;
}

/** Usage fields as last reported by the upstream (cumulative: the latest value wins). */
export type UsagePatch = Partial<Omit<ChatUsage, "estimated">>;

export type ProviderEvent =
  | { type: "text"; text: string }
  | { type: "usage"; usage: UsagePatch }
  | { type: "stop"; reason: StopReason | string };

export interface ProviderAdapter {
  readonly provider: Provider;
  /**
   * The only way the AI server calls an upstream (non-stream callers too: chat.ts assembles their
   * reply from the stream, so the phase timeouts and stream usage apply alike).
   *
   * Send a streaming request. Resolves once the upstream answered with response headers (a
   * non-2xx answer rejects with a PipbotError); iterating yields canonical events and throws a
   * PipbotError on an in-stream error or a cut connection.
   */
  openStream(call: ProviderCall): Promise<AsyncIterable<ProviderEvent>>;
}

/** How an adapter reaches its upstream (direct provider or the Convex proxy). */
export interface ProviderClientConfig {
  apiKey: string;
  baseURL?: string;
  /** Headers sent on every request (proxy-v1 identity headers). */
  defaultHeaders: Record<string, string>;
  /** fetch used by the SDK (Bun fetch without its 300 s socket timeout). */
  fetch: typeof fetch;
}
