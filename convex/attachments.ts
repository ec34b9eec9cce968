/**
 * Attachment assembly: when all `count` chunks of an attachment are stored, concatenate them in
 * index order, verify the total size and SHA-256, and store the file in Convex file storage. A
 * mismatch (or chunks that disagree on size/sha256/count) is quarantined with its reason — the
 * chunks are kept for inspection — never dropped silently.
 */
import { v } from "convex/values";
import { internal } from "./_generated/api";
import { internalAction, internalMutation, internalQuery } from "./_generated/server";
import { sha256Hex } from "./lib/crypto";
import { logLine } from "./lib/log";

/** Assembly holds the file twice in an action's 64 MiB of memory: larger files are quarantined. */
export const MAX_ATTACHMENT_BYTES = 24 * 1024 * 1024;

export const meta = internalQuery({
  args: { userId: v.string(), attachmentId: v.string() },
  handler: async (ctx, a) =>
    await ctx.db
      .query("attachments")
      .withIndex("by_user_attachment", (q) => q.eq("userId", a.userId).eq("attachmentId", a.attachmentId))
      .unique(),
});

export const chunk = internalQuery({
  args: { userId: v.string(), attachmentId: v.string(), index: v.number() },
  handler: async (ctx, a) => {
    const c = await ctx.db
      .query("attachmentChunks")
      .withIndex("by_user_attachment", (q) =>
        q.eq("userId", a.userId).eq("attachmentId", a.attachmentId).eq("index", a.index),
      )
      .first();
    return c ? { data: c.data, size: c.size, sha256: c.sha256, count: c.count } : null;
  },
});

export const finish = internalMutation({
  args: {
    userId: v.string(),
    attachmentId: v.string(),
    storageId: v.optional(v.id("_storage")),
    problem: v.optional(v.string()),
  },
  handler: async (ctx, a) => {
    const att = await ctx.db
      .query("attachments")
      .withIndex("by_user_attachment", (q) => q.eq("userId", a.userId).eq("attachmentId", a.attachmentId))
      .unique();
    if (att?.status !== "receiving") return;
    if (a.problem !== undefined) {
      await ctx.db.patch(att._id, { status: "quarantined", updatedAt: Date.now() });
      await ctx.db.insert("quarantine", {
        userId: a.userId,
        kind: "attachment",
        ref: a.attachmentId,
        reason: a.problem,
        at: Date.now(),
      });
      return;
    }
    await ctx.db.patch(att._id, { status: "stored", storageId: a.storageId, updatedAt: Date.now() });
    const chunks = await ctx.db
      .query("attachmentChunks")
      .withIndex("by_user_attachment", (q) => q.eq("userId", a.userId).eq("attachmentId", a.attachmentId))
      .collect();
    for (const c of chunks) await ctx.db.delete(c._id);
  },
});

export const assemble = internalAction({
  args: { userId: v.string(), attachmentId: v.string() },
  handler: async (ctx, a) => {
    const att = await ctx.runQuery(internal.attachments.meta, a);
    if (att?.status !== "receiving") return;
    const parts: Uint8Array[] = [];
    let problem: string | undefined =
      att.size > MAX_ATTACHMENT_BYTES
        ? `${att.size} bytes is over the ${MAX_ATTACHMENT_BYTES} an action can assemble in memory`
        : undefined;
    for (let i = 0; i < att.count && !problem; i++) {
      const c = await ctx.runQuery(internal.attachments.chunk, { ...a, index: i });
      if (!c) problem = `chunk ${i} of ${att.count} is missing`;
      else if (c.size !== att.size || c.sha256 !== att.sha256 || c.count !== att.count)
        problem = `chunk ${i} disagrees with chunk 0 on size, sha256 or count`;
      else parts.push(new Uint8Array(c.data));
    }
    let storageId: string | undefined;
    if (!problem) {
      const total = parts.reduce((n, p) => n + p.length, 0);
      const bytes = new Uint8Array(total);
      let at = 0;
      for (const p of parts) {
        bytes.set(p, at);
        at += p.length;
      }
      const digest = await sha256Hex(bytes);
      if (total !== att.size) problem = `assembled ${total} bytes, the entries said ${att.size}`;
      else if (digest !== att.sha256)
        problem = `sha256 of the assembled file is ${digest}, the entries said ${att.sha256}`;
      else storageId = await ctx.storage.store(new Blob([bytes], { type: att.mimeType }));
    }
    await ctx.runMutation(internal.attachments.finish, {
      ...a,
      ...(storageId ? { storageId: storageId as never } : {}),
      ...(problem ? { problem } : {}),
    });
    logLine({
      event: "attachment_assembled",
      userId: a.userId,
      attachmentId: a.attachmentId,
      ok: !problem,
      problem,
    });
  },
});

/** An attachment's state and, once stored, a download URL (for the dashboard). */
export const get = internalQuery({
  args: { userId: v.string(), attachmentId: v.string() },
  handler: async (ctx, a) => {
    const att = await ctx.db
      .query("attachments")
      .withIndex("by_user_attachment", (q) => q.eq("userId", a.userId).eq("attachmentId", a.attachmentId))
      .unique();
    if (!att) return null;
    const url = att.storageId ? await ctx.storage.getUrl(att.storageId) : null;
    return { ...att, url };
  },
});
