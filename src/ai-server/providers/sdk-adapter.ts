/**
 * What the three provider adapters share: the SDK client options (retries and timeouts off: our
 * retry loop and phase timers own them), the error mapping of the two Stainless SDKs
 * (`@anthropic-ai/sdk`, `openai`), and `sdkAdapter`, which turns a provider's request/stream
 * functions into a `ProviderAdapter` whose every failure — request, response or in-stream — is a
 * PipbotError, and `stainlessStream`, the streaming POST both Stainless adapters send (and
 * `stainlessPost`, its non-stream sibling: Anthropic's count_tokens).
 */
import { createParser } from "eventsource-parser";
import { PipbotError } from "../../shared/errors.ts";
import type {
  Provider,
  ProviderAdapter,
  ProviderCall,
  ProviderClientConfig,
  ProviderEvent,
} from "./types.ts";
import { upstreamError } from "./upstream-errors.ts";

/** SDK-level timeout: effectively none; the phase timers (connect/first token/idle/total) bound calls. */
export const SDK_TIMEOUT_MS = 24 * 3600 * 1000;

/** Options common to the Anthropic and OpenAI SDK clients. */
export function stainlessOptions(cfg: ProviderClientConfig) {
  return {
    apiKey: cfg.apiKey,
    ...(cfg.baseURL ? { baseURL: cfg.baseURL } : {}),
    defaultHeaders: cfg.defaultHeaders,
    fetch: cfg.fetch,
    maxRetries: 0,
    timeout: SDK_TIMEOUT_MS,
  };
}

/**
 * The call's headers for a Stainless SDK (Anthropic and OpenAI both send their key as
 * `Authorization: Bearer`): a per-call key replaces the client's (per-request headers win).
 */
export function stainlessHeaders(call: Pick<ProviderCall, "headers" | "apiKey">): Record<string, string> {
  return call.apiKey ? { ...call.headers, authorization: `Bearer ${call.apiKey}` } : call.headers;
}

/**
 * The two Stainless client methods `stainlessPost` uses. `makeStatusError` is protected in the
 * SDKs' types and a plain method at run time: the call each SDK makes itself for a non-2xx.
 */
interface StainlessClient {
  buildRequest(options: never): Promise<{ req: { headers?: unknown }; url: string }>;
  makeStatusError(
    status: number,
    error: object | undefined,
    message: string | undefined,
    headers: Headers,
  ): Error;
}

/** The part of a Stainless client's request that is the same for every call. */
interface PreparedRequest {
  url: string;
  headers: Record<string, string>;
}

/**
 * A Stainless client's POST to `path` (a streaming one for `stainlessStream`), sent with the
 * configured fetch; resolves with the 2xx response, its body unread. The SDK makes
 * the request — URL, credentials, API version, platform and default headers
 * (`client.buildRequest`, once per client: none of it changes between calls with retries off) —
 * and its error classes take every non-2xx (`client.makeStatusError`, fed as inside the SDK), so
 * the wire contract stays the SDK's. Per call: the call's headers over the prepared ones (as the
 * SDK merges them), one JSON.stringify and one fetch. Sending each call through the SDK's
 * `create()` instead (APIPromise chain, header normalisation, weakly held abort listeners) cost
 * ≈ 150 µs of server CPU per request, a quarter of the whole (bench/RESULTS.md).
 */
export function stainlessPost(
  sdkClient: object,
  path: string,
  fetchImpl: typeof fetch,
  stream: boolean,
): (body: object, call: Pick<ProviderCall, "headers" | "apiKey" | "signal">) => Promise<Response> {
  const client = sdkClient as StainlessClient;
  let prepared: PreparedRequest | undefined;
  const prepare = async (): Promise<PreparedRequest> => {
    const { req, url } = await client.buildRequest({ method: "post", path, body: {}, stream } as never);
    const headers: Record<string, string> = {};
    new Headers(req.headers as ConstructorParameters<typeof Headers>[0]).forEach((v, k) => {
      headers[k] = v;
    });
    return { url, headers };
  };
  return async (body, call) => {
    prepared ??= await prepare();
    const headers = { ...prepared.headers };
    for (const [k, v] of Object.entries(stainlessHeaders(call))) headers[k.toLowerCase()] = v;
    const res = await fetchImpl(prepared.url, {
      method: "POST",
      headers,
      body: JSON.stringify(body),
      signal: call.signal,
    });
    if (res.ok) return res;
    const text = await res.text().catch((e: unknown) => (e instanceof Error ? e.message : String(e)));
    let json: object | undefined;
    try {
      json = JSON.parse(text) as object;
    } catch {
      json = undefined;
    }
    throw client.makeStatusError(res.status, json, json ? undefined : text, res.headers);
  };
}

/**
 * A whole answer's JSON body (`complete`). A body cut short fails while it is read (a connection
 * failure, retryable); a complete 200 body that is not JSON — a misconfigured base URL answering
 * HTML, say — is the upstream's fault and says so, with the body's start.
 */
export async function wholeJson(provider: Provider, res: Response): Promise<unknown> {
  const text = await res.text();
  try {
    return JSON.parse(text);
  } catch {
    throw notJsonAnswer(provider, res.headers, text.slice(0, 200));
  }
}

/**
 * The error of a complete 2xx answer that is not JSON: a 502, not retried (the same body would
 * come back), naming the content type and what came (the body's start, or the parser's message
 * where an SDK read the body: Gemini).
 */
