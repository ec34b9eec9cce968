/**
 * Deleting a session across the tables: the live row retired with its tombstone queued for sync
 * (one transaction), and the purge of what a deleted session leaves once sync no longer needs it.
 */
import type { Database } from "bun:sqlite";
import type { Outbox } from "./outbox.ts";
import type { Sessions } from "./sessions.ts";
import type { Session } from "./types.ts";

/**
 * Delete a session: its live row is retired as deleted (messages hidden, kept for the entries
 * still to sync) and a `session_tombstone` entry is queued, in one transaction.
 */
export function deleteSession(db: Database, sessions: Sessions, outbox: Outbox, key: string): Session | null {
  return db
    .transaction(() => {
      const s = sessions.retireDeleted(key);
      if (!s) return null;
      outbox.insertOther("session_tombstone", `tombstone:${s.id}`, {
        sessionKey: s.key,
        sessionId: s.id,
        deletedAt: s.deletedAt,
      });
      return s;
    })
    .immediate();
}

/**
 * Remove what is left of deleted sessions once sync no longer needs it: a deleted session
 * without any undelivered outbox entry (messages, attachment chunks, its tombstone) loses its
 * messages, attachments, runs and their delivered outbox rows; the session row stays as the
 * local record of the deletion. Returns the purged session ids.
 */
export function purgeDeletedSessions(db: Database): string[] {
  return db
    .transaction(() => {
      const ids = (
        db
          .query(
            `SELECT s.id FROM sessions s WHERE s.deleted_at IS NOT NULL
               AND EXISTS (SELECT 1 FROM messages m WHERE m.session_id = s.id
                           UNION ALL SELECT 1 FROM attachments a WHERE a.session_id = s.id)
               AND NOT EXISTS (
                 SELECT 1 FROM outbox o LEFT JOIN messages m ON m.id = o.message_id
                 WHERE o.delivered_at IS NULL
                   AND (m.session_id = s.id OR json_extract(o.body, '$.sessionId') = s.id))`,
          )
          .all() as { id: string }[]
      ).map((r) => r.id);
      for (const id of ids) {
        db.query("DELETE FROM outbox WHERE message_id IN (SELECT id FROM messages WHERE session_id = ?)").run(
          id,
        );
        db.query(
          "DELETE FROM outbox WHERE kind = 'attachment_chunk' AND json_extract(body, '$.sessionId') = ?",
        ).run(id);
        db.query("DELETE FROM attachments WHERE session_id = ?").run(id);
        db.query("DELETE FROM runs WHERE session_id = ?").run(id);
        db.query("DELETE FROM messages WHERE session_id = ?").run(id);
      }
      return ids;
    })
    .immediate();
}
