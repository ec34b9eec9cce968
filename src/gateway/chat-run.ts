/**
 * One chat run, start to end: build the context, stream the AI server's reply as coalesced
 * `delta` events (the first at once, then one per delta window), checkpoint the partial text,
 * end on timeout or abort, store the result (finishRun) and only then emit the one terminal event
 * (final / aborted / error), then log the one wide line per turn.
 */

import { abortableSleep, type BackoffPolicy, backoffDelay } from "../shared/backoff.ts";
import { type ChatUsage, contentText } from "../shared/chat-api.ts";
import type { StreamEvent } from "../shared/chat-stream.ts";
import { isPipbotError, PipbotError } from "../shared/errors.ts";
import type { Logger } from "../shared/log.ts";
import type { Store } from "../shared/store/index.ts";
import type { AiClient } from "./ai-client.ts";
import { type AiAvailability, aiUnavailableError, isAiServerDown, isShuttingDown } from "./ai-wait.ts";
import { withAttachments } from "./attachments.ts";
import { buildContext, type ErrorKind, errorKindOf, type WireUsage, wireUsage } from "./stored-messages.ts";

/** Between tries of a run whose AI server became reachable again: 100 ms, doubling up to 1 s. */
const AI_WAIT_BACKOFF: BackoffPolicy = { baseMs: 100, capMs: 1000, jitter: "none" };

export interface ChatEventPayload {
  runId: string;
  sessionKey: string;
  seq: number;
  state: "delta" | "final" | "aborted" | "error";
  message?: { role: "assistant"; content: { type: "text"; text: string }[]; timestamp: number };
  deltaText?: string;
  errorMessage?: string;
  errorKind?: ErrorKind;
  usage?: WireUsage;
  stopReason?: string;
}

/** What a run needs from the gateway (ChatRunsOptions adds the queue's own settings). */
export interface RunSettings {
  store: Store;
  ai: AiClient;
  logger: Logger;
  /** Broadcast one chat event to every connected client. */
  emit: (payload: ChatEventPayload) => void;
  model?: string | undefined;
  deltaWindowMs: number;
  contextBudgetChars: number;
  checkpointIntervalMs?: number;
  /** Rides through AI server restarts (bounded wait); absent: a run fails at once. */
  aiAvailability?: AiAvailability | undefined;
}

export type AbortCause = "rpc" | "stop" | "shutdown";

export interface ActiveRun {
  runId: string;
  sessionId: string;
  sessionKey: string;
  userMessageId: string;
  controller: AbortController;
  abortCause?: AbortCause;
  seq: number;
  timeoutMs: number;
  /** 1, or more when a client retried the turn after it failed (same idempotency key). */
  attempt: number;
  /** The session's model, when it has its own (sessions.patch). */
  model?: string | undefined;
}

export type RunOutcome = "final" | "aborted" | "error" | "interrupted";

function emit(
  s: RunSettings,
  run: ActiveRun,
  p: Omit<ChatEventPayload, "runId" | "sessionKey" | "seq">,
): void {
  run.seq += 1;
  try {
    s.emit({ runId: run.runId, sessionKey: run.sessionKey, seq: run.seq, ...p });
  } catch (e) {
    s.logger.error({ err: e, runId: run.runId }, "chat event broadcast failed");
  }
}

/**
 * The model id as stored and shown: `provider/model`. The AI server's `start.model` is already the
 * qualified id (`anthropic/claude-sonnet-4-5`); a bare one (other servers of the contract) gets its
 * provider prefixed once, never twice.
 */
export function qualifiedModel(provider: string, model: string): string {
  return model.startsWith(`${provider}/`) ? model : `${provider}/${model}`;
}

