/**
 * Gemini through `@google/genai` (no retryOptions, so the SDK does not retry) — the Gemini API
 * with a key, or Vertex AI with a service account. Canonical parts map to inlineData (an http(s)
 * URL is fetched and inlined: Gemini takes no arbitrary URLs), functionCall / functionResponse
 * (thought signatures kept on the call and sent back), thinking config with thought summaries,
 * responseMimeType + responseJsonSchema for JSON output. A stream caller's call is one
 * :streamGenerateContent request, a non-stream caller's one :generateContent request; both answers
 * become canonical events in google-events.ts.
 *
 * The SDK's ApiError carries no headers, so each call uses a fetch wrapper that keeps the
 * response headers (in the call context) for retry-after / x-should-retry.
 */
import { ApiError, type Content, FunctionCallingConfigMode, GoogleGenAI, type Part } from "@google/genai";
import type { ContentPart } from "../../shared/chat-api.ts";
import { PipbotError } from "../../shared/errors.ts";
import { checkMedia } from "../media.ts";
import { MEDIA_LIMITS, thinkingBudget } from "./capabilities.ts";
import { streamEvents, wholeEvents } from "./google-events.ts";
import { type CallContext, connectionFailure, notJsonAnswer, sdkAdapter } from "./sdk-adapter.ts";
import type { ProviderAdapter, ProviderCall, ProviderClientConfig } from "./types.ts";
import { upstreamError } from "./upstream-errors.ts";

/** Fetching an image/PDF URL to inline it: bounded. */
const MEDIA_FETCH_TIMEOUT_MS = 20_000;

/**
 * The Gemini API sends its retry hint in the error body (`details[]` → `google.rpc.RetryInfo`
 * `retryDelay: "37s"`), not as a Retry-After header: read it as `retry-after-ms` (a header wins).
 */
function withRetryInfo(message: string, headers: Headers | null | undefined): Headers | null | undefined {
  if (headers?.has("retry-after") || headers?.has("retry-after-ms")) return headers;
  const m = /"retryDelay"\s*:\s*"(\d+(?:\.\d+)?)s"/.exec(message);
  if (!m?.[1]) return headers;
  const out = new Headers(headers ?? undefined);
  out.set("retry-after-ms", String(Math.round(Number(m[1]) * 1000)));
  return out;
}

function mapError(e: unknown, ctx: CallContext) {
  if (!(e instanceof ApiError)) return connectionFailure("google", e);
  const m = /"status"\s*:\s*"([A-Z_]+)"/.exec(e.message);
  return upstreamError({
    // A wrong or expired key is Gemini's HTTP 400 (ErrorInfo reason API_KEY_INVALID), not a 401:
    // the server's credential failing, so what any provider's 401 gives, not the caller's 400.
    credential: e.status === 400 && /"reason"\s*:\s*"API_KEY_INVALID"/.test(e.message),
    provider: "google",
    // An error chunk inside a 200 stream also surfaces as ApiError (with the chunk's code).
    status: e.status,
    headers: withRetryInfo(e.message, ctx.headers),
    message: e.message,
    ...(m?.[1] ? { type: m[1] } : {}),
    cause: e,
  });
}

/**
 * An image/PDF URL fetched and inlined (Gemini's fileData takes only its own File API / gs:// URIs).
 * Bounded: the type is checked before the body is read, and the body is read only up to Gemini's
 * limit (a huge or endless body is refused as the limit is passed, not buffered); the caller's
 * abort ends the fetch too.
 */
