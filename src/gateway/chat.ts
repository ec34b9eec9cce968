/**
 * Chat runs: `chat.send` → a run that streams the AI server's reply to every client as `chat`
 * events and stores the result. This file owns the queue: per-session ordering (runs of one
 * session are serialised, sessions run concurrently), the active runs, aborts and shutdown. One
 * run's streaming is chat-run.ts; the idempotency cache (5 min) is idempotency.ts.
 *
 * Every run ends in exactly one of final / aborted / error, stored (finishRun) before the event
 * goes out, so a client reading chat.history after the event sees the same thing.
 */
import { abortableSleep } from "../shared/backoff.ts";
import { isPipbotError, PipbotError } from "../shared/errors.ts";
import type { NewAttachment } from "../shared/store/index.ts";
import {
  type AbortCause,
  type ActiveRun,
  executeRun,
  type RunOutcome,
  type RunSettings,
} from "./chat-run.ts";
import { IdempotencyCache, type RunStatus } from "./idempotency.ts";
import { invalidRequest } from "./protocol.ts";

export type { ChatEventPayload } from "./chat-run.ts";

export interface ChatRunsOptions extends RunSettings {
  runTimeoutMs: number;
  idempotencyTtlMs?: number;
  now?: () => number;
}

export interface SendResult {
  runId: string;
  status: "started" | RunStatus;
}

/** How long a chat.send idempotency key is remembered by default. */
const DEFAULT_IDEMPOTENCY_TTL_MS = 5 * 60_000;
/** Retry-After on a chat.send refused while the gateway shuts down (a restart is quick). */
const SHUTTING_DOWN_RETRY_AFTER_MS = 2000;
/** Retry-After on a chat.send the store could not take. */
const STORE_RETRY_AFTER_MS = 1000;
/** How long shutdown waits for the runs to store their interrupted state. */
const DEFAULT_SHUTDOWN_WAIT_MS = 5000;

export class ChatRuns {
  private readonly o: ChatRunsOptions;
  private readonly now: () => number;
  private readonly active = new Map<string, ActiveRun>();
  private readonly tails = new Map<string, Promise<void>>();
  private readonly idem: IdempotencyCache;
  private stopping = false;

  constructor(opts: ChatRunsOptions) {
    this.o = opts;
    this.now = opts.now ?? Date.now;
    this.idem = new IdempotencyCache(
      opts.store,
      opts.idempotencyTtlMs ?? DEFAULT_IDEMPOTENCY_TTL_MS,
      this.now,
    );
  }

  get activeCount(): number {
    return this.active.size;
  }

  /** Run ids of the session's runs still streaming or queued, oldest first. */
  activeRunIds(sessionId: string): string[] {
    const ids: string[] = [];
    for (const r of this.active.values()) if (r.sessionId === sessionId) ids.push(r.runId);
    return ids;
  }

  /**
   * Start a run (user message stored before this returns), or answer a duplicate: a key whose run
   * is running or ended final / aborted answers its status; a key whose run ended error or
   * interrupted runs that turn again (a retry: the stored user message, not a second copy).
   */
  send(input: {
    sessionKey: string;
    message: string;
    idempotencyKey: string;
    timeoutMs?: number | undefined;
    /** Validated attachments, stored with the user message (same transaction). */
    attachments?: NewAttachment[];
  }): SendResult {
    const dup = this.idem.lookup(input.idempotencyKey);
    if (dup && dup.status !== "error") return dup;
    if (this.stopping) {
      throw new PipbotError("shutting_down", "gateway is shutting down", {
        retryable: true,
        retryAfterMs: SHUTTING_DOWN_RETRY_AFTER_MS,
      });
    }
    let sessionId: string;
    let userMessageId: string;
    let attempt = 1;
    let model: string | undefined;
    try {
      if (dup) {
        const prior = this.o.store.getRun(input.idempotencyKey);
        const session = this.o.store.findSession(input.sessionKey);
        if (prior && prior.sessionId !== session?.id) {
          throw invalidRequest("idempotencyKey belongs to a run of another session");
        }
        const retried = this.o.store.retryRun(input.idempotencyKey);
        // Not retryable after all (its end could not be stored, so the store still has it running).
        if (!retried) return dup;
        sessionId = retried.run.sessionId;
        userMessageId = retried.userMessage.id;
        attempt = retried.run.attempts;
        model = session?.model ?? this.o.model;
      } else {
        const session = this.o.store.getOrCreateSession(input.sessionKey);
        sessionId = session.id;
        model = session.model ?? this.o.model;
        const started = this.o.store.startRun({
          runId: input.idempotencyKey,
          sessionId,
          userText: input.message,
          ...(input.attachments ? { attachments: input.attachments } : {}),
          ...(model ? { model } : {}),
        });
        userMessageId = started.userMessage.id;
      }
    } catch (e) {
      if (isPipbotError(e)) throw e;
      this.o.logger.error({ err: e, runId: input.idempotencyKey }, "chat.send: could not store the message");
      throw new PipbotError("unavailable", "could not start the run: store unavailable", {
        retryable: true,
        retryAfterMs: STORE_RETRY_AFTER_MS,
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
      attempt,
      model,
    };
    this.active.set(run.runId, run);
    this.idem.started(run.runId, sessionId);
    const prev = this.tails.get(sessionId) ?? Promise.resolve();
    // executeRun() never rejects by design; should it ever, the runs queued behind it must still run
    // (a rejected tail would skip them and leave them without a terminal event).
    const tail = prev
      .catch(() => {})
      .then(() => executeRun(run, this.o, this.now, (outcome) => this.ended(run, outcome)))
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
      const owner = run?.sessionId ?? this.idem.sessionOf(runId) ?? this.o.store.getRun(runId)?.sessionId;
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
  async shutdown(timeoutMs = DEFAULT_SHUTDOWN_WAIT_MS): Promise<void> {
    this.stopping = true;
    for (const run of this.active.values()) {
      run.abortCause ??= "shutdown";
      run.controller.abort();
    }
    const all = Promise.allSettled([...this.tails.values()]);
    const settled = new AbortController();
    await Promise.race([all, abortableSleep(timeoutMs, settled.signal)]);
    settled.abort(); // ends the wait's timer
  }

  /** A run has stored its end: it is no longer active, and a repeated key answers its status. */
  private ended(run: ActiveRun, outcome: RunOutcome): void {
    this.active.delete(run.runId);
    this.idem.ended(run.runId, outcome);
  }
}
