/**
 * The idempotent upsert of one slice of a sync-v1 batch, in one transaction: messages and
 * tombstones on (userId, id), attachment chunks on (userId, id) with the attachment's receive
 * counter; the last chunk of an attachment schedules its assembly.
 */
import { v } from "convex/values";
import { internal } from "./_generated/api";
import type { MutationCtx } from "./_generated/server";
import { internalMutation } from "./_generated/server";
import type { ChunkEntry, MessageEntry, SyncEntry, TombstoneEntry } from "./lib/syncWire";

type Chunk = Omit<ChunkEntry, "data"> & { data: ArrayBuffer };
type Outcome = "inserted" | "duplicate";

export const ingest = internalMutation({
  args: { userId: v.string(), machineId: v.optional(v.string()), entries: v.array(v.any()) },
  handler: async (ctx, { userId, machineId, entries }) => {
    let inserted = 0;
    let duplicates = 0;
    for (const e of entries as (Exclude<SyncEntry, ChunkEntry> | Chunk)[]) {
      const r =
        e.kind === "session_tombstone"
          ? await upsertTombstone(ctx, userId, e)
          : e.kind === "attachment_chunk"
            ? await upsertChunk(ctx, userId, e)
            : await upsertMessage(ctx, userId, machineId, e);
      if (r === "inserted") inserted++;
      else duplicates++;
    }
    return { inserted, duplicates };
  },
});

async function conversation(ctx: MutationCtx, userId: string, sessionId: string) {
  return await ctx.db
    .query("conversations")
    .withIndex("by_user_session", (q) => q.eq("userId", userId).eq("sessionId", sessionId))
    .unique();
}

async function upsertMessage(
  ctx: MutationCtx,
  userId: string,
  machineId: string | undefined,
  e: MessageEntry,
): Promise<Outcome> {
  const existing = await ctx.db
    .query("messages")
    .withIndex("by_user_id", (q) => q.eq("userId", userId).eq("id", e.id))
    .unique();
  if (existing) return "duplicate"; // local messages never change: a replay changes nothing
  const conv = await conversation(ctx, userId, e.sessionId);
  // A deleted session stays deleted: a late message for it is acknowledged and not stored.
  if (conv?.deletedAt !== undefined) return "duplicate";
  const { kind: _k, ...fields } = e;
  await ctx.db.insert("messages", {
    ...fields,
    userId,
    ...(machineId ? { machineId } : {}),
    receivedAt: Date.now(),
  });
  if (conv) {
    await ctx.db.patch(conv._id, {
      messageCount: conv.messageCount + 1,
      lastAt: Math.max(conv.lastAt, e.createdAt),
      firstAt: Math.min(conv.firstAt, e.createdAt),
    });
  } else {
    await ctx.db.insert("conversations", {
      userId,
      sessionId: e.sessionId,
      sessionKey: e.sessionKey,
      firstAt: e.createdAt,
      lastAt: e.createdAt,
      messageCount: 1,
    });
  }
  return "inserted";
}

async function upsertTombstone(ctx: MutationCtx, userId: string, e: TombstoneEntry): Promise<Outcome> {
  const existing = await ctx.db
    .query("tombstones")
    .withIndex("by_user_id", (q) => q.eq("userId", userId).eq("id", e.id))
    .unique();
  if (existing) return "duplicate";
  await ctx.db.insert("tombstones", {
    userId,
    id: e.id,
    sessionId: e.sessionId,
    sessionKey: e.sessionKey,
    deletedAt: e.deletedAt,
    receivedAt: Date.now(),
  });
  const conv = await conversation(ctx, userId, e.sessionId);
  if (conv) await ctx.db.patch(conv._id, { deletedAt: e.deletedAt });
  else
    await ctx.db.insert("conversations", {
      userId,
      sessionId: e.sessionId,
      sessionKey: e.sessionKey,
      firstAt: e.deletedAt,
      lastAt: e.deletedAt,
      messageCount: 0,
      deletedAt: e.deletedAt,
    });
  // The session's messages are removed in pages, outside this transaction.
  await ctx.scheduler.runAfter(0, internal.conversations.purgeDeleted, { userId, sessionId: e.sessionId });
  return "inserted";
}

async function upsertChunk(ctx: MutationCtx, userId: string, e: Chunk): Promise<Outcome> {
  const existing = await ctx.db
    .query("attachmentChunks")
    .withIndex("by_user_id", (q) => q.eq("userId", userId).eq("id", e.id))
    .unique();
  if (existing) return "duplicate";
  const att = await ctx.db
    .query("attachments")
    .withIndex("by_user_attachment", (q) => q.eq("userId", userId).eq("attachmentId", e.attachmentId))
    .unique();
  if (att && att.status !== "receiving") return "duplicate"; // already assembled (chunks removed) or quarantined
  const { kind: _k, seq: _s, ...fields } = e;
  await ctx.db.insert("attachmentChunks", { ...fields, userId });
  const received = (att?.received ?? 0) + 1;
  if (att) await ctx.db.patch(att._id, { received });
  else
    await ctx.db.insert("attachments", {
      userId,
      attachmentId: e.attachmentId,
      messageId: e.messageId,
      sessionId: e.sessionId,
      mimeType: e.mimeType,
      size: e.size,
      sha256: e.sha256,
      count: e.count,
      received,
      status: "receiving",
      updatedAt: Date.now(),
    });
  if (received >= (att?.count ?? e.count))
    await ctx.scheduler.runAfter(0, internal.attachments.assemble, { userId, attachmentId: e.attachmentId });
  return "inserted";
}
