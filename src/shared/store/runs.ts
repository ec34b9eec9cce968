/**
 * Runs: one row per chat turn. Starting a run stores the user message; finishing it stores the
 * assistant message and the terminal state, each in one IMMEDIATE transaction.
 */

import type { ChatUsage } from "../chat-api.ts";
import type { Messages } from "./messages.ts";
import { type Connection, prepare, type Row } from "./sql.ts";
import type { AttachmentRef, NewMessage, Run, RunState, StoredMessage } from "./types.ts";

export interface FinishRun {
  state: Exclude<RunState, "running">;
  /** The text streamed (final: the reply; otherwise the partial text, possibly empty). */
  text?: string;
  model?: string;
  usage?: ChatUsage;
  /** Final: the model's stop reason (end_turn, max_tokens…). Aborted: the cause (rpc, stop). */
  stopReason?: string;
  /** Why the turn did not end final, written for users. */
  errorMessage?: string;
  /** The protocol's errorKind (refusal, timeout, rate_limit, context_length, unknown). */
  errorKind?: string;
  /** A precise code for the stored message's error (default: errorKind, the abort cause, the state). */
  errorCode?: string;
}

const DEFAULT_END_MESSAGE: Record<Exclude<RunState, "running" | "final">, string> = {
  aborted: "The reply was stopped.",
  interrupted: "The reply was interrupted.",
  error: "The reply failed.",
};

/**
 * The assistant message that records a run's end: the reply (final), or the partial text (maybe
 * none) marked with the terminal state as its stop reason and the error that says why.
 */
function endMessage(end: FinishRun): Pick<NewMessage, "content" | "stopReason" | "status" | "error"> {
  const content = end.text ? [{ type: "text" as const, text: end.text }] : [];
  if (end.state === "final") {
    return { content, status: "final", ...(end.stopReason ? { stopReason: end.stopReason } : {}) };
  }
  const code = end.errorCode ?? (end.state === "aborted" ? end.stopReason : end.errorKind) ?? end.state;
  return {
    content,
    status: end.state,
    stopReason: end.state,
    error: { code, message: end.errorMessage ?? DEFAULT_END_MESSAGE[end.state] },
  };
}

function runFromRow(r: Row): Run {
  return {
    runId: r.run_id as string,
    sessionId: r.session_id as string,
    state: r.state as RunState,
    startedAt: r.started_at as number,
    endedAt: (r.ended_at as number | null) ?? null,
    userMessageId: (r.user_message_id as string | null) ?? null,
    assistantMessageId: (r.assistant_message_id as string | null) ?? null,
    partialText: (r.partial_text as string) ?? "",
    model: (r.model as string | null) ?? null,
    errorMessage: (r.error_message as string | null) ?? null,
    errorKind: (r.error_kind as string | null) ?? null,
    stopReason: (r.stop_reason as string | null) ?? null,
    attempts: (r.attempts as number | null) ?? 1,
  };
}

export class Runs {
  private readonly q;

  constructor(
    private readonly c: Connection,
    private readonly messages: Messages,
  ) {
    this.q = prepare(c.db, {
      insert: `INSERT INTO runs (run_id, session_id, state, started_at, user_message_id, model)
               VALUES (?, ?, 'running', ?, ?, ?)`,
      byId: "SELECT * FROM runs WHERE run_id = ?",
      partial: "UPDATE runs SET partial_text = ? WHERE run_id = ? AND state = 'running'",
      finish: `UPDATE runs SET state = ?, ended_at = ?, assistant_message_id = ?, partial_text = ?, model = COALESCE(?, model),
                               error_message = ?, error_kind = ?, stop_reason = ?
               WHERE run_id = ? AND state = 'running'`,
      running: "SELECT * FROM runs WHERE state = 'running' ORDER BY started_at",
      retry: `UPDATE runs SET state = 'running', ended_at = NULL, assistant_message_id = NULL, partial_text = '',
                              error_message = NULL, error_kind = NULL, stop_reason = NULL, attempts = attempts + 1
              WHERE run_id = ? AND state IN ('error', 'interrupted')`,
    });
  }

