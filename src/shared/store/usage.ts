/**
 * Usage: one row per AI server request (tokens, latency, outcome, billed user, end user), and
 * totals per provider/model — of every user, or of one billed user and/or one end user.
 *
 * Rows are written in batches (usage-writer.ts): `record` queues, every read here flushes first,
 * so this connection always reads every recorded row; another connection (the gateway's usage
 * panels) sees a row at most `USAGE_FLUSH_MS` after it was recorded.
 */
import { type Connection, prepare, type Row } from "./sql.ts";
import type { UsageGroup, UsageRecord, UsageRequest, UsageTotal } from "./types.ts";
import { type UsageProblemReporter, UsageWriter } from "./usage-writer.ts";

export class UsageLog {
  private readonly q;
  private readonly writer: UsageWriter;

  constructor(
    private readonly c: Connection,
    report: UsageProblemReporter,
  ) {
    this.q = prepare(c.db, {
      insert: `INSERT INTO usage (request_id, ts, provider, model, status, input_tokens, output_tokens, cache_read_tokens,
                                  cache_write_tokens, reasoning_tokens, estimated, latency_ms, ttft_ms, attempts, conversation_id, error_code,
                                  user_id, end_user)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      totals: `SELECT provider, model, COUNT(*) AS requests, SUM(input_tokens) AS input, SUM(output_tokens) AS output,
                      SUM(cache_read_tokens) AS cache_read, SUM(cache_write_tokens) AS cache_write,
                      SUM(reasoning_tokens) AS reasoning, SUM(estimated) AS estimated,
                      SUM(CASE WHEN status = 'ok' THEN 0 ELSE 1 END) AS failed
               FROM usage WHERE ts >= ?1 AND (?2 IS NULL OR user_id = ?2) AND (?3 IS NULL OR end_user = ?3)
               GROUP BY provider, model ORDER BY provider, model`,
      groups: `SELECT conversation_id AS conv, provider, model,
                      strftime('%Y-%m-%d', (ts + ?3) / 1000, 'unixepoch') AS day,
                      COUNT(*) AS requests, SUM(input_tokens) AS input, SUM(output_tokens) AS output,
                      SUM(cache_read_tokens) AS cache_read, SUM(cache_write_tokens) AS cache_write,
                      SUM(CASE WHEN status = 'ok' THEN 0 ELSE 1 END) AS failed, MIN(ts) AS first, MAX(ts) AS last
               FROM usage WHERE ts >= ?1 AND ts <= ?2
               GROUP BY conv, provider, model, day ORDER BY day, conv, provider, model LIMIT ?4`,
      ofConversation: `SELECT * FROM (
                 SELECT ts, provider, model, status, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens
                 FROM usage WHERE conversation_id IS ?1 ORDER BY ts DESC, id DESC LIMIT ?2) ORDER BY ts`,
    });
    this.writer = new UsageWriter(c.db, this.q.insert, report);
  }

  /** Queue one row (its time is taken now); written by the next flush. Throws once closed. */
  record(u: UsageRecord): void {
    this.writer.add([
      u.requestId,
      u.ts ?? this.c.now(),
      u.provider,
      u.model,
      u.status,
      u.usage.inputTokens,
      u.usage.outputTokens,
      u.usage.cacheReadTokens,
      u.usage.cacheWriteTokens,
      u.usage.reasoningTokens,
      u.usage.estimated ? 1 : 0,
      u.latencyMs ?? null,
      u.ttftMs ?? null,
      u.attempts ?? 1,
      u.conversationId ?? null,
      u.errorCode ?? null,
      u.userId ?? null,
      u.endUser ?? null,
    ]);
  }

  /** Write the queued rows now; false when that failed (they stay queued; the problem is reported). */
  flush(): boolean {
    return this.writer.flush();
  }

  /** Rows recorded but not yet written. */
  get pending(): number {
    return this.writer.pending;
  }

  /** Flush, then refuse further rows (Store.close). */
  close(): void {
    this.writer.close();
  }

  /**
   * Requests in [sinceMs, untilMs] grouped by conversation (the gateway's session id), provider,
   * model and day (`YYYY-MM-DD` of the time shifted by `offsetMs`, i.e. in the caller's zone).
   */
  groups(sinceMs: number, untilMs: number, offsetMs = 0, limit = 100_000): UsageGroup[] {
    this.writer.flush();
    return (this.q.groups.all(sinceMs, untilMs, offsetMs, limit) as Row[]).map((r) => ({
      conversationId: (r.conv as string | null) ?? null,
      provider: r.provider as string,
      model: r.model as string,
      day: r.day as string,
      requests: r.requests as number,
      failedRequests: (r.failed as number) ?? 0,
      inputTokens: (r.input as number) ?? 0,
      outputTokens: (r.output as number) ?? 0,
      cacheReadTokens: (r.cache_read as number) ?? 0,
      cacheWriteTokens: (r.cache_write as number) ?? 0,
      firstAt: r.first as number,
      lastAt: r.last as number,
    }));
  }

  /** The newest `limit` requests of one conversation (null: those without one), oldest first. */
  ofConversation(conversationId: string | null, limit: number): UsageRequest[] {
    this.writer.flush();
    return (this.q.ofConversation.all(conversationId, limit) as Row[]).map((r) => ({
      ts: r.ts as number,
      provider: r.provider as string,
      model: r.model as string,
      status: r.status as string,
      inputTokens: r.input_tokens as number,
      outputTokens: r.output_tokens as number,
      cacheReadTokens: r.cache_read_tokens as number,
      cacheWriteTokens: r.cache_write_tokens as number,
    }));
  }

  /**
   * Totals since `sinceMs`; with `userId`, only the requests billed to that user (`user_id`); with
   * `endUser`, only those the caller named that end user in (`end_user`).
   */
  totals(sinceMs: number, userId?: string, endUser?: string): UsageTotal[] {
    this.writer.flush();
    return (this.q.totals.all(sinceMs, userId ?? null, endUser ?? null) as Row[]).map((r) => ({
      provider: r.provider as string,
      model: r.model as string,
      requests: r.requests as number,
      inputTokens: (r.input as number) ?? 0,
      outputTokens: (r.output as number) ?? 0,
      cacheReadTokens: (r.cache_read as number) ?? 0,
      cacheWriteTokens: (r.cache_write as number) ?? 0,
      reasoningTokens: (r.reasoning as number) ?? 0,
      estimatedRequests: (r.estimated as number) ?? 0,
      failedRequests: (r.failed as number) ?? 0,
    }));
  }
}
