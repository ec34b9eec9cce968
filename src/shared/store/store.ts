/**
 * The store: one bun:sqlite database under DATA_DIR shared by the gateway (writes sessions,
 * messages, runs), the sync worker (reads and acks the outbox) and the AI server (usage).
 *
 * WAL mode lets readers and one writer proceed at once; a busy timeout absorbs brief writer
 * contention between processes; every write that must stay consistent is one IMMEDIATE
 * transaction (a message and its outbox entry are never apart).
 *
 * This file owns opening the database and the `Store` facade; each table's queries live in the
 * file named after it (sessions, messages, runs, outbox, usage), deleting a session across them in
 * session-deletion.ts, and the schema in migrations.ts.
 */
import { Database } from "bun:sqlite";
import { mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { Attachments } from "./attachments.ts";
import { Messages } from "./messages.ts";
import { migrate, schemaVersion } from "./migrations.ts";
import { Outbox } from "./outbox.ts";
import { type FinishRun, Runs } from "./runs.ts";
import { deleteSession, purgeDeletedSessions } from "./session-deletion.ts";
import { type SessionPatch, Sessions } from "./sessions.ts";
import type {
  NewAttachment,
  NewMessage,
  OutboxEntry,
  OutboxStats,
  Run,
  Session,
  StoredMessage,
  StoreOptions,
  UsageGroup,
  UsageRecord,
  UsageRequest,
  UsageTotal,
} from "./types.ts";
import { UsageLog } from "./usage.ts";
import { stderrReporter } from "./usage-writer.ts";

export const DB_FILE = "pipbot.db";

export function dbPath(dataDir: string): string {
  return join(dataDir, DB_FILE);
}

export class Store {
  readonly db: Database;
  readonly path: string;
  private readonly sessions: Sessions;
  private readonly messages: Messages;
  private readonly runs: Runs;
  private readonly outbox: Outbox;
  private readonly usage: UsageLog;
  private readonly attachments: Attachments;

  constructor(path: string, opts: StoreOptions = {}) {
    this.path = path;
    const now = opts.now ?? Date.now;
    if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true });
    this.db = new Database(path, opts.readonly ? { readonly: true } : { create: true, readwrite: true });
    this.db.exec(`PRAGMA busy_timeout = ${opts.busyTimeoutMs ?? 5000}`);
    if (!opts.readonly) {
      this.db.exec("PRAGMA journal_mode = WAL");
      this.db.exec("PRAGMA synchronous = NORMAL");
      this.db.exec("PRAGMA foreign_keys = ON");
      if (opts.migrate !== false) migrate(this.db);
    }
    const c = { db: this.db, now };
    this.sessions = new Sessions(c);
    this.messages = new Messages(c);
    this.runs = new Runs(c, this.messages);
    this.outbox = new Outbox(c);
    this.usage = new UsageLog(c, opts.onUsageProblem ?? stderrReporter);
    this.attachments = new Attachments(c, this.outbox);
  }

  get schemaVersion(): number {
    return schemaVersion(this.db);
  }

  /** Writes the queued usage rows (a failure is reported), then closes the database. */
  close(): void {
    this.usage.close();
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

  // ---- sessions (sessions.ts) ---------------------------------------------------------------

  findSession(key: string): Session | null {
    return this.sessions.find(key);
  }

  getOrCreateSession(key: string, init: { label?: string; model?: string } = {}): Session {
    return this.sessions.getOrCreate(key, init);
  }

  findSessionById(id: string): Session | null {
    return this.sessions.byId(id);
  }

  /** The live session carrying this label, if any. */
  findSessionByLabel(label: string): Session | null {
    return this.sessions.byLabel(label);
  }

  /** Set or clear (null) a session's label and model; creates the session if needed. */
  patchSession(key: string, patch: SessionPatch): Session {
    return this.sessions.patch(key, patch);
  }

  /** A new empty transcript under the same key; the old one is kept (and still synced). */
  resetSession(key: string): { previous: Session | null; current: Session } {
    return this.sessions.reset(key);
  }

  listSessions(limit = 100): Session[] {
    return this.sessions.listRecent(limit);
  }

  /**
   * Delete a session: its live row is retired as deleted (messages hidden, kept for the entries
   * still to sync) and a `session_tombstone` entry is queued, in one transaction.
   */
  deleteSession(key: string): Session | null {
    return deleteSession(this.db, this.sessions, this.outbox, key);
  }

  /**
   * Remove what is left of deleted sessions once sync no longer needs it (session-deletion.ts).
   * Returns the purged session ids.
   */
  purgeDeletedSessions(): string[] {
    return purgeDeletedSessions(this.db);
  }

  // ---- messages, each with its outbox entry (messages.ts) -----------------------------------

  /** Store a message and its outbox entry atomically. */
  appendMessage(m: NewMessage): StoredMessage {
    return this.messages.append(m);
  }

  /** The newest `limit` messages of a session, returned oldest → newest. */
  listMessages(sessionId: string, limit = 200): StoredMessage[] {
    return this.messages.list(sessionId, limit);
  }

  getMessage(id: string): StoredMessage | null {
    return this.messages.get(id);
  }

  // ---- runs (runs.ts) -----------------------------------------------------------------------

  /**
   * Start a run: stores the user message (+ outbox), its attachments (+ their chunks' outbox
   * entries) and the run row in one transaction: nothing is stored half.
   */
  startRun(input: {
    runId: string;
    sessionId: string;
    userText: string;
    model?: string;
    attachments?: NewAttachment[];
  }): {
    run: Run;
    userMessage: StoredMessage;
  } {
    const { attachments, ...rest } = input;
    if (!attachments || attachments.length === 0) return this.runs.start(rest);
    return this.db
      .transaction(() => {
        const started = this.runs.start({ ...rest, attachments: attachments.map((a) => a.ref) });
        this.attachments.insert(started.userMessage, attachments);
        return started;
      })
      .immediate();
  }

  /** The bytes of one attachment, or null. */
  attachmentData(attachmentId: string): Uint8Array | null {
    return this.attachments.data(attachmentId);
  }

  attachmentCount(): number {
    return this.attachments.count();
  }

  /** Run a failed turn again (same idempotency key); null unless it ended error / interrupted. */
  retryRun(runId: string): { run: Run; userMessage: StoredMessage } | null {
    return this.runs.retry(runId);
  }

  getRun(runId: string): Run | null {
    return this.runs.get(runId);
  }

  /** Checkpoint the text streamed so far, so a crash can close the run with it. */
  saveRunPartial(runId: string, text: string): void {
    this.runs.savePartial(runId, text);
  }

  /**
   * End a running run: the assistant message (+ outbox) and the run's terminal state in one
   * transaction. Returns null if the run was not running (already ended: nothing is written).
   */
  finishRun(runId: string, end: FinishRun): { run: Run; assistantMessage: StoredMessage } | null {
    return this.runs.end(runId, end);
  }

  /**
   * Close every run left `running` by a crash or restart: each becomes `interrupted`, and the text
   * checkpointed so far is stored as its assistant message. Call once at gateway startup.
   */
  closeInterruptedRuns(): Run[] {
    return this.runs.closeInterrupted();
  }

  // ---- outbox, for the sync worker (outbox.ts) ----------------------------------------------

  /**
   * Pending entries in seq order, at most `maxEntries` and `maxBytes` (the first entry is always
   * returned even if larger, so an oversized entry can be tried alone and quarantined).
   */
  pendingOutbox(maxEntries = 200, maxBytes = 1024 * 1024, afterSeq = 0): OutboxEntry[] {
    return this.outbox.pending(maxEntries, maxBytes, afterSeq);
  }

  /** Mark entries delivered (after a 2xx). Idempotent. */
  markDelivered(seqs: number[]): void {
    this.outbox.markDelivered(seqs);
  }

  /** Count a failed delivery attempt of one entry; returns its attempt count. */
  recordOutboxFailure(seq: number, error: string): number {
    return this.outbox.recordFailure(seq, error);
  }

  /** Keep the entry but stop retrying it; it is reported in status and never dropped. */
  quarantine(seq: number, reason: string): void {
    this.outbox.quarantine(seq, reason);
  }

  quarantinedEntries(
    limit = 100,
  ): { seq: number; messageId: string; lastError: string | null; at: number }[] {
    return this.outbox.quarantined(limit);
  }

  outboxStats(): OutboxStats {
    return this.outbox.stats();
  }

  /** Changes whenever ANOTHER connection commits: a cheap way to notice new outbox rows. */
  dataVersion(): number {
    return (this.db.query("PRAGMA data_version").get() as { data_version: number }).data_version;
  }

  // ---- usage, for the AI server (usage.ts) --------------------------------------------------

  /** Queue a usage row: written within USAGE_FLUSH_MS, or by the next usage read / flush / close. */
  recordUsage(u: UsageRecord): void {
    this.usage.record(u);
  }

  /** Write the queued usage rows now (shutdown, tests); false when that failed (rows kept, reported). */
  flushUsage(): boolean {
    return this.usage.flush();
  }

  usageTotals(sinceMs = 0, userId?: string, endUser?: string): UsageTotal[] {
    return this.usage.totals(sinceMs, userId, endUser);
  }

  /** Usage per session, provider, model and day, for the gateway's usage panels. */
  usageGroups(sinceMs: number, untilMs: number, offsetMs = 0): UsageGroup[] {
    return this.usage.groups(sinceMs, untilMs, offsetMs);
  }

  /** The newest `limit` usage rows of one session id (null: requests without a session). */
  usageOfConversation(conversationId: string | null, limit = 200): UsageRequest[] {
    return this.usage.ofConversation(conversationId, limit);
  }
}

export function openStore(dataDir: string, opts: StoreOptions = {}): Store {
  return new Store(dbPath(dataDir), opts);
}
