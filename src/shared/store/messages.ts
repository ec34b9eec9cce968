/**
 * Messages: each stored together with its outbox entry (and the session's `updated_at`), so a
 * message and its outbox entry are never apart.
 */
import { type Connection, prepare, type Row, toContent, toError, toUsage } from "./sql.ts";
import type { NewMessage, StoredMessage } from "./types.ts";

function messageFromRow(r: Row): StoredMessage {
  return {
    id: r.id as string,
    sessionId: r.session_id as string,
    runId: (r.run_id as string | null) ?? null,
    role: r.role as "user" | "assistant",
    content: toContent(r.content),
    createdAt: r.created_at as number,
    model: (r.model as string | null) ?? null,
    usage: toUsage(r.usage),
    stopReason: (r.stop_reason as string | null) ?? null,
    status: (r.status as StoredMessage["status"]) ?? null,
    error: toError(r.error),
  };
}

export class Messages {
  private readonly q;

  constructor(private readonly c: Connection) {
    this.q = prepare(c.db, {
      insertMessage: `INSERT INTO messages (id, session_id, run_id, role, content, created_at, model, usage, stop_reason, status, error)
                      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      insertOutbox: "INSERT INTO outbox (kind, entry_id, message_id, created_at) VALUES ('message', ?, ?, ?)",
      touchSession: "UPDATE sessions SET updated_at = ? WHERE id = ?",
      last: `SELECT * FROM (SELECT rowid AS rid, * FROM messages WHERE session_id = ? ORDER BY created_at DESC, rowid DESC LIMIT ?)
             ORDER BY created_at ASC, rid ASC`,
      byId: "SELECT * FROM messages WHERE id = ?",
    });
  }

  /** Write the message, its outbox entry and the session touch; the caller holds the transaction. */
  insertRows(m: NewMessage): StoredMessage {
    const msg: StoredMessage = {
      id: m.id ?? crypto.randomUUID(),
      sessionId: m.sessionId,
      runId: m.runId ?? null,
      role: m.role,
      content: m.content,
      createdAt: m.createdAt ?? this.c.now(),
      model: m.model ?? null,
      usage: m.usage ?? null,
      stopReason: m.stopReason ?? null,
      status: m.status ?? null,
      error: m.error ?? null,
    };
    this.q.insertMessage.run(
      msg.id,
      msg.sessionId,
      msg.runId,
      msg.role,
      JSON.stringify(msg.content),
      msg.createdAt,
      msg.model,
      msg.usage ? JSON.stringify(msg.usage) : null,
      msg.stopReason,
      msg.status,
      msg.error ? JSON.stringify(msg.error) : null,
    );
    this.q.insertOutbox.run(msg.id, msg.id, msg.createdAt);
    this.q.touchSession.run(msg.createdAt, msg.sessionId);
    return msg;
  }

  /** Store a message and its outbox entry atomically. */
  append(m: NewMessage): StoredMessage {
    return this.c.db.transaction(() => this.insertRows(m)).immediate();
  }

  /** The newest `limit` messages of a session, returned oldest → newest. */
  list(sessionId: string, limit: number): StoredMessage[] {
    return (this.q.last.all(sessionId, limit) as Row[]).map(messageFromRow);
  }

  get(id: string): StoredMessage | null {
    const r = this.q.byId.get(id) as Row | null;
    return r ? messageFromRow(r) : null;
  }
}
