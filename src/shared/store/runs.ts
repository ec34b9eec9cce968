/**
 * Runs: one row per chat turn. Starting a run stores the user message; finishing it stores the
 * assistant message and the terminal state, each in one IMMEDIATE transaction.
 */

import type { ChatUsage } from "../chat-api.ts";
import type { Messages } from "./messages.ts";
import { type Connection, prepare, type Row } from "./sql.ts";
import type { AttachmentRef, Run, RunState, StoredMessage } from "./types.ts";

export interface FinishRun {
  state: Exclude<RunState, "running">;
  /** Assistant message to store with the run's end (absent: nothing to store, e.g. empty error). */
  text?: string;
  model?: string;
  usage?: ChatUsage;
  stopReason?: string;
  errorMessage?: string;
  errorKind?: string;
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
   * transaction. Returns null if the run was not running (already ended: nothing is written).
   */
  end(runId: string, end: FinishRun): { run: Run; assistantMessage: StoredMessage | null } | null {
    return this.c.db
      .transaction(() => {
        const current = this.q.byId.get(runId) as Row | null;
        if (current?.state !== "running") return null;
        const sessionId = current.session_id as string;
        let assistantMessage: StoredMessage | null = null;
        if (end.text !== undefined && end.text !== "") {
          assistantMessage = this.messages.insertRows({
            sessionId,
            role: "assistant",
            content: [{ type: "text", text: end.text }],
            runId,
            ...(end.model ? { model: end.model } : {}),
            ...(end.usage ? { usage: end.usage } : {}),
            ...(end.stopReason ? { stopReason: end.stopReason } : {}),
            status: end.state,
          });
        }
        this.q.finish.run(
          end.state,
          this.c.now(),
          assistantMessage?.id ?? null,
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
        stopReason: "interrupted",
        errorMessage: "run interrupted by a gateway restart",
        errorKind: "unknown",
        ...(r.model ? { model: r.model } : {}),
      });
      if (res) closed.push(res.run);
    }
    return closed;
  }
}
