/**
 * One logical chat request against the upstreams: attempts, our single retry loop (only before
 * the first token reaches the caller — for a non-stream caller, at any point), fallbacks across
 * providers, phase timeouts, cancellation, and the usage of what happened. A stream caller's
 * attempt streams from the upstream; a non-stream caller's is one non-stream upstream request
 * (`ProviderAdapter.complete`) unless the provider must stream it. Never throws: the outcome says
 * ok / error / aborted.
 *
 * `attempt()` runs one upstream call and returns what happened; the loop in `runChat` alone
 * decides: done, retry the same model, fall back to the next one, or stop.
 */
import { abortableSleep } from "../shared/backoff.ts";
import type { AssistantPart, ChatUsage, StopReason } from "../shared/chat-api.ts";
import { PipbotError, toPipbotError } from "../shared/errors.ts";
import { PIPBOT_HEADERS } from "../shared/headers.ts";
import { callerCredentialError } from "./caller-identity.ts";
import { finalUsage, inputCharsOf } from "./chat-usage.ts";
import type { ModelRef } from "./models.ts";
import { PhaseTimer, timeoutError } from "./phase-timer.ts";
import type {
  CallInput,
  ProviderCall,
  ProviderEvent,
  ProviderRegistry,
  UsagePatch,
} from "./providers/index.ts";
import { Reply, type ReplyHooks } from "./reply.ts";
import { backoffMs } from "./retry.ts";

