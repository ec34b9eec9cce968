/**
 * A user's conversations and messages for the operator dashboard, and the removal of a deleted
 * session's messages (in pages, after its tombstone). Internal: run them from the Convex dashboard,
 * `npx convex run`, or the admin HTTP API.
 */
import { paginationOptsValidator } from "convex/server";
import { v } from "convex/values";
import { internal } from "./_generated/api";
import { internalMutation, internalQuery } from "./_generated/server";

const PURGE_PAGE = 200;

export const purgeDeleted = internalMutation({
  args: { userId: v.string(), sessionId: v.string() },
  handler: async (ctx, a) => {
    const page = await ctx.db
      .query("messages")
      .withIndex("by_user_session", (q) => q.eq("userId", a.userId).eq("sessionId", a.sessionId))
      .take(PURGE_PAGE);
    for (const m of page) await ctx.db.delete(m._id);
    if (page.length === PURGE_PAGE) await ctx.scheduler.runAfter(0, internal.conversations.purgeDeleted, a);
    return page.length;
  },
});

/** A user's conversations, most recent first (deleted ones only when asked). */
export const list = internalQuery({
  args: { userId: v.string(), includeDeleted: v.optional(v.boolean()), limit: v.optional(v.number()) },
  handler: async (ctx, a) => {
    const rows = await ctx.db
      .query("conversations")
      .withIndex("by_user_last", (q) => q.eq("userId", a.userId))
      .order("desc")
      .take(Math.min(a.limit ?? 100, 1000));
    return rows
      .filter((c) => a.includeDeleted || c.deletedAt === undefined)
      .map(({ _id, _creationTime, ...c }) => c);
  },
});

/** One conversation's messages in time order, paginated. */
export const messages = internalQuery({
  args: { userId: v.string(), sessionId: v.string(), paginationOpts: paginationOptsValidator },
  handler: async (ctx, a) => {
    const page = await ctx.db
      .query("messages")
      .withIndex("by_user_session", (q) => q.eq("userId", a.userId).eq("sessionId", a.sessionId))
      .order("asc")
      .paginate(a.paginationOpts);
    return { ...page, page: page.page.map(({ _id, _creationTime, ...m }) => m) };
  },
});

/** What the receiver quarantined for a user (attachments that failed their checks). */
export const quarantined = internalQuery({
  args: { userId: v.string() },
  handler: async (ctx, a) =>
    (
      await ctx.db
        .query("quarantine")
        .withIndex("by_user", (q) => q.eq("userId", a.userId))
        .collect()
    ).map(({ _id, _creationTime, ...r }) => r),
});
