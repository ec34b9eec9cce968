/**
 * Versioned schema migrations, applied in order at startup inside one IMMEDIATE transaction each.
 * `PRAGMA user_version` records the last applied version. Never edit a released migration: append.
 */
import type { Database } from "bun:sqlite";

export const MIGRATIONS: { version: number; name: string; sql: string }[] = [
  {
    version: 1,
    name: "sessions, messages, outbox, runs, usage",
    sql: `
      CREATE TABLE sessions (
        id          TEXT PRIMARY KEY,
        key         TEXT NOT NULL UNIQUE,
        created_at  INTEGER NOT NULL,
        updated_at  INTEGER NOT NULL
      );

      CREATE TABLE messages (
        id           TEXT PRIMARY KEY,
        session_id   TEXT NOT NULL REFERENCES sessions(id),
        run_id       TEXT,
        role         TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
        content      TEXT NOT NULL,
        created_at   INTEGER NOT NULL,
        model        TEXT,
        usage        TEXT,
        stop_reason  TEXT,
        status       TEXT
      );
      CREATE INDEX messages_by_session ON messages(session_id, created_at);

      CREATE TABLE outbox (
        seq             INTEGER PRIMARY KEY AUTOINCREMENT,
        message_id      TEXT NOT NULL UNIQUE REFERENCES messages(id),
        created_at      INTEGER NOT NULL,
        delivered_at    INTEGER,
        attempts        INTEGER NOT NULL DEFAULT 0,
        last_error      TEXT,
        quarantined_at  INTEGER
      );
      CREATE INDEX outbox_pending ON outbox(seq) WHERE delivered_at IS NULL AND quarantined_at IS NULL;

      CREATE TABLE runs (
        run_id                TEXT PRIMARY KEY,
        session_id            TEXT NOT NULL REFERENCES sessions(id),
        state                 TEXT NOT NULL CHECK (state IN ('running', 'final', 'aborted', 'error', 'interrupted')),
        started_at            INTEGER NOT NULL,
        ended_at              INTEGER,
        user_message_id       TEXT,
        assistant_message_id  TEXT,
        partial_text          TEXT NOT NULL DEFAULT '',
        model                 TEXT,
        error_message         TEXT,
        error_kind            TEXT,
        stop_reason           TEXT
      );
      CREATE INDEX runs_running ON runs(state) WHERE state = 'running';

      CREATE TABLE usage (
        id                  INTEGER PRIMARY KEY AUTOINCREMENT,
        request_id          TEXT NOT NULL,
        ts                  INTEGER NOT NULL,
        provider            TEXT NOT NULL,
        model               TEXT NOT NULL,
        status              TEXT NOT NULL,
        input_tokens        INTEGER NOT NULL DEFAULT 0,
        output_tokens       INTEGER NOT NULL DEFAULT 0,
        cache_read_tokens   INTEGER NOT NULL DEFAULT 0,
        cache_write_tokens  INTEGER NOT NULL DEFAULT 0,
        reasoning_tokens    INTEGER NOT NULL DEFAULT 0,
        estimated           INTEGER NOT NULL DEFAULT 0,
        latency_ms          INTEGER,
        ttft_ms             INTEGER,
        attempts            INTEGER NOT NULL DEFAULT 1,
        conversation_id     TEXT,
        error_code          TEXT
      );
      CREATE INDEX usage_by_ts ON usage(ts);
    `,
  },
  {
    version: 2,
    name: "usage.user_id: whom a request was billed to (separate deployment: the calling VM's user)",
    sql: `
      ALTER TABLE usage ADD COLUMN user_id TEXT;
      CREATE INDEX usage_by_user ON usage(user_id, ts);
    `,
  },
  {
    version: 3,
    name: "sessions label/model/reset/delete; outbox entry kinds (tombstones, attachment chunks); attachments",
    sql: `
      ALTER TABLE sessions ADD COLUMN label TEXT;
      ALTER TABLE sessions ADD COLUMN model TEXT;
      ALTER TABLE sessions ADD COLUMN base_key TEXT;
      ALTER TABLE sessions ADD COLUMN retired_at INTEGER;
      ALTER TABLE sessions ADD COLUMN deleted_at INTEGER;

      -- The outbox carries more than messages (sync-v1 entry kinds): a session tombstone or an
      -- attachment chunk has no message row; its entry is built from 'body' (JSON) at push time.
      CREATE TABLE outbox_v3 (
        seq             INTEGER PRIMARY KEY AUTOINCREMENT,
        kind            TEXT NOT NULL DEFAULT 'message'
                        CHECK (kind IN ('message', 'session_tombstone', 'attachment_chunk')),
        entry_id        TEXT NOT NULL UNIQUE,
        message_id      TEXT UNIQUE REFERENCES messages(id),
        body            TEXT,
        created_at      INTEGER NOT NULL,
        delivered_at    INTEGER,
        attempts        INTEGER NOT NULL DEFAULT 0,
        last_error      TEXT,
        quarantined_at  INTEGER,
        CHECK ((kind = 'message') = (message_id IS NOT NULL))
      );
      INSERT INTO outbox_v3 (seq, kind, entry_id, message_id, created_at, delivered_at, attempts, last_error, quarantined_at)
        SELECT seq, 'message', message_id, message_id, created_at, delivered_at, attempts, last_error, quarantined_at FROM outbox;
      DROP TABLE outbox;
      ALTER TABLE outbox_v3 RENAME TO outbox;
      CREATE INDEX outbox_pending ON outbox(seq) WHERE delivered_at IS NULL AND quarantined_at IS NULL;

      -- Attachment bytes live with their message; sync ships them as attachment_chunk entries.
      CREATE TABLE attachments (
        id          TEXT PRIMARY KEY,
        message_id  TEXT NOT NULL REFERENCES messages(id),
        session_id  TEXT NOT NULL,
        idx         INTEGER NOT NULL,
        mime_type   TEXT NOT NULL,
        file_name   TEXT,
        size        INTEGER NOT NULL,
        sha256      TEXT NOT NULL,
        data        BLOB NOT NULL,
        created_at  INTEGER NOT NULL
      );
      CREATE INDEX attachments_by_message ON attachments(message_id, idx);
    `,
  },
  {
    version: 4,
    name: "messages.error (why a turn ended aborted / interrupted / error, {code, message} JSON); runs.attempts (retries of a failed turn)",
    sql: `
      ALTER TABLE messages ADD COLUMN error TEXT;
      ALTER TABLE runs ADD COLUMN attempts INTEGER NOT NULL DEFAULT 1;
      -- Earlier versions stored the abort cause (rpc, stop) or nothing as an ended turn's stop reason.
      UPDATE messages SET stop_reason = status
        WHERE role = 'assistant' AND status IN ('aborted', 'error', 'interrupted');
    `,
  },
  {
    version: 5,
    name: "usage.end_user: the end user the caller named (OpenAI `user`, /chat `user`, Anthropic `metadata.user_id`)",
    sql: `
      ALTER TABLE usage ADD COLUMN end_user TEXT;
      CREATE INDEX usage_by_end_user ON usage(end_user, ts) WHERE end_user IS NOT NULL;
    `,
  },
  {
    version: 6,
    name: "usage: rowid ids (no AUTOINCREMENT) and only the ts index, so a request's row is one table page and one index page",
    // Each usage insert (one per AI server request) wrote four pages: the row, sqlite_sequence
    // (AUTOINCREMENT) and the usage_by_user and usage_by_ts indexes. No query uses usage_by_user or
    // usage_by_end_user (every usage query ranges over ts: EXPLAIN QUERY PLAN shows usage_by_ts), and
    // rows are never deleted, so plain rowids keep the same increasing ids. Rows keep their ids.
    sql: `
      CREATE TABLE usage_v6 (
        id                  INTEGER PRIMARY KEY,
        request_id          TEXT NOT NULL,
        ts                  INTEGER NOT NULL,
        provider            TEXT NOT NULL,
        model               TEXT NOT NULL,
        status              TEXT NOT NULL,
        input_tokens        INTEGER NOT NULL DEFAULT 0,
        output_tokens       INTEGER NOT NULL DEFAULT 0,
        cache_read_tokens   INTEGER NOT NULL DEFAULT 0,
        cache_write_tokens  INTEGER NOT NULL DEFAULT 0,
        reasoning_tokens    INTEGER NOT NULL DEFAULT 0,
        estimated           INTEGER NOT NULL DEFAULT 0,
        latency_ms          INTEGER,
        ttft_ms             INTEGER,
        attempts            INTEGER NOT NULL DEFAULT 1,
        conversation_id     TEXT,
        error_code          TEXT,
        user_id             TEXT,
        end_user            TEXT
      );
      INSERT INTO usage_v6 (id, request_id, ts, provider, model, status, input_tokens, output_tokens,
                            cache_read_tokens, cache_write_tokens, reasoning_tokens, estimated, latency_ms,
                            ttft_ms, attempts, conversation_id, error_code, user_id, end_user)
        SELECT id, request_id, ts, provider, model, status, input_tokens, output_tokens,
               cache_read_tokens, cache_write_tokens, reasoning_tokens, estimated, latency_ms,
               ttft_ms, attempts, conversation_id, error_code, user_id, end_user FROM usage;
      DROP TABLE usage;
      ALTER TABLE usage_v6 RENAME TO usage;
      CREATE INDEX usage_by_ts ON usage(ts);
      DELETE FROM sqlite_sequence WHERE name = 'usage';
    `,
  },
];

const userVersion = (db: Database): number =>
  (db.query("PRAGMA user_version").get() as { user_version: number }).user_version;

/** The last applied migration's version (`PRAGMA user_version`). */
export function schemaVersion(db: Database): number {
  return userVersion(db);
}

/** Apply every migration newer than the database, each in its own IMMEDIATE transaction. */
export function migrate(db: Database): void {
  const current = userVersion(db);
  for (const m of MIGRATIONS) {
    if (m.version <= current) continue;
    db.transaction(() => {
      // Re-check inside the lock: another process may have migrated meanwhile.
      const v = userVersion(db);
      if (v >= m.version) return;
      db.exec(m.sql);
      db.exec(`PRAGMA user_version = ${m.version}`);
    }).immediate();
  }
}