export interface EngineConfig {
  connectTimeoutMs: number;
  firstTokenTimeoutMs: number;
  idleTimeoutMs: number;
  /** A non-stream upstream call: until its whole answer. */
  responseTimeoutMs: number;
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
  call: CallInput;
  /**
   * A candidate's call, or a PipbotError when its provider cannot honour the request (then the
   * candidate is skipped). Default: `call` unchanged.
   */
  callFor?: (ref: ModelRef) => CallInput | PipbotError;
  conversationId?: string;
  stream: boolean;
  /** The end user named by the caller (logged and stored with usage). */
  user?: string;
  /** The caller's metadata (logged). */
  metadata?: Record<string, unknown>;
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

export interface ChatHooks extends ReplyHooks {
  /**
   * Called once, right before the first content event: the model that answers, and the usage its
   * upstream reported so far (Anthropic's message_start carries the input tokens).
   */
  onFirstToken?(ref: ModelRef, usage: UsagePatch): void;
}

export interface ChatOutcome {
  status: "ok" | "error" | "aborted";
  /** The model that answered, or the last one tried. */
  ref: ModelRef;
  text: string;
  /** The whole reply: reasoning, text and tool calls in order. */
  parts: AssistantPart[];
  stopReason: StopReason | string;
  /** The stop sequence that ended a successful reply, when the upstream says (Anthropic). */
  stopSequence?: string;
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

/** What one attempt did. */
interface AttemptResult {
  error?: PipbotError;
  reply: Reply;
  usage: UsagePatch;
  complete: boolean;
  stopReason: StopReason | string;
  stopSequence?: string;
  ttftMs?: number;
}

export async function runChat(
  deps: EngineDeps,
  plan: ChatPlan,
  signal: AbortSignal,
  hooks: ChatHooks = {},
): Promise<ChatOutcome> {
  const cfg = deps.config;
  const started = performance.now();
  // The total limit is enforced by each attempt's phase timer (one timer per attempt); a backoff
  // never sleeps past it.
  const total = { at: started + cfg.totalTimeoutMs, ms: cfg.totalTimeoutMs };
  let totalExpired = false;

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
  /** Set once a token reached a stream caller: from then on no retry and no fallback. */
  let tokensSent = false;

  /** Why the caller's signal fired: its PipbotError reason (e.g. shutting_down) or client_closed. */
  const abortError = () =>
    signal.reason instanceof PipbotError
      ? signal.reason
      : new PipbotError("client_closed", "the caller closed the request");

  /** One upstream attempt; never throws. */
  async function attempt(candidate: ModelRef, input: CallInput): Promise<AttemptResult> {
    const ac = new AbortController();
    const onCaller = () => ac.abort();
    if (signal.aborted) ac.abort();
    else signal.addEventListener("abort", onCaller, { once: true });
    const timer = new PhaseTimer(() => ac.abort(), undefined, total);
    const reply = new Reply(plan.stream ? hooks : {});
    const r: AttemptResult = { reply, usage: {}, complete: false, stopReason: "other" };
    const call: ProviderCall = { model: candidate.model, ...input, headers, signal: ac.signal };
    if (apiKey) call.apiKey = apiKey;
    let stopped = false;
    /** One batch of canonical events into the reply. */
    const take = (batch: ProviderEvent[]) => {
      for (const ev of batch) {
        if (ev.type === "usage") r.usage = { ...r.usage, ...ev.usage };
        else if (ev.type === "stop") {
          r.stopReason = ev.reason;
          if (ev.sequence !== undefined) r.stopSequence = ev.sequence;
          stopped = true;
        } else {
          if (r.ttftMs === undefined) {
            // Time to the answering attempt's first upstream token (non-stream: never sent on; a
            // whole answer's first token comes with the whole answer).
            r.ttftMs = performance.now() - started;
            if (plan.stream) {
              tokensSent = true;
              hooks.onFirstToken?.(candidate, r.usage);
            }
          }
          reply.apply(ev);
        }
      }
    };
    try {
      const adapter = deps.registry.get(candidate.provider);
      let whole: ProviderEvent[] | undefined;
      if (!plan.stream && adapter.complete) {
        // A non-stream caller: one non-stream upstream request, bounded as a whole.
        timer.arm("response", cfg.responseTimeoutMs);
        whole = await adapter.complete(call);
      }
      if (whole) take(whole);
      else {
        timer.arm("connect", cfg.connectTimeoutMs);
        const events = await adapter.openStream(call);
        timer.arm("first_token", cfg.firstTokenTimeoutMs);
        for await (const batch of events) {
          take(batch);
          if (r.ttftMs !== undefined) timer.arm("idle", cfg.idleTimeoutMs);
        }
      }
      if (!stopped)
        throw new PipbotError(
          "upstream_connection",
          `${candidate.id} ${whole ? "answer" : "stream"} ended without a stop reason`,
          {
            retryable: true,
            status: 502,
          },
        );
      reply.closeOpenTools();
      r.stopReason = reply.stopReason(r.stopReason);
      r.complete = true;
    } catch (e) {
      if (timer.expired) {
        if (timer.expired.phase === "total") totalExpired = true;
        r.error = timeoutError(timer.expired.phase, timer.expired.ms, candidate.id);
      } else if (signal.aborted) r.error = abortError();
      else r.error = toPipbotError(e, "upstream_error");
    } finally {
      timer.clear();
      signal.removeEventListener("abort", onCaller);
    }
    return r;
  }

  let attempts = 0;
  let ref = plan.candidates[0] as ModelRef;
  let last: AttemptResult | undefined;
  let lastError: PipbotError | undefined;
  let inputChars = 0;
  const tries: ChatOutcome["tries"] = [];
  for (const [ci, candidate] of plan.candidates.entries()) {
    if (ci > 0 && !deps.registry.configured[candidate.provider]) {
      tries.push({ model: candidate.id, error: "provider_not_configured" });
      continue;
    }
    const input = plan.callFor ? plan.callFor(candidate) : plan.call;
    if (input instanceof PipbotError) {
      // A fallback whose provider cannot honour the request is skipped (the primary was checked).
      tries.push({ model: candidate.id, error: input.code });
      lastError ??= input;
      continue;
    }
    ref = candidate;
    inputChars = inputCharsOf(input);
    let next: "done" | "stop" | "fallback" = "fallback";
    for (let retry = 0; retry <= cfg.maxRetries; retry++) {
      attempts++;
      last = await attempt(candidate, input);
      const err = last.error;
      tries.push(
        err
          ? { model: candidate.id, error: err.code, upstreamStatus: err.details?.upstreamStatus }
          : { model: candidate.id },
      );
      lastError = err;
      if (!err) {
        next = "done";
        break;
      }
      if (tokensSent || signal.aborted || totalExpired || !err.retryable) {
        next = "stop";
        break;
      }
      if (retry === cfg.maxRetries) break;
      const wait = backoffMs(retry + 1, err.retryAfterMs, deps.random);
      if (performance.now() + wait >= total.at) break; // no time to wait here: try the next model
      if (!(await abortableSleep(wait, signal))) {
        lastError = abortError();
        next = "stop";
        break;
      }
    }
    if (next !== "fallback") break;
  }

  if (lastError && apiKey) lastError = callerCredentialError(lastError);
  const status = lastError === undefined ? "ok" : lastError.code === "client_closed" ? "aborted" : "error";
  const reply = last?.reply;
  const text = reply?.text ?? "";
  const out: ChatOutcome = {
    status,
    ref,
    text,
    parts: reply?.parts ?? [],
    stopReason: status === "ok" ? (last?.stopReason ?? "other") : status,
    usage: finalUsage(last?.usage ?? {}, last?.complete ?? false, attempts > 0 ? inputChars : 0, text.length),
    attempts,
    latencyMs: performance.now() - started,
    tokensSent,
    tries,
  };
  if (last?.ttftMs !== undefined) out.ttftMs = last.ttftMs;
  if (status === "ok" && last?.stopSequence !== undefined) out.stopSequence = last.stopSequence;
  if (lastError) out.error = lastError;
  return out;
}
