/**
 * The SSE response of every streamed request (`/chat`, `/v1/chat/completions`, `/v1/messages`):
 * start → delta… → exactly one of done / error in the API's framing, with keep-alive comments while
 * the upstream is silent (frame-writer.ts). An open stream (`/chat`) sends its headers at once; a
 * held one (the OpenAI and Anthropic faces) waits for the first token, so an early failure is an
 * HTTP error. Caller disconnect (request signal or stream cancel) aborts the run.
 */
import type { ChatResponse, ToolCallPart } from "../shared/chat-api.ts";
import { formatStreamEvent, type StreamEvent } from "../shared/chat-stream.ts";
import { PIPBOT_HEADERS } from "../shared/headers.ts";
import type { ChatHooks, ChatOutcome } from "./chat.ts";
import { FrameWriter } from "./frame-writer.ts";
import type { ModelRef } from "./models.ts";
import type { UsagePatch } from "./providers/index.ts";

export const SSE_HEADERS = {
  "content-type": "text/event-stream; charset=utf-8",
  "cache-control": "no-cache",
  "x-accel-buffering": "no",
};

export interface SseRun {
  requestId: string;
  keepAliveMs: number;
  /** Aborted when the caller goes away. */
  caller: AbortController;
  /** Run the engine with the hooks; resolves with the outcome (never rejects). */
  run(hooks: ChatHooks): Promise<ChatOutcome>;
  /** Called right before the stream is closed (main.ts: restore the connection's idle timeout). */
  beforeClose?(): void;
  /** Called after the final event was written (accounting). */
  finished(outcome: ChatOutcome): void;
  /** Event stream framing (the /chat events, or the OpenAI-compatible chunks). */
  frames: SseFraming;
}

export interface SseFraming {
  /** `usage`: the upstream's so far, when the engine passes it (Anthropic's message_start carries it). */
  start(ref: ModelRef, usage?: UsagePatch): string;
  delta(text: string): string;
  /** A piece of an OpenAI refusal, where the API has a field for it (else framed as `delta`). */
  refusal?(text: string): string;
  reasoning(piece: { text: string; signature?: string; redacted?: string }): string;
  /** A tool call begins (its arguments follow as fragments). */
  toolStart(index: number, id: string, name: string): string;
  toolArgs(index: number, json: string): string;
  /** A tool call is complete. */
  toolCall(index: number, call: ToolCallPart): string;
  done(o: ChatOutcome): string;
  error(o: ChatOutcome): string;
  /**
   * When set, the response headers wait for the first token (at most the keep-alive interval),
   * and a request that fails before any token is answered with this HTTP error (its status and
   * body) instead of a 200 stream ending in an error event: OpenAI's and Anthropic's APIs do so,
   * and their SDKs map only HTTP statuses to their error classes (NotFoundError, RateLimitError…)
   * and retry on them.
   */
  errorResponse?(o: ChatOutcome): Response;
}

/** Framing of the pipbot `/chat` stream (chat-stream.ts events). */
export function chatFraming(requestId: string): SseFraming {
  const ev = (e: StreamEvent) => formatStreamEvent(e);
  return {
    start: (ref) => ev({ type: "start", data: { id: requestId, provider: ref.provider, model: ref.id } }),
    delta: (text) => ev({ type: "delta", data: { text } }),
    reasoning: (piece) => ev({ type: "reasoning", data: piece }),
    toolStart: () => "",
    toolArgs: () => "",
    toolCall: (index, call) => {
      const { type: _t, ...rest } = call;
      return ev({ type: "tool_call", data: { index, ...rest } });
    },
    done: (o) =>
      ev({
        type: "done",
        data: {
          message: { role: "assistant", content: replyContent(o) },
          stopReason: String(o.stopReason),
          usage: o.usage,
        },
      }),
    error: (o) => {
      const e = o.error;
      const data: { code: string; message: string; retryable: boolean; retryAfterMs?: number } = {
        code: e?.code ?? "internal",
        message: e?.message ?? "request failed",
        retryable: e?.retryable ?? false,
      };
      if (e?.retryAfterMs !== undefined) data.retryAfterMs = e.retryAfterMs;
      return ev({ type: "error", data });
    },
  };
}

