/**
 * The store: one bun:sqlite database under DATA_DIR shared by the gateway (writes sessions,
 * messages, runs), the sync worker (reads and acks the outbox) and the AI server (usage).
 *
 * WAL mode lets readers and one writer proceed at once; a busy timeout absorbs brief writer
 * contention between processes; every write that must stay consistent is one IMMEDIATE
 * transaction (a message and its outbox entry are never apart).
 */
import { Database, type Statement } from "bun:sqlite";
import { mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { MIGRATIONS } from "./migrations.ts";
import type {
  NewMessage,
  OutboxEntry,
  OutboxStats,
  Run,
  RunState,
  Session,
  StoredMessage,
  TextBlock,
  Usage,
  UsageRecord,
  UsageTotal,
} from "./types.ts";

export const DB_FILE = "pipbot.db";

export interface StoreOptions {
  /** Milliseconds a statement waits for another process's write lock. */
  busyTimeoutMs?: number;
  readonly?: boolean;
  /** Run migrations (default true). Readers in other processes may skip. */
  migrate?: boolean;
  now?: () => number;
}

export function dbPath(dataDir: string): string {
  return join(dataDir, DB_FILE);
}

/** `main`, `agent:main:main` and `agent:<default>:main` are one session. */
export function canonicalSessionKey(key: string, defaultAgent = "main"): string {
  const k = key.trim();
  if (k === "" || k === "main" || k === `agent:${defaultAgent}:main` || k === "agent:main:main") {
    return `agent:${defaultAgent}:main`;
  }
  return k;
}

type Row = Record<string, unknown>;

const toUsage = (raw: unknown): Usage | null => (typeof raw === "string" ? (JSON.parse(raw) as Usage) : null);

function messageFromRow(r: Row): StoredMessage {
  return {
    id: r.id as string,
    sessionId: r.session_id as string,
    runId: (r.run_id as string | null) ?? null,
    role: r.role as "user" | "assistant",
    content: JSON.parse(r.content as string) as TextBlock[],
    createdAt: r.created_at as number,
    model: (r.model as string | null) ?? null,
    usage: toUsage(r.usage),
    stopReason: (r.stop_reason as string | null) ?? null,
    status: (r.status as StoredMessage["status"]) ?? null,
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
  };
}

export interface FinishRun {
  state: Exclude<RunState, "running">;
  /** Assistant message to store with the run's end (absent: nothing to store, e.g. empty error). */
  text?: string;
  model?: string;
  usage?: Usage;
  stopReason?: string;
  errorMessage?: string;
  errorKind?: string;
}

export class Store {
  readonly db: Database;
  readonly path: string;
  private readonly now: () => number;
  private readonly stmts: Record<string, Statement>;

  constructor(path: string, opts: StoreOptions = {}) {
    this.path = path;
    this.now = opts.now ?? Date.now;
    if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true });
    this.db = new Database(path, opts.readonly ? { readonly: true } : { create: true, readwrite: true });
    this.db.exec(`PRAGMA busy_timeout = ${opts.busyTimeoutMs ?? 5000}`);
    if (!opts.readonly) {
      this.db.exec("PRAGMA journal_mode = WAL");
      this.db.exec("PRAGMA synchronous = NORMAL");
      this.db.exec("PRAGMA foreign_keys = ON");
      if (opts.migrate !== false) this.migrate();
    }
    const q = (sql: string) => this.db.query(sql);
    this.stmts = {
      sessionByKey: q("SELECT * FROM sessions WHERE key = ?"),
      sessionById: q("SELECT * FROM sessions WHERE id = ?"),
      insertSession: q("INSERT INTO sessions (id, key, created_at, updated_at) VALUES (?, ?, ?, ?)"),
      touchSession: q("UPDATE sessions SET updated_at = ? WHERE id = ?"),
      listSessions: q("SELECT * FROM sessions ORDER BY updated_at DESC LIMIT ?"),
      insertMessage: q(
        `INSERT INTO messages (id, session_id, run_id, role, content, created_at, model, usage, stop_reason, status)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      insertOutbox: q("INSERT INTO outbox (message_id, created_at) VALUES (?, ?)"),
      lastMessages: q(
        `SELECT * FROM (SELECT rowid AS rid, * FROM messages WHERE session_id = ? ORDER BY created_at DESC, rowid DESC LIMIT ?)
         ORDER BY created_at ASC, rid ASC`,
      ),
      messageById: q("SELECT * FROM messages WHERE id = ?"),
      insertRun: q(
        `INSERT INTO runs (run_id, session_id, state, started_at, user_message_id, model)
         VALUES (?, ?, 'running', ?, ?, ?)`,
      ),
      runById: q("SELECT * FROM runs WHERE run_id = ?"),
      runPartial: q("UPDATE runs SET partial_text = ? WHERE run_id = ? AND state = 'running'"),
      finishRun: q(
        `UPDATE runs SET state = ?, ended_at = ?, assistant_message_id = ?, partial_text = ?, model = COALESCE(?, model),
                         error_message = ?, error_kind = ?, stop_reason = ?
         WHERE run_id = ? AND state = 'running'`,
      ),
      runningRuns: q("SELECT * FROM runs WHERE state = 'running' ORDER BY started_at"),
      pending: q(
        `SELECT o.seq, o.attempts, m.*, s.key AS session_key
         FROM outbox o JOIN messages m ON m.id = o.message_id JOIN sessions s ON s.id = m.session_id
         WHERE o.delivered_at IS NULL AND o.quarantined_at IS NULL AND o.seq > ?
         ORDER BY o.seq LIMIT ?`,
      ),
      deliver: q("UPDATE outbox SET delivered_at = ? WHERE seq = ? AND delivered_at IS NULL"),
      fail: q("UPDATE outbox SET attempts = attempts + 1, last_error = ? WHERE seq = ? RETURNING attempts"),
      quarantine: q(
        "UPDATE outbox SET quarantined_at = ?, last_error = ? WHERE seq = ? AND delivered_at IS NULL",
      ),
      stats: q(
        `SELECT
           SUM(CASE WHEN delivered_at IS NULL AND quarantined_at IS NULL THEN 1 ELSE 0 END) AS pending,
           MIN(CASE WHEN delivered_at IS NULL AND quarantined_at IS NULL THEN created_at END) AS oldest,
           SUM(CASE WHEN quarantined_at IS NOT NULL AND delivered_at IS NULL THEN 1 ELSE 0 END) AS quarantined,
           SUM(CASE WHEN delivered_at IS NOT NULL THEN 1 ELSE 0 END) AS delivered,
           MAX(seq) AS last_seq
         FROM outbox`,
      ),
      insertUsage: q(
        `INSERT INTO usage (request_id, ts, provider, model, status, input_tokens, output_tokens, cache_read_tokens,
                            cache_write_tokens, reasoning_tokens, estimated, latency_ms, ttft_ms, attempts, conversation_id, error_code)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      usageTotals: q(
        `SELECT provider, model, COUNT(*) AS requests, SUM(input_tokens) AS input, SUM(output_tokens) AS output,
                SUM(cache_read_tokens) AS cache_read, SUM(cache_write_tokens) AS cache_write,
                SUM(reasoning_tokens) AS reasoning, SUM(estimated) AS estimated,
                SUM(CASE WHEN status = 'ok' THEN 0 ELSE 1 END) AS failed
         FROM usage WHERE ts >= ? GROUP BY provider, model ORDER BY provider, model`,
      ),
    };
  }

  private migrate(): void {
    const current = (this.db.query("PRAGMA user_version").get() as { user_version: number }).user_version;
    for (const m of MIGRATIONS) {
      if (m.version <= current) continue;
      this.db
        .transaction(() => {
          // Re-check inside the lock: another process may have migrated meanwhile.
          const v = (this.db.query("PRAGMA user_version").get() as { user_version: number }).user_version;
          if (v >= m.version) return;
          this.db.exec(m.sql);
          this.db.exec(`PRAGMA user_version = ${m.version}`);
        })
        .immediate();
    }
  }

  get schemaVersion(): number {
    return (this.db.query("PRAGMA user_version").get() as { user_version: number }).user_version;
  }

  close(): void {
    this.db.close();
  }

  /** True when the database answers a trivial query (readiness). */
  ping(): boolean {
    try {
      this.db.query("SELECT 1").get();
      return true;
    } catch {
      return false;
    }
  }

  // ---- sessions -------------------------------------------------------------------------------

  findSession(key: string): Session | null {
    const r = this.stmts.sessionByKey!.get(canonicalSessionKey(key)) as Row | null;
    return r ? this.sessionFromRow(r) : null;
  }

  getOrCreateSession(key: string): Session {
    const canonical = canonicalSessionKey(key);
    return this.db
      .transaction(() => {
        const existing = this.stmts.sessionByKey!.get(canonical) as Row | null;
        if (existing) return this.sessionFromRow(existing);
        const t = this.now();
        const id = crypto.randomUUID();
        this.stmts.insertSession!.run(id, canonical, t, t);
        return { id, key: canonical, createdAt: t, updatedAt: t };
      })
      .immediate();
  }

  listSessions(limit = 100): Session[] {
    return (this.stmts.listSessions!.all(limit) as Row[]).map((r) => this.sessionFromRow(r));
  }

  private sessionFromRow(r: Row): Session {
    return {
      id: r.id as string,
      key: r.key as string,
      createdAt: r.created_at as number,
      updatedAt: r.updated_at as number,
    };
  }

  // ---- messages (each with its outbox entry, in one transaction) -------------------------------

  private insertMessageRows(m: NewMessage): StoredMessage {
    const msg: StoredMessage = {
      id: m.id ?? crypto.randomUUID(),
      sessionId: m.sessionId,
      runId: m.runId ?? null,
      role: m.role,
      content: m.content,
      createdAt: m.createdAt ?? this.now(),
      model: m.model ?? null,
      usage: m.usage ?? null,
      stopReason: m.stopReason ?? null,
      status: m.status ?? null,
    };
    this.stmts.insertMessage!.run(
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
    );
    this.stmts.insertOutbox!.run(msg.id, msg.createdAt);
    this.stmts.touchSession!.run(msg.createdAt, msg.sessionId);
    return msg;
  }

  /** Store a message and its outbox entry atomically. */
  appendMessage(m: NewMessage): StoredMessage {
    return this.db.transaction(() => this.insertMessageRows(m)).immediate();
  }

  /** The newest `limit` messages of a session, returned oldest → newest. */
  listMessages(sessionId: string, limit = 200): StoredMessage[] {
    return (this.stmts.lastMessages!.all(sessionId, limit) as Row[]).map(messageFromRow);
  }

  getMessage(id: string): StoredMessage | null {
    const r = this.stmts.messageById!.get(id) as Row | null;
    return r ? messageFromRow(r) : null;
  }

  // ---- runs ---------------------------------------------------------------------------------

  /** Start a run: stores the user message (+ outbox) and the run row in one transaction. */
  startRun(input: { runId: string; sessionId: string; userText: string; model?: string }): {
    run: Run;
    userMessage: StoredMessage;
  } {
    return this.db
      .transaction(() => {
        const userMessage = this.insertMessageRows({
          sessionId: input.sessionId,
          role: "user",
          content: [{ type: "text", text: input.userText }],
          runId: input.runId,
        });
        this.stmts.insertRun!.run(
          input.runId,
          input.sessionId,
          userMessage.createdAt,
          userMessage.id,
          input.model ?? null,
        );
        const run = runFromRow(this.stmts.runById!.get(input.runId) as Row);
        return { run, userMessage };
      })
      .immediate();
  }

  getRun(runId: string): Run | null {
    const r = this.stmts.runById!.get(runId) as Row | null;
    return r ? runFromRow(r) : null;
  }

  /** Checkpoint the text streamed so far, so a crash can close the run with it. */
  saveRunPartial(runId: string, text: string): void {
    this.stmts.runPartial!.run(text, runId);
  }

  /**
   * End a running run: the assistant message (+ outbox) and the run's terminal state in one
   * transaction. Returns null if the run was not running (already ended: nothing is written).
   */
  finishRun(runId: string, end: FinishRun): { run: Run; assistantMessage: StoredMessage | null } | null {
    return this.db
      .transaction(() => {
        const current = this.stmts.runById!.get(runId) as Row | null;
        if (current?.state !== "running") return null;
        const sessionId = current.session_id as string;
        let assistantMessage: StoredMessage | null = null;
        if (end.text !== undefined && end.text !== "") {
          assistantMessage = this.insertMessageRows({
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
        this.stmts.finishRun!.run(
          end.state,
          this.now(),
          assistantMessage?.id ?? null,
          end.text ?? (current.partial_text as string),
          end.model ?? null,
          end.errorMessage ?? null,
          end.errorKind ?? null,
          end.stopReason ?? null,
          runId,
        );
        return { run: runFromRow(this.stmts.runById!.get(runId) as Row), assistantMessage };
      })
      .immediate();
  }

  /**
   * Close every run left `running` by a crash or restart: each becomes `interrupted`, and the text
   * checkpointed so far is stored as its assistant message. Call once at gateway startup.
   */
  closeInterruptedRuns(): Run[] {
    const running = (this.stmts.runningRuns!.all() as Row[]).map(runFromRow);
    const closed: Run[] = [];
    for (const r of running) {
      const res = this.finishRun(r.runId, {
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

  // ---- outbox (sync worker) -----------------------------------------------------------------

  /**
   * Pending entries in seq order, at most `maxEntries` and `maxBytes` (the first entry is always
   * returned even if larger, so an oversized entry can be tried alone and quarantined).
   */
  pendingOutbox(maxEntries = 200, maxBytes = 1024 * 1024, afterSeq = 0): OutboxEntry[] {
    const rows = this.stmts.pending!.all(afterSeq, maxEntries) as Row[];
    const out: OutboxEntry[] = [];
    let bytes = 0;
    for (const r of rows) {
      const entry: OutboxEntry = {
        seq: r.seq as number,
        id: r.id as string,
        sessionKey: r.session_key as string,
        sessionId: r.session_id as string,
        role: r.role as "user" | "assistant",
        content: JSON.parse(r.content as string) as TextBlock[],
        createdAt: r.created_at as number,
        attempts: r.attempts as number,
        bytes: 0,
      };
      if (r.model) entry.model = r.model as string;
      const usage = toUsage(r.usage);
      if (usage) entry.usage = usage;
      if (r.stop_reason) entry.stopReason = r.stop_reason as string;
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
    const t = this.now();
    this.db
      .transaction(() => {
        for (const s of seqs) this.stmts.deliver!.run(t, s);
      })
      .immediate();
  }

  /** Count a failed delivery attempt of one entry; returns its attempt count. */
  recordOutboxFailure(seq: number, error: string): number {
    const r = this.stmts.fail!.get(error.slice(0, 500), seq) as { attempts: number } | null;
    return r?.attempts ?? 0;
  }

  /** Keep the entry but stop retrying it; it is reported in status and never dropped. */
  quarantine(seq: number, reason: string): void {
    this.stmts.quarantine!.run(this.now(), reason.slice(0, 500), seq);
  }

  quarantinedEntries(
    limit = 100,
  ): { seq: number; messageId: string; lastError: string | null; at: number }[] {
    return (
      this.db
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

  outboxStats(): OutboxStats {
    const r = this.stmts.stats!.get() as Row;
    return {
      pending: (r.pending as number | null) ?? 0,
      oldestPendingAt: (r.oldest as number | null) ?? null,
      quarantined: (r.quarantined as number | null) ?? 0,
      delivered: (r.delivered as number | null) ?? 0,
      lastSeq: (r.last_seq as number | null) ?? 0,
    };
  }

  /** Changes whenever ANOTHER connection commits: a cheap way to notice new outbox rows. */
  dataVersion(): number {
    return (this.db.query("PRAGMA data_version").get() as { data_version: number }).data_version;
  }

  // ---- usage (AI server) --------------------------------------------------------------------

  recordUsage(u: UsageRecord): void {
    this.stmts.insertUsage!.run(
      u.requestId,
      u.ts ?? this.now(),
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
    );
  }

  usageTotals(sinceMs = 0): UsageTotal[] {
    return (this.stmts.usageTotals!.all(sinceMs) as Row[]).map((r) => ({
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

export function openStore(dataDir: string, opts: StoreOptions = {}): Store {
  return new Store(dbPath(dataDir), opts);
}
