/**
 * The outbox as the sync worker sees it: pending entries in seq order within batch limits, and
 * their delivery, failure and quarantine bookkeeping. Entries are written with their message.
 */
import { type Connection, prepare, type Row, toContent, toError, toUsage } from "./sql.ts";
import {
  ATTACHMENT_CHUNK_BYTES,
  type MessageOutboxEntry,
  type OtherOutboxEntry,
  type OutboxEntry,
  type OutboxStats,
  wireEntry,
} from "./types.ts";

export class Outbox {
  private readonly q;

  constructor(private readonly c: Connection) {
    this.q = prepare(c.db, {
      pending: `SELECT o.seq, o.attempts, o.kind, o.entry_id, o.body, m.*, COALESCE(s.base_key, s.key) AS session_key,
                       r.error_kind AS run_error_kind, r.error_message AS run_error_message
                FROM outbox o LEFT JOIN messages m ON m.id = o.message_id LEFT JOIN sessions s ON s.id = m.session_id
                LEFT JOIN runs r ON m.role = 'assistant' AND r.run_id = m.run_id
                WHERE o.delivered_at IS NULL AND o.quarantined_at IS NULL AND o.seq > ?
                ORDER BY o.seq LIMIT ?`,
      chunk: "SELECT substr(data, ?, ?) AS chunk FROM attachments WHERE id = ?",
      insertOther: "INSERT INTO outbox (kind, entry_id, body, created_at) VALUES (?, ?, ?, ?)",
      deliver: "UPDATE outbox SET delivered_at = ? WHERE seq = ? AND delivered_at IS NULL",
      fail: "UPDATE outbox SET attempts = attempts + 1, last_error = ? WHERE seq = ? RETURNING attempts",
      quarantine:
        "UPDATE outbox SET quarantined_at = ?, last_error = ? WHERE seq = ? AND delivered_at IS NULL",
      stats: `SELECT
                SUM(CASE WHEN delivered_at IS NULL AND quarantined_at IS NULL THEN 1 ELSE 0 END) AS pending,
                MIN(CASE WHEN delivered_at IS NULL AND quarantined_at IS NULL THEN created_at END) AS oldest,
                SUM(CASE WHEN quarantined_at IS NOT NULL AND delivered_at IS NULL THEN 1 ELSE 0 END) AS quarantined,
                SUM(CASE WHEN delivered_at IS NOT NULL THEN 1 ELSE 0 END) AS delivered,
                MAX(seq) AS last_seq
              FROM outbox`,
    });
  }

  /**
   * Pending entries in seq order, at most `maxEntries` and `maxBytes` (the first entry is always
   * returned even if larger, so an oversized entry can be tried alone and quarantined).
   */
  pending(maxEntries: number, maxBytes: number, afterSeq: number): OutboxEntry[] {
    const rows = this.q.pending.all(afterSeq, maxEntries) as Row[];
    const out: OutboxEntry[] = [];
    let bytes = 0;
    for (const r of rows) {
      const entry = r.kind === "message" ? this.messageEntry(r) : this.otherEntry(r);
      // Exact size of the entry as sync-v1 serializes it (without our bookkeeping fields), + a comma.
      entry.bytes = Buffer.byteLength(JSON.stringify(wireEntry(entry))) + 1;
      if (out.length > 0 && bytes + entry.bytes > maxBytes) break;
      bytes += entry.bytes;
      out.push(entry);
    }
    return out;
  }

  private messageEntry(r: Row): OutboxEntry {
    const entry: MessageOutboxEntry = {
      kind: "message",
      seq: r.seq as number,
      id: r.id as string,
      sessionKey: r.session_key as string,
      sessionId: r.session_id as string,
      role: r.role as "user" | "assistant",
      content: toContent(r.content),
      createdAt: r.created_at as number,
      attempts: r.attempts as number,
      bytes: 0,
    };
    if (r.model) entry.model = r.model as string;
    const usage = toUsage(r.usage);
    if (usage) entry.usage = usage;
    const stop = syncStopReason(r.status as string | null, r.stop_reason as string | null);
    if (stop) entry.stopReason = stop;
    // The turn's own error (stored with its message since migration 4), else its run's.
    const own = toError(r.error);
    if (own) entry.error = own;
    else if (stop === "error" || (stop === "interrupted" && r.run_error_message)) {
      entry.error = {
        code: (r.run_error_kind as string | null) ?? "unknown",
        message: (r.run_error_message as string | null) ?? "the turn failed",
      };
    }
    return entry;
  }

