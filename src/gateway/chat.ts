/**
 * Chat runs: `chat.send` → a run that streams the AI server's reply to every client as `chat`
 * events and stores the result. Owns idempotency (5 min), per-session ordering (runs of one
 * session are serialised, sessions run concurrently), delta coalescing, partial checkpoints,
 * aborts, timeouts and the one wide log line per turn.
 *
 * Every run ends in exactly one of final / aborted / error, stored (finishRun) before the event
 * goes out, so a client reading chat.history after the event sees the same thing.
 */
import type { StreamEvent } from "../shared/chat-api.ts";
import { isPipbotError, PipbotError } from "../shared/errors.ts";
import type { Logger } from "../shared/log.ts";
import type { Store, Usage } from "../shared/store/index.ts";
import type { AiClient } from "./ai-client.ts";
import { buildContext, type ErrorKind, errorKindOf, type WireUsage, wireUsage } from "./context.ts";
import { GatewayError, invalidRequest } from "./protocol.ts";

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

export interface ChatRunsOptions {
  store: Store;
  ai: AiClient;
  logger: Logger;
  /** Broadcast one chat event to every connected client. */
  emit: (payload: ChatEventPayload) => void;
  model?: string | undefined;
  deltaWindowMs: number;
  contextBudgetChars: number;
  runTimeoutMs: number;
  checkpointIntervalMs?: number;
  idempotencyTtlMs?: number;
  now?: () => number;
}

type AbortCause = "rpc" | "stop" | "shutdown";

interface ActiveRun {
  runId: string;
  sessionId: string;
  sessionKey: string;
  userMessageId: string;
  controller: AbortController;
  abortCause?: AbortCause;
  seq: number;
  timeoutMs: number;
}

interface IdempotencyEntry {
  runId: string;
  sessionId: string;
  status: "in_flight" | "ok" | "error" | "aborted";
  endedAt?: number;
}

export interface SendResult {
  runId: string;
  status: "started" | "in_flight" | "ok" | "error" | "aborted";
}

export class ChatRuns {
  private readonly o: ChatRunsOptions;
  private readonly now: () => number;
  private readonly active = new Map<string, ActiveRun>();
  private readonly tails = new Map<string, Promise<void>>();
  private readonly idem = new Map<string, IdempotencyEntry>();
  private stopping = false;

  constructor(opts: ChatRunsOptions) {
    this.o = opts;
    this.now = opts.now ?? Date.now;
  }

  get activeCount(): number {
    return this.active.size;
  }

  /** Start a run (user message stored before this returns), or answer a duplicate. */
  send(input: {
    sessionKey: string;
    message: string;
    idempotencyKey: string;
    timeoutMs?: number | undefined;
  }): SendResult {
    this.sweepIdempotency();
    const dup = this.idem.get(input.idempotencyKey);
    if (dup) return { runId: dup.runId, status: dup.status };
    const stored = this.o.store.getRun(input.idempotencyKey);
    if (stored) {
      // Survives a restart: the run id is the idempotency key.
      const status =
        stored.state === "final"
          ? "ok"
          : stored.state === "running"
            ? "in_flight"
            : stored.state === "aborted"
              ? "aborted"
              : "error";
      return { runId: stored.runId, status };
    }
    if (this.stopping) {
      throw new GatewayError("UNAVAILABLE", "gateway is shutting down", {
        retryable: true,
        retryAfterMs: 2000,
      });
    }
    let sessionId: string;
    let userMessageId: string;
    try {
      const session = this.o.store.getOrCreateSession(input.sessionKey);
      sessionId = session.id;
      const started = this.o.store.startRun({
        runId: input.idempotencyKey,
        sessionId,
        userText: input.message,
        ...(this.o.model ? { model: this.o.model } : {}),
      });
      userMessageId = started.userMessage.id;
    } catch (e) {
      this.o.logger.error({ err: e, runId: input.idempotencyKey }, "chat.send: could not store the message");
      throw new GatewayError("UNAVAILABLE", "could not start the run: store unavailable", {
        retryable: true,
        retryAfterMs: 1000,
      });
    }
    const timeoutMs = Math.min(
      this.o.runTimeoutMs,
      input.timeoutMs && input.timeoutMs > 0 ? input.timeoutMs : Number.POSITIVE_INFINITY,
    );
    const run: ActiveRun = {
      runId: input.idempotencyKey,
      sessionId,
      sessionKey: input.sessionKey,
      userMessageId,
      controller: new AbortController(),
      seq: 0,
      timeoutMs,
    };
    this.active.set(run.runId, run);
    this.idem.set(run.runId, { runId: run.runId, sessionId, status: "in_flight" });
    const prev = this.tails.get(sessionId) ?? Promise.resolve();
    // execute() never rejects by design; should it ever, the runs queued behind it must still run
    // (a rejected tail would skip them and leave them without a terminal event).
    const tail = prev
      .catch(() => {})
      .then(() => this.execute(run))
      .catch((e: unknown) => this.o.logger.error({ err: e, runId: run.runId }, "chat run crashed"));
    this.tails.set(sessionId, tail);
    void tail.finally(() => {
      if (this.tails.get(sessionId) === tail) this.tails.delete(sessionId);
    });
    return { runId: run.runId, status: "started" };
  }

