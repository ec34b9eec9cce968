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
    name: "messages.error (why a turn ended aborted / interrupted / error, {code, message} JSON); runs.attempts (retries of a failed turn)",
    sql: `
      ALTER TABLE messages ADD COLUMN error TEXT;
      ALTER TABLE runs ADD COLUMN attempts INTEGER NOT NULL DEFAULT 1;
      -- Earlier versions stored the abort cause (rpc, stop) or nothing as an ended turn's stop reason.
      UPDATE messages SET stop_reason = status
        WHERE role = 'assistant' AND status IN ('aborted', 'error', 'interrupted');
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
