/**
 * The one interface every provider implements. Each provider file maps the canonical call (the
 * /chat contract's messages, tools, formats, reasoning) to its official SDK's request, the SDK's
 * stream to `ProviderEvent`s and its errors to `PipbotError` (via `upstreamError`), so nothing
 * outside `providers/` knows a provider's wire format.
 */
import type {
  ChatMessage,
  ChatUsage,
  Provider,
  Reasoning,
  ResponseFormat,
  StopReason,
  TextPart,
  ToolChoice,
  ToolDef,
} from "../../shared/chat-api.ts";

export type { Provider } from "../../shared/chat-api.ts";

/** A message of the canonical call: content always as parts. */
export interface ProviderMessage {
  role: ChatMessage["role"];
  content: Exclude<ChatMessage["content"], string>;
}

/** What a caller asks of the model: the same for every provider (adapters translate). */
export interface CallInput {
  messages: ProviderMessage[];
  system?: TextPart[];
  maxTokens?: number;
  temperature?: number;
  topP?: number;
  /** Anthropic and Gemini only (from /v1/messages). */
  topK?: number;
  stop?: string[];
  seed?: number;
  frequencyPenalty?: number;
  presencePenalty?: number;
  /** The end user (OpenAI `user`, Anthropic `metadata.user_id`). */
  user?: string;
  tools?: ToolDef[];
  toolChoice?: ToolChoice;
  parallelToolCalls?: boolean;
  responseFormat?: ResponseFormat;
  reasoning?: Reasoning;
  /** OpenAI's prompt_cache_key. */
  promptCacheKey?: string;
  /** Anthropic beta features the caller asked for (`anthropic-beta` on /v1/messages), sent on as that header. */
  betas?: string[];
}

/** One upstream call (one attempt). */
export interface ProviderCall extends CallInput {
  /** Bare model id (no provider prefix). */
  model: string;
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

/**
 * Canonical stream events. Reasoning and tool calls come as blocks: `reasoning` pieces until a
 * `reasoning_end` (which carries the block's signature); `tool_start` → `tool_args` fragments →
 * `tool_end` per call (index = the call's order in the reply).
 */
export type ProviderEvent =
  | { type: "text"; text: string }
  /** An OpenAI refusal (Structured Outputs): the reply's text, framed as `refusal` where the API has it. */
  | { type: "refusal"; text: string }
  | { type: "reasoning"; text: string }
  | { type: "reasoning_end"; signature?: string; redacted?: string }
  | { type: "tool_start"; index: number; id: string; name: string }
  | { type: "tool_args"; index: number; json: string }
  | { type: "tool_end"; index: number; signature?: string }
  | { type: "usage"; usage: UsagePatch }
  /** `sequence`: the stop sequence that ended the reply (Anthropic's stop_sequence). */
  | { type: "stop"; reason: StopReason | string; sequence?: string };

export interface ProviderAdapter {
  readonly provider: Provider;
  /**
   * How the AI server calls an upstream for a stream caller — and for a non-stream caller when
   * `complete` is absent or declines the call (chat.ts then assembles the reply from the stream).
   *
   * Send a streaming request. Resolves once the upstream answered with response headers (a
   * non-2xx answer rejects with a PipbotError); iterating yields canonical events in batches (the
   * events decoded from one network read: one await per read, not per event — the hot path) and
   * throws a PipbotError on an in-stream error or a cut connection.
   */
  openStream(call: ProviderCall): Promise<AsyncIterable<ProviderEvent[]>>;
  /**
   * A non-stream caller's call as ONE non-stream upstream request: resolves with the whole answer
   * as the canonical events a stream of it would give (same order, one batch), rejects with a
   * PipbotError. Resolves undefined, having sent nothing, when this call must stream (Anthropic:
   * an answer that may take longer than the 10 minutes its API allows a non-stream request).
   * One parse of one body instead of an SSE event per token: the CPU of a json request no longer
   * grows with the length of the answer (bench/RESULTS.md).
   */
  complete?(call: ProviderCall): Promise<ProviderEvent[] | undefined>;
  /**
   * The input tokens the call would use (Anthropic's count_tokens; one request, no retry: the
   * caller owns retries and timeouts). Providers without a count endpoint leave it out.
   */
  countTokens?(call: ProviderCall): Promise<number>;
}

/** How an adapter reaches its upstream (direct provider or the Convex proxy). */
export interface ProviderClientConfig {
  apiKey: string;
  baseURL?: string;
  /** Headers sent on every request (proxy-v1 identity headers). */
  defaultHeaders: Record<string, string>;
  /** fetch used by the SDK (Bun fetch without its 300 s socket timeout). */
  fetch: typeof fetch;
  /** OpenAI-compatible server without a key (OPENAI_BASE_URL only): no Authorization header. */
  keyless?: boolean;
  /** Anthropic: send the credential as `Authorization: Bearer` (ANTHROPIC_AUTH_TOKEN) instead of x-api-key. */
  bearer?: boolean;
  /** Google: Vertex AI with a service account instead of the Gemini API key. */
  vertex?: { project: string; location: string; credentials: Record<string, unknown> };
}