  /** Abort one run (runId) or every active run of the session. */
  abort(
    sessionKey: string,
    runId: string | undefined,
    cause: AbortCause = "rpc",
  ): { ok: true; aborted: boolean; runIds: string[] } {
    const sessionId = this.o.store.findSession(sessionKey)?.id;
    const targets: ActiveRun[] = [];
    if (runId !== undefined) {
      const run = this.active.get(runId);
      const owner =
        run?.sessionId ?? this.idem.get(runId)?.sessionId ?? this.o.store.getRun(runId)?.sessionId;
      if (owner !== undefined && owner !== sessionId) throw invalidRequest("runId does not match sessionKey");
      if (run) targets.push(run);
    } else if (sessionId !== undefined) {
      for (const run of this.active.values()) if (run.sessionId === sessionId) targets.push(run);
    }
    for (const run of targets) {
      run.abortCause ??= cause;
      run.controller.abort();
    }
    return { ok: true, aborted: targets.length > 0, runIds: targets.map((r) => r.runId) };
  }

  /** Stop every run (graceful shutdown): each ends as error/interrupted with its partial text. */
  async shutdown(timeoutMs = 5000): Promise<void> {
    this.stopping = true;
    for (const run of this.active.values()) {
      run.abortCause ??= "shutdown";
      run.controller.abort();
    }
    const all = Promise.allSettled([...this.tails.values()]);
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([all, new Promise((r) => (timer = setTimeout(r, timeoutMs)))]);
    clearTimeout(timer);
  }

  private sweepIdempotency(): void {
    const ttl = this.o.idempotencyTtlMs ?? 5 * 60_000;
    const cutoff = this.now() - ttl;
    for (const [k, v] of this.idem) {
      if (v.endedAt !== undefined && v.endedAt < cutoff) this.idem.delete(k);
    }
  }

  private emit(run: ActiveRun, p: Omit<ChatEventPayload, "runId" | "sessionKey" | "seq">): void {
    run.seq += 1;
    try {
      this.o.emit({ runId: run.runId, sessionKey: run.sessionKey, seq: run.seq, ...p });
    } catch (e) {
      this.o.logger.error({ err: e, runId: run.runId }, "chat event broadcast failed");
    }
  }