  /** A tombstone or an attachment chunk: its stored body, plus the chunk's bytes as base64. */
  private otherEntry(r: Row): OutboxEntry {
    const body = JSON.parse(r.body as string) as Record<string, unknown>;
    if (r.kind === "attachment_chunk") {
      const index = body.index as number;
      const got = this.q.chunk.get(
        index * ATTACHMENT_CHUNK_BYTES + 1,
        ATTACHMENT_CHUNK_BYTES,
        body.attachmentId as string,
      ) as { chunk: Uint8Array } | null;
      body.data = got ? Buffer.from(got.chunk).toString("base64") : "";
    }
    return {
      kind: r.kind as OtherOutboxEntry["kind"],
      seq: r.seq as number,
      id: r.entry_id as string,
      body,
      attempts: r.attempts as number,
      bytes: 0,
    };
  }

  /** Queue a non-message entry (the caller holds the transaction with the change it reports). */
  insertOther(kind: OtherOutboxEntry["kind"], id: string, body: Record<string, unknown>): void {
    this.q.insertOther.run(kind, id, JSON.stringify(body), this.c.now());
  }

  /** Mark entries delivered (after a 2xx). Idempotent. */
  markDelivered(seqs: number[]): void {
    if (seqs.length === 0) return;
    const t = this.c.now();
    this.c.db
      .transaction(() => {
        for (const s of seqs) this.q.deliver.run(t, s);
      })
      .immediate();
  }

  /** Count a failed delivery attempt of one entry; returns its attempt count. */
  recordFailure(seq: number, error: string): number {
    const r = this.q.fail.get(error.slice(0, 500), seq) as { attempts: number } | null;
    return r?.attempts ?? 0;
  }

  /** Keep the entry but stop retrying it; it is reported in status and never dropped. */
  quarantine(seq: number, reason: string): void {
    this.q.quarantine.run(this.c.now(), reason.slice(0, 500), seq);
  }

  quarantined(limit: number): { seq: number; messageId: string; lastError: string | null; at: number }[] {
    return (
      this.c.db
        .query(
          `SELECT seq, entry_id AS message_id, last_error, quarantined_at FROM outbox
           WHERE quarantined_at IS NOT NULL AND delivered_at IS NULL ORDER BY seq LIMIT ?`,
        )
        .all(limit) as Row[]
    ).map((r) => ({
      seq: r.seq as number,
      messageId: r.message_id as string,
      lastError: (r.last_error as string | null) ?? null,
      at: r.quarantined_at as number,
    }));
  }

  stats(): OutboxStats {
    const r = this.q.stats.get() as Row;
    return {
      pending: (r.pending as number | null) ?? 0,
      oldestPendingAt: (r.oldest as number | null) ?? null,
      quarantined: (r.quarantined as number | null) ?? 0,
      delivered: (r.delivered as number | null) ?? 0,
      lastSeq: (r.last_seq as number | null) ?? 0,
    };
  }
}

/**
 * sync-v1's stopReason (end_turn|max_tokens|tool_use|aborted|interrupted|error) of a stored reply:
 * a failed or cut turn says so; a finished one keeps the model's reason (a stop sequence is an
 * end of turn); other provider reasons are left out rather than sent outside the contract.
 */
export function syncStopReason(status: string | null, stored: string | null): string | undefined {
  if (status === "aborted" || status === "interrupted" || status === "error") return status;
  if (stored === "end_turn" || stored === "max_tokens" || stored === "tool_use") return stored;
  if (stored === "stop_sequence") return "end_turn";
  return undefined;
}