export function sseResponse(
  r: SseRun,
  extraHeaders: Record<string, string> = {},
): Response | Promise<Response> {
  const headers = { ...SSE_HEADERS, [PIPBOT_HEADERS.requestId]: r.requestId, ...extraHeaders };
  return r.frames.errorResponse ? heldResponse(r, headers, r.frames.errorResponse) : openResponse(r, headers);
}

/** The stream with its headers at once (an immediate `: ok` comment), failures as error events. */
function openResponse(r: SseRun, headers: Record<string, string>): Response {
  const w = new FrameWriter();
  const source: Bun.DirectUnderlyingSource<Uint8Array> = {
    type: "direct",
    async pull(c) {
      // An immediate comment puts the response headers on the wire before the first token.
      w.attach(c, r.keepAliveMs, ": ok\n\n");
      const o = await w.end(r, c, () => r.run(w.hooks(r.frames)));
      if (o) r.finished(o);
    },
    cancel() {
      w.stop();
      r.caller.abort();
    },
  };
  return new Response(new ReadableStream<Uint8Array>(source), { headers });
}

/**
 * The stream with its headers held until the first token (`SseFraming.errorResponse`): the run
 * starts at once, its frames wait until the response body is read, and a run that ends before
 * any token is answered by `errorResponse` (or, having succeeded without content, as a stream of
 * its start and done frames). The hold lasts at most `keepAliveMs`: a model still silent by then
 * (hidden reasoning, a long queue) gets its headers and keep-alive comments, so no client gives up
 * waiting for headers; a failure after that is an error event, as on an open stream.
 */
async function heldResponse(
  r: SseRun,
  headers: Record<string, string>,
  errorResponse: (o: ChatOutcome) => Response,
): Promise<Response> {
  const w = new FrameWriter();
  let firstToken: () => void = () => {};
  const tokened = new Promise<"token">((res) => {
    firstToken = () => res("token");
  });
  const outcome = r.run(w.hooks(r.frames, firstToken));
  let finished = false;
  const finish = (o: ChatOutcome | undefined) => {
    if (finished || !o) return;
    finished = true;
    r.finished(o);
  };
  let holdTimer: ReturnType<typeof setTimeout> | undefined;
  const held = new Promise<"deadline">((res) => {
    holdTimer = setTimeout(() => res("deadline"), r.keepAliveMs);
  });
  const first = await Promise.race([tokened, held, outcome.then(() => "outcome" as const)]);
  clearTimeout(holdTimer);
  if (first === "outcome") {
    const o = await outcome;
    if (o.status !== "ok" && !w.started) {
      r.beforeClose?.();
      const res = errorResponse(o);
      for (const [k, v] of Object.entries(headers))
        if (!(k in SSE_HEADERS) && !res.headers.has(k)) res.headers.set(k, v);
      finish(o);
      return res;
    }
  }
  const source: Bun.DirectUnderlyingSource<Uint8Array> = {
    type: "direct",
    async pull(c) {
      w.attach(c, r.keepAliveMs, first === "deadline" ? ": keep-alive\n\n" : "");
      finish(await w.end(r, c, () => outcome));
    },
    cancel() {
      w.stop();
      r.caller.abort();
      void outcome.then(finish);
    },
  };
  return new Response(new ReadableStream<Uint8Array>(source), { headers });
}

/** The non-stream `/chat` body. */
export function chatResponseBody(requestId: string, o: ChatOutcome): ChatResponse {
  return {
    id: requestId,
    provider: o.ref.provider,
    model: o.ref.id,
    message: { role: "assistant", content: replyContent(o) },
    stopReason: o.stopReason,
    usage: o.usage,
    attempts: o.attempts,
  };
}

/** The /chat reply content: the parts in order; a reply without any part is one empty text block. */
function replyContent(o: ChatOutcome): ChatResponse["message"]["content"] {
  return o.parts.length ? o.parts : [{ type: "text", text: o.text }];
}