  private async execute(run: ActiveRun): Promise<void> {
    const t0 = this.now();
    let text = "";
    let pending = "";
    let flushTimer: ReturnType<typeof setTimeout> | undefined;
    let lastCheckpoint = t0;
    let ttftMs: number | null = null;
    let model = this.o.model;
    let usage: Usage | undefined;
    let deltas = 0;
    const message = (t: string) => ({
      role: "assistant" as const,
      content: [{ type: "text" as const, text: t }],
      timestamp: this.now(),
    });
    const flush = () => {
      if (flushTimer) clearTimeout(flushTimer);
      flushTimer = undefined;
      if (pending === "") return;
      const deltaText = pending;
      pending = "";
      deltas++;
      this.emit(run, { state: "delta", message: message(text), deltaText });
    };
    const timeout = setTimeout(() => {
      run.controller.abort(new PipbotError("timeout", `the run took longer than ${run.timeoutMs} ms`));
    }, run.timeoutMs);

    let outcome: "final" | "aborted" | "error" | "interrupted";
    let errorMessage: string | undefined;
    let errorKind: ErrorKind | undefined;
    let stopReason: string | undefined;
    try {
      if (run.controller.signal.aborted) throw run.controller.signal.reason ?? new Error("aborted");
      const history = this.o.store.listMessages(run.sessionId, 2000);
      const messages = buildContext(history, run.userMessageId, this.o.contextBudgetChars);
      let done: Extract<StreamEvent, { type: "done" }>["data"] | undefined;
      for await (const ev of this.o.ai.stream(
        { model: this.o.model, messages, conversationId: run.sessionId },
        run.controller.signal,
      )) {
        if (ev.type === "start") {
          model = `${ev.data.provider}/${ev.data.model}`;
        } else if (ev.type === "delta") {
          if (ev.data.text === "") continue;
          text += ev.data.text;
          pending += ev.data.text;
          if (ttftMs === null) {
            ttftMs = this.now() - t0;
            flush();
          } else if (!flushTimer) {
            flushTimer = setTimeout(flush, this.o.deltaWindowMs);
          }
          const t = this.now();
          if (t - lastCheckpoint >= (this.o.checkpointIntervalMs ?? 500)) {
            lastCheckpoint = t;
            this.o.store.saveRunPartial(run.runId, text);
          }
        } else if (ev.type === "done") {
          done = ev.data;
        } else {
          throw new PipbotError(ev.data.code as never, ev.data.message, { retryable: ev.data.retryable });
        }
      }
      if (!done) throw new PipbotError("upstream_error", "AI server stream ended without a result");
      flush();
      const doneText = done.message.content.map((b) => b.text).join("");
      if (doneText.length > text.length) text = doneText;
      usage = done.usage;
      stopReason = done.stopReason;
      outcome = "final";
    } catch (e) {
      flush();
      if (run.abortCause === "rpc" || run.abortCause === "stop") {
        outcome = "aborted";
        stopReason = run.abortCause;
      } else if (run.abortCause === "shutdown") {
        outcome = "interrupted";
        errorMessage = "run interrupted: the gateway is shutting down";
        errorKind = "unknown";
        stopReason = "interrupted";
      } else {
        const err = isPipbotError(e)
          ? e
          : new PipbotError("internal", e instanceof Error ? e.message : String(e));
        outcome = "error";
        errorMessage = err.message || err.code;
        errorKind = err.code === "timeout" ? "timeout" : errorKindOf(err.code, err.message);
        if (err.code === "internal") this.o.logger.error({ err: e, runId: run.runId }, "chat run failed");
      }
    } finally {
      clearTimeout(timeout);
      if (flushTimer) clearTimeout(flushTimer);
    }

    try {
      this.o.store.finishRun(run.runId, {
        state: outcome,
        text,
        ...(model ? { model } : {}),
        ...(usage ? { usage } : {}),
        ...(stopReason ? { stopReason } : {}),
        ...(errorMessage ? { errorMessage } : {}),
        ...(errorKind ? { errorKind } : {}),
      });
    } catch (e) {
      // Nothing of the end was written (one transaction). Never announce a final or aborted reply
      // that chat.history would not show: the run ends as an error, and the store keeps it
      // `running`, so the next start closes it as interrupted with its last checkpoint.
      this.o.logger.error({ err: e, runId: run.runId }, "chat run: could not store the result");
      outcome = "error";
      errorMessage = "the reply could not be stored (store unavailable)";
      errorKind = "unknown";
    }
    this.active.delete(run.runId);
    const idem = this.idem.get(run.runId);
    if (idem) {
      idem.status = outcome === "final" ? "ok" : outcome === "aborted" ? "aborted" : "error";
      idem.endedAt = this.now();
    }

    if (outcome === "final") {
      const u = wireUsage(usage);
      this.emit(run, {
        state: "final",
        ...(text ? { message: message(text) } : {}),
        ...(u ? { usage: u } : {}),
        ...(stopReason ? { stopReason } : {}),
      });
    } else if (outcome === "aborted") {
      this.emit(run, {
        state: "aborted",
        ...(text ? { message: message(text) } : {}),
        stopReason: stopReason ?? "rpc",
      });
    } else {
      this.emit(run, {
        state: "error",
        ...(text ? { message: message(text) } : {}),
        errorMessage: errorMessage ?? "run failed",
        errorKind: errorKind ?? "unknown",
      });
    }

    this.o.logger.info(
      {
        runId: run.runId,
        sessionKey: run.sessionKey,
        sessionId: run.sessionId,
        model: model ?? null,
        outcome,
        ttftMs,
        durationMs: this.now() - t0,
        chars: text.length,
        deltas,
        usage: usage ?? null,
        stopReason: stopReason ?? null,
        ...(errorKind ? { errorKind, errorMessage } : {}),
      },
      "chat turn",
    );
  }
}