  /** Start a run: stores the user message (+ outbox) and the run row in one transaction. */
  start(input: {
    runId: string;
    sessionId: string;
    userText: string;
    model?: string;
    /** References of the attachments stored with the user message (after its text). */
    attachments?: AttachmentRef[];
  }): {
    run: Run;
    userMessage: StoredMessage;
  } {
    return this.c.db
      .transaction(() => {
        const userMessage = this.messages.insertRows({
          sessionId: input.sessionId,
          role: "user",
          content: [{ type: "text", text: input.userText }, ...(input.attachments ?? [])],
          runId: input.runId,
        });
        this.q.insert.run(
          input.runId,
          input.sessionId,
          userMessage.createdAt,
          userMessage.id,
          input.model ?? null,
        );
        const run = runFromRow(this.q.byId.get(input.runId) as Row);
        return { run, userMessage };
      })
      .immediate();
  }

  /**
   * Run a failed turn again (the client retried it with the same idempotency key): a run that ended
   * `error` or `interrupted` becomes `running` again with its user message as it was stored (never
   * stored twice). The earlier attempt's assistant entry stays in history. Null when the run is
   * not in one of those states (final, aborted and running runs are never re-run).
   */
  retry(runId: string): { run: Run; userMessage: StoredMessage } | null {
    return this.c.db
      .transaction(() => {
        if (this.q.retry.run(runId).changes === 0) return null;
        const run = runFromRow(this.q.byId.get(runId) as Row);
        const userMessage = run.userMessageId ? this.messages.get(run.userMessageId) : null;
        if (!userMessage) throw new Error(`run ${runId} has no user message to retry`);
        return { run, userMessage };
      })
      .immediate();
  }

  get(runId: string): Run | null {
    const r = this.q.byId.get(runId) as Row | null;
    return r ? runFromRow(r) : null;
  }

  /** Checkpoint the text streamed so far, so a crash can close the run with it. */
  savePartial(runId: string, text: string): void {
    this.q.partial.run(text, runId);
  }

  /**
   * End a running run: the assistant message (+ outbox) and the run's terminal state in one
   * transaction. The message is written for every end (see endMessage). Returns null if the run was not running (already ended: nothing is written).
   */
  end(runId: string, end: FinishRun): { run: Run; assistantMessage: StoredMessage } | null {
    return this.c.db
      .transaction(() => {
        const current = this.q.byId.get(runId) as Row | null;
        if (current?.state !== "running") return null;
        const sessionId = current.session_id as string;
        // Every end is stored as an assistant message, so chat.history (and sync) shows how each
        // turn ended, also when it ended with no text at all.
        const assistantMessage = this.messages.insertRows({
          sessionId,
          role: "assistant",
          runId,
          ...endMessage(end),
          ...(end.model ? { model: end.model } : {}),
          ...(end.usage ? { usage: end.usage } : {}),
        });
        this.q.finish.run(
          end.state,
          this.c.now(),
          assistantMessage.id,
          end.text ?? (current.partial_text as string),
          end.model ?? null,
          end.errorMessage ?? null,
          end.errorKind ?? null,
          end.stopReason ?? null,
          runId,
        );
        return { run: runFromRow(this.q.byId.get(runId) as Row), assistantMessage };
      })
      .immediate();
  }

  /**
   * Close every run left `running` by a crash or restart: each becomes `interrupted`, and the text
   * checkpointed so far is stored as its assistant message. Call once at gateway startup.
   */
  closeInterrupted(): Run[] {
    const running = (this.q.running.all() as Row[]).map(runFromRow);
    const closed: Run[] = [];
    for (const r of running) {
      const res = this.end(r.runId, {
        state: "interrupted",
        text: r.partialText,
        errorMessage: "The gateway restarted before the reply was complete. Send the message again.",
        errorKind: "unknown",
        errorCode: "gateway_restart",
        ...(r.model ? { model: r.model } : {}),
      });
      if (res) closed.push(res.run);
    }
    return closed;
  }
}
