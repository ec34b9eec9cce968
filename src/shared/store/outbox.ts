/**
 * The outbox as the sync worker sees it: pending entries in seq order within batch limits, and
 * their delivery, failure and quarantine bookkeeping. Entries are written with their message.
 */
import { type Connection, prepare, type Row, toContent, toError, toUsage } from "./sql.ts";
import type { OutboxEntry, OutboxStats } from "./types.ts";

export class Outbox {
  private readonly q;

  constructor(private readonly c: Connection) {
    this.q = prepare(c.db, {
      pending: `SELECT o.seq, o.attempts, m.*, s.key AS session_key
                FROM outbox o JOIN messages m ON m.id = o.message_id JOIN sessions s ON s.id = m.session_id
                WHERE o.delivered_at IS NULL AND o.quarantined_at IS NULL AND o.seq > ?
                ORDER BY o.seq LIMIT ?`,
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
      const entry: OutboxEntry = {
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
      if (r.stop_reason) entry.stopReason = r.stop_reason as string;
      const error = toError(r.error);
      if (error) entry.error = error;
      // Exact size of the entry as sync-v1 serializes it (without our bookkeeping fields), + a comma.
      const { attempts: _a, bytes: _b, ...wire } = entry;
      entry.bytes = Buffer.byteLength(JSON.stringify(wire)) + 1;
      if (out.length > 0 && bytes + entry.bytes > maxBytes) break;
      bytes += entry.bytes;
      out.push(entry);
    }
    return out;
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
          `SELECT seq, message_id, last_error, quarantined_at FROM outbox
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