export function notJsonAnswer(provider: Provider, headers: Headers | null, what: string): PipbotError {
  return upstreamError({
    provider,
    status: 200,
    message: `the answer is not JSON (${headers?.get("content-type") ?? "no content-type"}): ${what}`,
  });
}

/** The streaming POST of every generation call (the hot path). */
export const stainlessStream = (sdkClient: object, path: string, fetchImpl: typeof fetch) =>
  stainlessPost(sdkClient, path, fetchImpl, true);

/** Any failure that is not an SDK API error: a transport failure (refused, reset, cut). */
export function connectionFailure(provider: Provider, e: unknown): PipbotError {
  return upstreamError({
    provider,
    connection: true,
    message: e instanceof Error ? e.message : String(e),
    cause: e,
  });
}

/** The error classes and fields the Stainless SDKs (Anthropic, OpenAI) share. */
export interface StainlessErrors {
  APIConnectionError: abstract new (...args: never[]) => Error;
  APIError: abstract new (...args: never[]) => Error & { status?: number; headers?: Headers };
}

/**
 * Map a Stainless SDK error: connection errors, API errors (an error without a status is an error
 * event inside a 200 stream), anything else as a connection failure. `detail` pulls the provider's
 * error message and type out of the API error.
 */
export function stainlessError<E extends Error & { status?: number; headers?: Headers }>(
  provider: Provider,
  e: unknown,
  sdk: StainlessErrors,
  detail: (e: E) => { message: string; type?: string | null | undefined },
): PipbotError {
  if (e instanceof sdk.APIConnectionError) return connectionFailure(provider, e);
  if (e instanceof sdk.APIError) {
    const err = e as E;
    const d = detail(err);
    return upstreamError({
      provider,
      ...(err.status !== undefined ? { status: err.status } : { inStream: true }),
      headers: err.headers ?? null,
      message: d.message,
      ...(d.type ? { type: d.type } : {}),
      cause: e,
    });
  }
  return connectionFailure(provider, e);
}

/** Per-call state an adapter may fill (Google keeps the response headers for retry-after). */
export interface CallContext {
  headers: Headers | null;
}

export interface SdkBinding<Chunk> {
  provider: Provider;
  /** SDK error → PipbotError (errors already PipbotError pass through untouched). */
  mapError(e: unknown, ctx: CallContext): PipbotError;
  /** Send the streaming request; resolves once the upstream answered 2xx. */
  stream(call: ProviderCall, ctx: CallContext): Promise<AsyncIterable<Chunk>>;
  /** SDK stream chunks → batches of canonical events (may throw at the end, e.g. no stop reason). */
  events(chunks: AsyncIterable<Chunk>): AsyncIterable<ProviderEvent[]>;
  /**
   * The non-stream request and its whole answer as canonical events (`ProviderAdapter.complete`);
   * undefined when this call must stream.
   */
  complete?(call: ProviderCall, ctx: CallContext): Promise<ProviderEvent[]> | undefined;
}

export function sdkAdapter<Chunk>(b: SdkBinding<Chunk>): ProviderAdapter {
  const fail = (e: unknown, ctx: CallContext) => (e instanceof PipbotError ? e : b.mapError(e, ctx));
  /** The events with every failure mapped (a plain iterator: no generator frame per batch). */
  function guarded(chunks: AsyncIterable<Chunk>, ctx: CallContext): AsyncIterable<ProviderEvent[]> {
    const inner = b.events(chunks)[Symbol.asyncIterator]();
    const rethrow = (e: unknown): never => {
      throw fail(e, ctx);
    };
    return {
      [Symbol.asyncIterator]: () => ({
        next: () => inner.next().catch(rethrow),
        return: async (v?: unknown) =>
          inner.return ? inner.return(v).catch(rethrow) : { done: true as const, value: v },
      }),
    };
  }
  const complete = b.complete;
  return {
    provider: b.provider,
    ...(complete
      ? {
          async complete(call: ProviderCall) {
            const ctx: CallContext = { headers: null };
            try {
              return await complete(call, ctx);
            } catch (e) {
              throw fail(e, ctx);
            }
          },
        }
      : {}),
    async openStream(call) {
      const ctx: CallContext = { headers: null };
      try {
        return guarded(await b.stream(call, ctx), ctx);
      } catch (e) {
        throw fail(e, ctx);
      }
    },
  };
}

/** One server-sent event of an upstream stream. */
export interface SseMessage {
  event: string | undefined;
  data: string;
}

/**
 * The SSE events of a streaming response (`stainlessStream`: the request, credentials and non-2xx
 * errors are the SDK's), one batch per network read. Parsing the stream
 * here instead of through the SDK's Stream class (one async step per event through several
 * generators) costs about half the CPU per request (bench/ai-overhead-cpu.ts); in-stream error
 * events are mapped by each provider file like the SDK would. A cut connection throws.
 */
export async function* sseBatches(res: Response): AsyncGenerator<SseMessage[]> {
  if (!res.body) throw new Error("the upstream answered without a body");
  let batch: SseMessage[] = [];
  const parser = createParser({ onEvent: (m) => batch.push({ event: m.event, data: m.data }) });
  const decoder = new TextDecoder();
  for await (const chunk of res.body) {
    parser.feed(decoder.decode(chunk, { stream: true }));
    if (batch.length === 0) continue;
    const out = batch;
    batch = [];
    yield out;
  }
}
