/**
 * Reads token usage out of a provider response as its bytes pass through the proxy: Anthropic and
 * OpenAI JSON or SSE, Gemini JSON or SSE. Stream usage values are cumulative: the latest wins.
 * Normalised: `inputTokens` excludes cache reads; `outputTokens` is what bills as output (Gemini
 * thoughts included); `reasoningTokens` is the part of it spent thinking.
 */
import { createParser, type EventSourceParser } from "eventsource-parser";
import type { Provider } from "./providerWire";

export interface Tokens {
  inputTokens: number;
  outputTokens: number;
  cacheReadTokens: number;
  cacheWriteTokens: number;
  reasoningTokens: number;
}

export const zeroTokens = (): Tokens => ({
  inputTokens: 0,
  outputTokens: 0,
  cacheReadTokens: 0,
  cacheWriteTokens: 0,
  reasoningTokens: 0,
});

/** A JSON body larger than this is passed through but not parsed for usage (actions have 64 MiB of RAM). */
const MAX_JSON_BYTES = 4 * 1024 * 1024;

// biome-ignore lint/suspicious/noExplicitAny: provider payloads are walked defensively
type Json = Record<string, any>;
const num = (x: unknown) => (typeof x === "number" && Number.isFinite(x) ? x : undefined);

export class UsageMeter {
  readonly tokens = zeroTokens();
  /** True once the provider reported usage (a stream cut before that leaves it false). */
  sawUsage = false;
  model: string | undefined;
  /** The kind of error a stream frame reported (a 200 the provider ended with an error event). */
  streamError: string | undefined;
  private readonly sse: EventSourceParser | null;
  private readonly decoder = new TextDecoder();
  private json: Uint8Array[] | null = [];
  private jsonBytes = 0;

  constructor(
    private readonly provider: Provider,
    contentType: string,
  ) {
    this.sse = /text\/event-stream/i.test(contentType)
      ? createParser({ onEvent: (ev) => this.frame(ev.data) })
      : null;
    if (this.sse) this.json = null;
  }

  feed(chunk: Uint8Array): void {
    if (this.sse) this.sse.feed(this.decoder.decode(chunk, { stream: true }));
    else if (this.json) {
      this.jsonBytes += chunk.length;
      if (this.jsonBytes > MAX_JSON_BYTES) this.json = null;
      else this.json.push(chunk.slice());
    }
  }

  /** Call at the end of the body: parses a buffered JSON body. */
  end(): void {
    if (!this.json) return;
    const all = new Uint8Array(this.jsonBytes);
    let at = 0;
    for (const c of this.json) {
      all.set(c, at);
      at += c.length;
    }
    try {
      this.payload(JSON.parse(new TextDecoder().decode(all)) as Json);
    } catch {
      /* not JSON: no usage */
    }
  }

  private frame(data: string): void {
    if (data === "[DONE]") return;
    let j: Json;
    try {
      j = JSON.parse(data) as Json;
    } catch {
      return; /* a frame we do not read */
    }
    this.streamError ??= errorKind(j);
    this.payload(j);
  }

  private payload(j: Json): void {
    if (this.provider === "anthropic") this.anthropic(j);
    else if (this.provider === "openai") this.openai(j);
    else this.google(j);
  }

  private anthropic(j: Json): void {
    const u: Json | undefined = j.type === "message_start" ? j.message?.usage : j.usage;
    if (j.type === "message_start" || j.type === "message")
      this.model = j.message?.model ?? j.model ?? this.model;
    if (!u) return;
    this.sawUsage = true;
    const t = this.tokens;
    t.inputTokens = num(u.input_tokens) ?? t.inputTokens;
    t.outputTokens = num(u.output_tokens) ?? t.outputTokens;
    t.cacheReadTokens = num(u.cache_read_input_tokens) ?? t.cacheReadTokens;
    t.cacheWriteTokens = num(u.cache_creation_input_tokens) ?? t.cacheWriteTokens;
    // Thinking, when Anthropic breaks it out: a part of output_tokens (billed as output).
    t.reasoningTokens = num(u.output_tokens_details?.thinking_tokens) ?? t.reasoningTokens;
  }

  private openai(j: Json): void {
    if (typeof j.model === "string") this.model = j.model;
    const u: Json | undefined = j.usage ?? (j.type === "response.completed" ? j.response?.usage : undefined);
    if (!u) return;
    this.sawUsage = true;
    const t = this.tokens;
    const prompt = num(u.prompt_tokens) ?? num(u.input_tokens) ?? 0;
    const cached =
      num(u.prompt_tokens_details?.cached_tokens) ?? num(u.input_tokens_details?.cached_tokens) ?? 0;
    t.inputTokens = Math.max(0, prompt - cached);
    t.cacheReadTokens = cached;
    t.outputTokens = num(u.completion_tokens) ?? num(u.output_tokens) ?? 0;
    t.reasoningTokens =
      num(u.completion_tokens_details?.reasoning_tokens) ??
      num(u.output_tokens_details?.reasoning_tokens) ??
      0;
  }

  private google(j: Json): void {
    if (typeof j.modelVersion === "string") this.model = j.modelVersion;
    const u: Json | undefined = j.usageMetadata;
    if (!u) return;
    this.sawUsage = true;
    const t = this.tokens;
    const cached = num(u.cachedContentTokenCount) ?? 0;
    const thoughts = num(u.thoughtsTokenCount) ?? 0;
    t.inputTokens = Math.max(0, (num(u.promptTokenCount) ?? 0) - cached);
    t.cacheReadTokens = cached;
    t.outputTokens = (num(u.candidatesTokenCount) ?? 0) + thoughts;
    t.reasoningTokens = thoughts;
  }
}

/**
 * An error frame of a stream: Anthropic's `{type:"error", error:{type}}`, OpenAI's and Gemini's
 * `{error:{type|status|code}}`, OpenAI Responses' `{type:"error", code}`. Only its kind is kept (a
 * provider's message could quote the request).
 */
function errorKind(j: Json): string | undefined {
  const e: Json | undefined =
    j.error && typeof j.error === "object" ? j.error : j.type === "error" ? j : undefined;
  if (!e) return undefined;
  const kind = [e === j ? undefined : e.type, e.status, e.code].find(
    (v) => typeof v === "string" || typeof v === "number",
  );
  return String(kind ?? "error").slice(0, 64);
}