export async function executeRun(
  run: ActiveRun,
  s: RunSettings,
  now: () => number,
  ended: (outcome: RunOutcome) => void,
): Promise<void> {
  const t0 = now();
  let text = "";
  let pending = "";
  let flushTimer: ReturnType<typeof setTimeout> | undefined;
  let lastCheckpoint = t0;
  let ttftMs: number | null = null;
  // The session's own model (sessions.patch) wins over the gateway's default.
  let model = run.model ?? s.model;
  let usage: ChatUsage | undefined;
  let deltas = 0;
  let aiRetries = 0;
  const message = (t: string) => ({
    role: "assistant" as const,
    content: [{ type: "text" as const, text: t }],
    timestamp: now(),
  });
  const flush = () => {
    if (flushTimer) clearTimeout(flushTimer);
    flushTimer = undefined;
    if (pending === "") return;
    const deltaText = pending;
    pending = "";
    deltas++;
    emit(s, run, { state: "delta", message: message(text), deltaText });
  };
  const timeout = setTimeout(() => {
    run.controller.abort(new PipbotError("timeout", `the run took longer than ${run.timeoutMs} ms`));
  }, run.timeoutMs);

  let outcome: RunOutcome;
  let errorMessage: string | undefined;
  let errorKind: ErrorKind | undefined;
  let stopReason: string | undefined;
  let errorCode: string | undefined;
  try {
    if (run.controller.signal.aborted) throw run.controller.signal.reason ?? new Error("aborted");
    const history = s.store.listMessages(run.sessionId, 2000);
    const messages = withAttachments(buildContext(history, run.userMessageId, s.contextBudgetChars), s.store);
    type Done = Extract<StreamEvent, { type: "done" }>["data"];
    const streamOnce = async (): Promise<Done | undefined> => {
      let done: Done | undefined;
      for await (const ev of s.ai.stream(
        { model: run.model ?? s.model, messages, conversationId: run.sessionId },
        run.controller.signal,
      )) {
        s.aiAvailability?.markUp();
        if (ev.type === "start") {
          model = qualifiedModel(ev.data.provider, ev.data.model);
        } else if (ev.type === "delta") {
          if (ev.data.text === "") continue;
          text += ev.data.text;
          pending += ev.data.text;
          if (ttftMs === null) {
            ttftMs = now() - t0;
            flush();
          } else if (!flushTimer) {
            flushTimer = setTimeout(flush, s.deltaWindowMs);
          }
          const t = now();
          if (t - lastCheckpoint >= (s.checkpointIntervalMs ?? 500)) {
            lastCheckpoint = t;
            s.store.saveRunPartial(run.runId, text);
          }
        } else if (ev.type === "done") {
          done = ev.data;
        } else if (ev.type === "error") {
          throw new PipbotError(ev.data.code as never, ev.data.message, {
            retryable: ev.data.retryable,
          });
        }
      }
      return done;
    };
    // While the AI server restarts (and no text came yet), wait for it, bounded: see ai-wait.ts.
    let done: Done | undefined;
    let waitDeadline: number | undefined;
    let brokenRetried = false;
    for (;;) {
      try {
        done = await streamOnce();
        break;
      } catch (e) {
        const avail = s.aiAvailability;
        if (!avail || text !== "" || run.controller.signal.aborted || !isAiServerDown(e)) throw e;
        // A failed connection or a broken stream while the AI server answers /healthz is not a
        // restart: one more try at once, then the error. (A draining server says so: shutting_down.)
        if (!isShuttingDown(e) && (await s.ai.health(1000)).ok) {
          if (brokenRetried) throw e;
          brokenRetried = true;
          aiRetries++;
          continue;
        }
        waitDeadline ??= now() + avail.waitMs;
        if (!(await avail.waitReachable(waitDeadline, run.controller.signal))) {
          // Aborted while waiting: the abort's own reason (e.g. the run's timeout) says why.
          const reason: unknown = run.controller.signal.reason;
          if (run.controller.signal.aborted) throw isPipbotError(reason) ? reason : e;
          throw aiUnavailableError(avail.waitMs);
        }
        await abortableSleep(backoffDelay(aiRetries + 1, AI_WAIT_BACKOFF), run.controller.signal);
        aiRetries++;
      }
    }
    if (!done) throw new PipbotError("upstream_error", "AI server stream ended without a result");
    flush();
    const doneText = contentText(done.message.content);
    if (doneText.length > text.length) text = doneText;
    usage = done.usage;
    stopReason = done.stopReason;
    outcome = "final";
  } catch (e) {
    flush();
    if (run.abortCause === "rpc" || run.abortCause === "stop") {
      outcome = "aborted";
      stopReason = run.abortCause;
      errorMessage = run.abortCause === "stop" ? "Stopped with /stop." : "Stopped by the user.";
    } else if (run.abortCause === "shutdown") {
      outcome = "interrupted";
      errorMessage = "The gateway restarted before the reply was complete. Send the message again.";
      errorKind = "unknown";
      errorCode = "gateway_restart";
      stopReason = "interrupted";
    } else {
      const err = isPipbotError(e)
        ? e
        : new PipbotError("internal", e instanceof Error ? e.message : String(e));
      outcome = "error";
      errorMessage = err.message || err.code;
      // Waiting for the AI server ran out (ai-wait.ts): a timeout, retryable.
      const aiDown = err.code === "unavailable" && err.details?.aiServer !== undefined;
      errorKind = err.code === "timeout" || aiDown ? "timeout" : errorKindOf(err.code, err.message);
      errorCode = err.code;
      if (err.code === "internal") s.logger.error({ err: e, runId: run.runId }, "chat run failed");
    }
  } finally {
    clearTimeout(timeout);
    if (flushTimer) clearTimeout(flushTimer);
  }

  try {
    s.store.finishRun(run.runId, {
      state: outcome,
      text,
      ...(model ? { model } : {}),
      ...(usage ? { usage } : {}),
      ...(stopReason ? { stopReason } : {}),
      ...(errorMessage ? { errorMessage } : {}),
      ...(errorKind ? { errorKind } : {}),
      ...(errorCode ? { errorCode } : {}),
    });
  } catch (e) {
    // Nothing of the end was written (one transaction). Never announce a final or aborted reply
    // that chat.history would not show: the run ends as an error, and the store keeps it
    // `running`, so the next start closes it as interrupted with its last checkpoint.
    s.logger.error({ err: e, runId: run.runId }, "chat run: could not store the result");
    outcome = "error";
    errorMessage = "the reply could not be stored (store unavailable)";
    errorKind = "unknown";
  }
  ended(outcome);

  if (outcome === "final") {
    const u = wireUsage(usage);
    emit(s, run, {
      state: "final",
      ...(text ? { message: message(text) } : {}),
      ...(u ? { usage: u } : {}),
      ...(stopReason ? { stopReason } : {}),
    });
  } else if (outcome === "aborted") {
    emit(s, run, {
      state: "aborted",
      ...(text ? { message: message(text) } : {}),
      stopReason: stopReason ?? "rpc",
    });
  } else {
    emit(s, run, {
      state: "error",
      ...(text ? { message: message(text) } : {}),
      errorMessage: errorMessage ?? "run failed",
      errorKind: errorKind ?? "unknown",
    });
  }

  s.logger.info(
    {
      runId: run.runId,
      sessionKey: run.sessionKey,
      sessionId: run.sessionId,
      model: model ?? null,
      outcome,
      attempt: run.attempt,
      ...(aiRetries > 0 ? { aiRetries } : {}),
      ttftMs,
      durationMs: now() - t0,
      chars: text.length,
      deltas,
      usage: usage ?? null,
      stopReason: stopReason ?? null,
      ...(errorKind ? { errorKind, errorMessage } : {}),
    },
    "chat turn",
  );
}
