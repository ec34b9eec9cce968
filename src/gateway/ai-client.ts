/**
 * The gateway's client of the AI server: `POST ${AI_URL}/chat` with `stream:true`, read as SSE
 * (eventsource-parser) and validated event by event with the shared contract. Aborting the signal
 * aborts the fetch, which cancels the AI server's upstream request.
 *
 * A stream that ends without `done` or `error` is an error, never a success.
 *
 * With `identity` (the VM's CLERK_USER_ID + PIPBOT_SERVICE_TOKEN) every chat carries
 * `x-pipbot-user-id` / `x-pipbot-service-token`: a shared AI server authenticated by AI_SERVER_TOKEN
 * then bills the call to this VM (a tokenless loopback AI server ignores them). Never logged.
 */

import { createParser, type EventSourceMessage } from "eventsource-parser";
import type { ContentPart } from "../shared/chat-api.ts";
import { parseStreamEvent, type StreamEvent } from "../shared/chat-stream.ts";
import { type ErrorCode, PipbotError } from "../shared/errors.ts";
import { PIPBOT_HEADERS } from "../shared/headers.ts";

export interface AiClientOptions {
  baseUrl: string;
  token?: string | undefined;
  /** The VM's proxy-v1 identity, forwarded on every chat (both values, or no identity at all). */
  identity?: { userId: string; serviceToken: string } | undefined;
  fetch?: typeof fetch;
}

export interface AiChatInput {
  model?: string | undefined;
  /** A message's content: its text, or content parts when it carries images / PDFs. */
  messages: { role: "user" | "assistant"; content: string | ContentPart[] }[];
  conversationId: string;
}

export interface AiClient {
  /** Stream the events of one chat; throws PipbotError on HTTP/connection failures. */
  stream(input: AiChatInput, signal: AbortSignal): AsyncGenerator<StreamEvent>;
  /** GET /healthz with a short timeout: the parsed body, or an error string. */
  health(timeoutMs?: number): Promise<{ ok: true; body: unknown } | { ok: false; error: string }>;
}

export function createAiClient(opts: AiClientOptions): AiClient {
  const doFetch = opts.fetch ?? fetch;
  const base = opts.baseUrl.replace(/\/+$/, "");
  const headers: Record<string, string> = { "content-type": "application/json", accept: "text/event-stream" };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  if (opts.identity) {
    headers[PIPBOT_HEADERS.userId] = opts.identity.userId;
    headers[PIPBOT_HEADERS.serviceToken] = opts.identity.serviceToken;
  }

  async function* stream(input: AiChatInput, signal: AbortSignal): AsyncGenerator<StreamEvent> {
    const body = {
      ...(input.model ? { model: input.model } : {}),
      messages: input.messages,
      stream: true,
      // The AI server places Anthropic cache breakpoints (system + the last turns).
      cache: "auto",
      metadata: { conversationId: input.conversationId },
    };
    let res: Response;
    try {
      res = await doFetch(`${base}/chat`, { method: "POST", headers, body: JSON.stringify(body), signal });
    } catch (e) {
      if (signal.aborted) throw abortError(signal);
      // The runtime's own text (e.g. Bun's "Is the computer able to access the url?") stays in the
      // cause, for logs; what users see is ours.
      throw new PipbotError("upstream_connection", "the AI server is not reachable", {
        retryable: true,
        cause: e,
        details: { aiServer: "unreachable" },
      });
    }
    if (!res.ok) throw await httpError(res);
    if (!res.body) throw new PipbotError("upstream_error", "AI server sent an empty response");

    const queue: StreamEvent[] = [];
    let invalid: string | undefined;
    const parser = createParser({
      onEvent: (m: EventSourceMessage) => {
        const ev = parseStreamEvent(m.event ?? "message", m.data);
        if (ev) queue.push(ev);
        else if (m.event === "start" || m.event === "delta" || m.event === "done" || m.event === "error") {
          invalid ??= `malformed ${m.event} event from the AI server`;
        }
      },
    });
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let terminal = false;
    try {
      for (;;) {
        let chunk: Awaited<ReturnType<typeof reader.read>>;
        try {
          chunk = await reader.read();
        } catch (e) {
          if (signal.aborted) throw abortError(signal);
          throw new PipbotError("upstream_connection", "the connection to the AI server broke mid-reply", {
            retryable: true,
            cause: e,
            details: { aiServer: "stream_broken" },
          });
        }
        if (chunk.done) break;
        parser.feed(decoder.decode(chunk.value, { stream: true }));
        if (invalid) throw new PipbotError("upstream_error", invalid);
        while (queue.length > 0) {
          const ev = queue.shift() as StreamEvent;
          if (ev.type === "done" || ev.type === "error") terminal = true;
          yield ev;
          if (terminal) return;
        }
      }
    } finally {
      if (!terminal) reader.cancel().catch(() => {});
    }
    if (signal.aborted) throw abortError(signal);
    throw new PipbotError("upstream_connection", "the AI server's reply ended before it was complete", {
      retryable: true,
      details: { aiServer: "stream_broken" },
    });
  }

  async function health(timeoutMs = 1500) {
    try {
      const res = await doFetch(`${base}/healthz`, { signal: AbortSignal.timeout(timeoutMs) });
      const body = await res.json().catch(() => null);
      if (!res.ok) return { ok: false as const, error: `HTTP ${res.status}` };
      return { ok: true as const, body };
    } catch (e) {
      return { ok: false as const, error: errorMessage(e) };
    }
  }

  return { stream, health };
}

function abortError(signal: AbortSignal): PipbotError {
  const reason = signal.reason;
  if (reason instanceof PipbotError) return reason;
  return new PipbotError("client_closed", "request aborted");
}

/** A health probe's failure in our words (never the runtime's own message). */
function errorMessage(e: unknown): string {
  if (e instanceof Error && e.name === "TimeoutError") return "timed out";
  return "not reachable";
}

async function httpError(res: Response): Promise<PipbotError> {
  let code = "upstream_error";
  let message = `AI server answered HTTP ${res.status}`;
  let retryable = res.status >= 500 || res.status === 429;
  let retryAfterMs: number | undefined;
  try {
    const body = (await res.json()) as {
      error?: { code?: unknown; message?: unknown; retryable?: unknown; retryAfterMs?: unknown };
    };
    const e = body?.error;
    if (e && typeof e.code === "string") code = e.code;
    if (e && typeof e.message === "string") message = e.message;
    if (e && typeof e.retryable === "boolean") retryable = e.retryable;
    if (e && typeof e.retryAfterMs === "number") retryAfterMs = e.retryAfterMs;
  } catch {
    /* not JSON: keep the status line */
  }
  return new PipbotError(code as ErrorCode, message, {
    status: res.status,
    retryable,
    ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
  });
}