async function inlineUrl(
  url: string,
  kind: "image" | "document",
  mimeType: string | undefined,
  signal: AbortSignal,
): Promise<Part> {
  const timeout = AbortSignal.timeout(MEDIA_FETCH_TIMEOUT_MS);
  const fail = (e: unknown) =>
    new PipbotError(
      "invalid_request",
      `could not fetch ${kind} ${url}: ${e instanceof Error ? e.message : String(e)}`,
    );
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.any([signal, timeout]) });
  } catch (e) {
    throw fail(e);
  }
  /** A refusal before the body is read: the body is cancelled (not downloaded). */
  const refuse = (message: string) => {
    res.body?.cancel().catch(() => {});
    return new PipbotError("invalid_request", message);
  };
  if (!res.ok) throw refuse(`could not fetch ${kind} ${url}: HTTP ${res.status}`);
  const type = mimeType ?? res.headers.get("content-type")?.split(";")[0]?.trim() ?? "";
  const max = MEDIA_LIMITS.google[kind];
  const tooBig = (n: number) => `${kind} ${url} is ${n}+ bytes, over Gemini's limit of ${max} bytes`;
  if (!/^(image\/(png|jpeg|gif|webp)|application\/pdf)$/.test(type))
    throw refuse(`${kind} ${url} has type "${type}": send png, jpeg, gif, webp or PDF`);
  const declared = Number(res.headers.get("content-length"));
  if (declared > max) throw refuse(tooBig(declared));
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    // Leaving the loop (the throw) cancels the body.
    for await (const chunk of res.body ?? []) {
      size += chunk.byteLength;
      if (size > max) throw new PipbotError("invalid_request", tooBig(size));
      chunks.push(chunk);
    }
  } catch (e) {
    throw e instanceof PipbotError ? e : fail(e);
  }
  const data = Buffer.concat(chunks).toString("base64");
  // The bytes must be what the type says (a login page served as image/png is no image).
  try {
    checkMedia([{ role: "user", content: [{ type: kind, mimeType: type, data } as ContentPart] }]);
  } catch {
    throw new PipbotError(
      "invalid_request",
      `${kind} ${url} is not a ${type} file (its first bytes say otherwise)`,
    );
  }
  return { inlineData: { mimeType: type, data } };
}

async function part(p: ContentPart, names: Map<string, string>, signal: AbortSignal): Promise<Part | null> {
  switch (p.type) {
    case "text":
      return { text: p.text };
    case "image":
    case "document":
      return p.url !== undefined
        ? inlineUrl(p.url, p.type, p.mimeType, signal)
        : { inlineData: { mimeType: p.mimeType ?? "", data: p.data ?? "" } };
    case "tool_call":
      return {
        functionCall: { id: p.id, name: p.name, args: p.input },
        ...(p.signature !== undefined ? { thoughtSignature: p.signature } : {}),
      };
    case "tool_result": {
      const text =
        typeof p.content === "string"
          ? p.content
          : p.content.map((c) => (c.type === "text" ? c.text : "")).join("");
      const name = p.name ?? names.get(p.toolCallId);
      if (!name)
        throw new PipbotError(
          "invalid_request",
          `tool result ${p.toolCallId} matches no earlier tool call: Gemini needs the tool's name (send name, or the assistant message with the call)`,
        );
      return {
        functionResponse: {
          id: p.toolCallId,
          name,
          response: p.isError ? { error: text } : { result: text },
        },
      };
    }
    case "reasoning":
      // Thought summaries are not sent back (Gemini keeps its context in the call signatures).
      return null;
  }
}

async function contents(call: ProviderCall): Promise<Content[]> {
  const names = new Map<string, string>();
  const out: Content[] = [];
  for (const m of call.messages) {
    for (const p of m.content) if (p.type === "tool_call") names.set(p.id, p.name);
    const parts = (await Promise.all(m.content.map((p) => part(p, names, call.signal)))).filter(
      (p): p is Part => p !== null,
    );
    if (parts.length) out.push({ role: m.role === "assistant" ? "model" : "user", parts });
  }
  return out;
}

