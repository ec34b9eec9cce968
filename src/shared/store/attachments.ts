/**
 * Attachments: the bytes of a message's images and PDFs, stored in SQLite with their message (in
 * the same transaction) and queued for sync as `attachment_chunk` outbox entries of at most
 * ATTACHMENT_CHUNK_BYTES each (docs/SYNC.md). The message itself carries references.
 */
import type { Outbox } from "./outbox.ts";
import { type Connection, prepare, type Row } from "./sql.ts";
import { ATTACHMENT_CHUNK_BYTES, type NewAttachment, type StoredMessage } from "./types.ts";

export class Attachments {
  private readonly q;

  constructor(
    c: Connection,
    private readonly outbox: Outbox,
  ) {
    this.q = prepare(c.db, {
      insert: `INSERT INTO attachments (id, message_id, session_id, idx, mime_type, file_name, size, sha256, data, created_at)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      data: "SELECT data FROM attachments WHERE id = ?",
      count: "SELECT COUNT(*) AS n FROM attachments",
    });
  }

  /** Store the attachments of `message` and queue their chunks; the caller holds the transaction. */
  insert(message: StoredMessage, attachments: NewAttachment[]): void {
    attachments.forEach((a, idx) => {
      const r = a.ref;
      this.q.insert.run(
        r.attachmentId,
        message.id,
        message.sessionId,
        idx,
        r.mimeType,
        r.fileName ?? null,
        r.size,
        r.sha256,
        a.data,
        message.createdAt,
      );
      const count = Math.max(1, Math.ceil(r.size / ATTACHMENT_CHUNK_BYTES));
      for (let index = 0; index < count; index++) {
        this.outbox.insertOther("attachment_chunk", `attachment:${r.attachmentId}:${index}`, {
          attachmentId: r.attachmentId,
          messageId: message.id,
          sessionId: message.sessionId,
          mimeType: r.mimeType,
          size: r.size,
          sha256: r.sha256,
          index,
          count,
        });
      }
    });
  }

  data(attachmentId: string): Uint8Array | null {
    const r = this.q.data.get(attachmentId) as Row | null;
    return r ? new Uint8Array(r.data as Uint8Array) : null;
  }

  count(): number {
    return (this.q.count.get() as { n: number }).n;
  }
}
