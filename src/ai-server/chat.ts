/**
 * One logical chat request against the upstreams: attempts, our single retry loop (only before
 * the first token reaches the caller — for a non-stream caller, at any point), fallbacks across
 * providers, phase timeouts, cancellation, and the usage of what happened. Every attempt streams
 * from the upstream, stream or not. Never throws: the outcome says ok / error / aborted.
 */

import { abortableSleep } from "../shared/backoff.ts";
import type { ChatUsage, StopReason } from "../shared/chat-api.ts";
import { PipbotError, toPipbotError } from "../shared/errors.ts";
import { PIPBOT_HEADERS } from "../shared/headers.ts";
import type { ModelRef } from "./models.ts";
import { PhaseTimer, timeoutError } from "./phase-timer.ts";
import type { ProviderCall, ProviderRegistry, UsagePatch } from "./providers/index.ts";
import { backoffMs } from "./retry.ts";

export interface EngineConfig {
  connectTimeoutMs: number;
  firstTokenTimeoutMs: number;
  idleTimeoutMs: number;
  totalTimeoutMs: number;
  maxRetries: number;
}

export interface EngineDeps {
  registry: ProviderRegistry;
  config: EngineConfig;
  /** Send the proxy-v1 per-request headers (request id, conversation id). */
  proxyHeaders: boolean;
  random?: () => number;
}

export interface ChatPlan {
  requestId: string;
  candidates: ModelRef[];
  call: Pick<ProviderCall, "messages" | "system" | "maxTokens" | "temperature">;
  conversationId?: string;
  stream: boolean;
  /**
   * The caller's own proxy-v1 identity (a VM calling the shared AI server, authenticated with
   * AI_SERVER_TOKEN): sent upstream instead of the server's CLERK_USER_ID / PIPBOT_SERVICE_TOKEN.
   */
  identity?: CallerIdentity;
}

export interface CallerIdentity {
  userId: string;
  serviceToken: string;
}

export interface ChatHooks {
  /** Called once, right before the first delta (the model that answers). */
  onFirstToken?(ref: ModelRef): void;
  onDelta?(text: string): void;
}

export interface ChatOutcome {
  status: "ok" | "error" | "aborted";
  /** The model that answered, or the last one tried. */
  ref: ModelRef;
  text: string;
  stopReason: StopReason | string;
  usage: ChatUsage;
  attempts: number;
  latencyMs: number;
  ttftMs?: number;
  error?: PipbotError;
  /**
   * True once a token reached the caller (no retry or fallback after that). Never set for a
   * non-stream caller: nothing reaches it before the whole reply, so it may be retried at any point.
   */
  tokensSent: boolean;
  /** Per-attempt log: model, error code, upstream status. */
  tries: { model: string; error?: string; upstreamStatus?: unknown }[];
}

const estimate = (chars: number) => Math.ceil(chars / 4);

function finalUsage(
  patch: UsagePatch,
  complete: boolean,
  inputChars: number,
  outputChars: number,
): ChatUsage {
  const u: ChatUsage = {
    inputTokens: patch.inputTokens ?? 0,
    outputTokens: patch.outputTokens ?? 0,
    cacheReadTokens: patch.cacheReadTokens ?? 0,
    cacheWriteTokens: patch.cacheWriteTokens ?? 0,
    reasoningTokens: patch.reasoningTokens ?? 0,
  };
  if (!complete) {
    // Interrupted: the upstream's final (cumulative) usage never came. Estimate what is missing.
    if (patch.inputTokens === undefined && inputChars > 0) {
      u.inputTokens = estimate(inputChars);
      u.estimated = true;
    }
    const est = estimate(outputChars);
    if (est > u.outputTokens) {
      u.outputTokens = est;
      u.estimated = true;
    }
  }
  return u;
}

/** A 401/403 from the proxy on a forwarded identity: point at the caller's values, not ours. */
function callerCredentialError(e: PipbotError): PipbotError {
  const st = e.details?.upstreamStatus;
  if (st !== 401 && st !== 403) return e;
  const message = `${e.message.replace(/ — check .*$/, "")} — the proxy rejected the caller's identity: check the calling VM's PIPBOT_SERVICE_TOKEN and CLERK_USER_ID (sent as x-pipbot-service-token / x-pipbot-user-id)`;
  return new PipbotError(e.code, message, {
    retryable: e.retryable,
    status: e.status,
    ...(e.retryAfterMs !== undefined ? { retryAfterMs: e.retryAfterMs } : {}),
    ...(e.details ? { details: e.details } : {}),
    cause: e,
  });
}