export function googleAdapter(cfg: ProviderClientConfig): ProviderAdapter {
  const httpOptions = {
    ...(cfg.baseURL ? { baseUrl: cfg.baseURL } : {}),
    headers: cfg.defaultHeaders,
    fetch: cfg.fetch,
  };
  const ai = cfg.vertex
    ? new GoogleGenAI({
        vertexai: true,
        project: cfg.vertex.project,
        location: cfg.vertex.location,
        googleAuthOptions: { credentials: cfg.vertex.credentials },
        httpOptions,
      })
    : new GoogleGenAI({ apiKey: cfg.apiKey, httpOptions });

  async function params(call: ProviderCall, ctx: CallContext) {
    const trackingFetch: typeof fetch = Object.assign(
      async (input: Parameters<typeof fetch>[0], init?: Parameters<typeof fetch>[1]) => {
        const res = await cfg.fetch(input, init);
        ctx.headers = res.headers;
        return res;
      },
      { preconnect: fetch.preconnect },
    );
    const budget = thinkingBudget(call.reasoning);
    const tc = call.toolChoice;
    const rf = call.responseFormat;
    return {
      model: call.model,
      contents: await contents(call),
      config: {
        abortSignal: call.signal,
        httpOptions: {
          // Per-call headers win; a per-call key replaces the client's in genai's credential header.
          headers: {
            ...cfg.defaultHeaders,
            ...call.headers,
            ...(call.apiKey ? { "x-goog-api-key": call.apiKey } : {}),
          },
          fetch: trackingFetch,
        },
        ...(call.system?.length ? { systemInstruction: call.system.map((s) => s.text).join("\n\n") } : {}),
        ...(call.maxTokens !== undefined ? { maxOutputTokens: call.maxTokens } : {}),
        ...(call.temperature !== undefined ? { temperature: call.temperature } : {}),
        ...(call.topP !== undefined ? { topP: call.topP } : {}),
        ...(call.topK !== undefined ? { topK: call.topK } : {}),
        ...(call.stop ? { stopSequences: call.stop } : {}),
        ...(call.seed !== undefined ? { seed: call.seed } : {}),
        ...(call.frequencyPenalty !== undefined ? { frequencyPenalty: call.frequencyPenalty } : {}),
        ...(call.presencePenalty !== undefined ? { presencePenalty: call.presencePenalty } : {}),
        ...(budget !== undefined
          ? { thinkingConfig: { thinkingBudget: budget, includeThoughts: budget > 0 } }
          : {}),
        ...(call.tools?.length
          ? {
              tools: [
                {
                  functionDeclarations: call.tools.map((t) => ({
                    name: t.name,
                    ...(t.description !== undefined ? { description: t.description } : {}),
                    parametersJsonSchema: t.parameters ?? { type: "object", properties: {} },
                  })),
                },
              ],
            }
          : {}),
        ...(tc !== undefined
          ? {
              toolConfig: {
                functionCallingConfig:
                  typeof tc === "object"
                    ? { mode: FunctionCallingConfigMode.ANY, allowedFunctionNames: [tc.name] }
                    : {
                        mode:
                          tc === "none"
                            ? FunctionCallingConfigMode.NONE
                            : tc === "required"
                              ? FunctionCallingConfigMode.ANY
                              : FunctionCallingConfigMode.AUTO,
                      },
              },
            }
          : {}),
        ...(rf?.type === "json_object" ? { responseMimeType: "application/json" } : {}),
        ...(rf?.type === "json_schema"
          ? { responseMimeType: "application/json", responseJsonSchema: rf.schema }
          : {}),
      },
    };
  }

  return sdkAdapter({
    provider: "google",
    mapError,
    events: streamEvents,
    stream: async (call, ctx) => ai.models.generateContentStream(await params(call, ctx)),
    // One :generateContent request (Gemini API and Vertex alike): the same params, the whole
    // response mapped by the same code as a stream chunk.
    complete: async (call, ctx) => {
      const p = await params(call, ctx);
      try {
        return wholeEvents(await ai.models.generateContent(p));
      } catch (e) {
        // A 200 whose body is not JSON (a base URL answering a login page): the SDK's parse
        // error, said as what it is (ctx.headers: a response came).
        if (e instanceof SyntaxError && ctx.headers) throw notJsonAnswer("google", ctx.headers, e.message);
        throw e;
      }
    },
  });
}