export async function runChat(
  deps: EngineDeps,
  plan: ChatPlan,
  signal: AbortSignal,
  hooks: ChatHooks = {},
): Promise<ChatOutcome> {
  const cfg = deps.config;
  const started = performance.now();
  const deadline = started + cfg.totalTimeoutMs;
  const request = new AbortController();
  let totalExpired = false;
  const totalTimer = setTimeout(() => {
    totalExpired = true;
    request.abort();
  }, cfg.totalTimeoutMs);
  const onCallerAbort = () => request.abort();
  if (signal.aborted) request.abort();
  else signal.addEventListener("abort", onCallerAbort, { once: true });

  const inputChars =
    plan.call.messages.reduce((n, m) => n + m.text.length, 0) + (plan.call.system?.length ?? 0);
  const headers: Record<string, string> = {};
  if (deps.proxyHeaders) {
    headers[PIPBOT_HEADERS.requestId] = plan.requestId;
    if (plan.conversationId) headers[PIPBOT_HEADERS.conversationId] = plan.conversationId;
    if (plan.identity) {
      headers[PIPBOT_HEADERS.userId] = plan.identity.userId;
      headers[PIPBOT_HEADERS.serviceToken] = plan.identity.serviceToken;
    }
  }
  const apiKey = deps.proxyHeaders ? plan.identity?.serviceToken : undefined;

  let attempts = 0;
  let text = "";
  let tokensSent = false;
  let ttftMs: number | undefined;
  let ref = plan.candidates[0] as ModelRef;
  let lastError: PipbotError | undefined;
  let usage: UsagePatch = {};
  let complete = false;
  let stopReason: StopReason | string = "other";
  const tries: ChatOutcome["tries"] = [];

  const aborted = () => signal.aborted && !totalExpired;
  /** Why the caller's signal fired: its PipbotError reason (e.g. shutting_down) or client_closed. */
  const abortError = () =>
    signal.reason instanceof PipbotError
      ? signal.reason
      : new PipbotError("client_closed", "the caller closed the request");

  /** One upstream attempt; throws a PipbotError. */
  async function attempt(candidate: ModelRef): Promise<void> {
    const adapter = deps.registry.get(candidate.provider);
    const ac = new AbortController();
    const onReq = () => ac.abort();
    request.signal.addEventListener("abort", onReq, { once: true });
    const timer = new PhaseTimer(() => ac.abort());
    usage = {};
    complete = false;
    // A non-stream caller gets only the answering attempt's reply: each attempt starts afresh.
    if (!plan.stream) {
      text = "";
      ttftMs = undefined;
    }
    const call: ProviderCall = { model: candidate.model, ...plan.call, headers, signal: ac.signal };
    if (apiKey) call.apiKey = apiKey;
    try {
      // Non-stream callers too: the upstream is always called in streaming mode and the reply is
      // assembled here, so the same phase timers bound a long generation while tokens flow.
      timer.arm("connect", cfg.connectTimeoutMs);
      const events = await adapter.openStream(call);
      timer.arm("first_token", cfg.firstTokenTimeoutMs);
      let stopped = false;
      let first = true;
      for await (const ev of events) {
        if (ev.type === "text") {
          if (first) {
            first = false;
            // Time to the answering attempt's first upstream token (non-stream: never sent on).
            ttftMs = performance.now() - started;
            if (plan.stream) {
              tokensSent = true;
              ref = candidate;
              hooks.onFirstToken?.(candidate);
            }
          }
          text += ev.text;
          hooks.onDelta?.(ev.text);
          timer.arm("idle", cfg.idleTimeoutMs);
        } else if (ev.type === "usage") usage = { ...usage, ...ev.usage };
        else {
          stopReason = ev.reason;
          stopped = true;
        }
      }
      if (!stopped)
        throw new PipbotError("upstream_connection", `${candidate.id} stream ended without a stop reason`, {
          retryable: true,
          status: 502,
        });
      complete = true;
    } catch (e) {
      if (timer.expired) throw timeoutError(timer.expired.phase, timer.expired.ms, candidate.id);
      if (totalExpired) throw timeoutError("total", cfg.totalTimeoutMs, candidate.id);
      if (signal.aborted) throw abortError();
      throw toPipbotError(e, "upstream_error");
    } finally {
      timer.clear();
      request.signal.removeEventListener("abort", onReq);
    }
  }

  try {
    candidates: for (const [ci, candidate] of plan.candidates.entries()) {
      if (ci > 0 && !deps.registry.configured[candidate.provider]) {
        tries.push({ model: candidate.id, error: "provider_not_configured" });
        continue;
      }
      ref = candidate;
      for (let retry = 0; retry <= cfg.maxRetries; retry++) {
        attempts++;
        try {
          await attempt(candidate);
          tries.push({ model: candidate.id });
          lastError = undefined;
          break candidates;
        } catch (e) {
          const err = toPipbotError(e);
          lastError = err;
          tries.push({ model: candidate.id, error: err.code, upstreamStatus: err.details?.upstreamStatus });
          if (tokensSent || aborted() || totalExpired || !err.retryable) break candidates;
          if (retry === cfg.maxRetries) break;
          const wait = backoffMs(retry + 1, err.retryAfterMs, deps.random);
          if (performance.now() + wait >= deadline) break; // no time to wait here: try the next model
          if (!(await abortableSleep(wait, request.signal))) {
            lastError = totalExpired ? timeoutError("total", cfg.totalTimeoutMs, candidate.id) : abortError();
            break candidates;
          }
        }
      }
    }
  } finally {
    clearTimeout(totalTimer);
    signal.removeEventListener("abort", onCallerAbort);
  }

  if (lastError && apiKey) lastError = callerCredentialError(lastError);
  const status = lastError === undefined ? "ok" : lastError.code === "client_closed" ? "aborted" : "error";
  const out: ChatOutcome = {
    status,
    ref,
    text,
    stopReason: status === "ok" ? stopReason : status,
    usage: finalUsage(usage, complete, attempts > 0 ? inputChars : 0, text.length),
    attempts,
    latencyMs: performance.now() - started,
    tokensSent,
    tries,
  };
  if (ttftMs !== undefined) out.ttftMs = ttftMs;
  if (lastError) out.error = lastError;
  return out;
}
