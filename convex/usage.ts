/**
 * Usage rows, one per request id (x-pipbot-request-id): `start` writes or re-opens the row before
 * the upstream call (after the budget check), `finish` closes one attempt exactly once and adds its
 * tokens and cost to the row and to the user's spend. Retries of one request share the row.
 */
import { v } from "convex/values";
import type { Doc } from "./_generated/dataModel";
import { internalMutation, internalQuery, type MutationCtx } from "./_generated/server";
import { dayKey, monthKey, periodKey, secondsLeft } from "./lib/periods";
import { costUsd } from "./lib/pricing";
import { zeroTokens } from "./lib/usageMeter";
import { tokenFields, usageStatus } from "./schema";

async function spendRow(ctx: MutationCtx, userId: string, key: string) {
  return await ctx.db
    .query("spend")
    .withIndex("by_user_period", (q) => q.eq("userId", userId).eq("periodKey", key))
    .unique();
}

/** Budget check, then the started row. Returns the attempt number, or why the request is refused. */
export const start = internalMutation({
  args: {
    requestId: v.string(),
    userId: v.string(),
    provider: v.string(),
    model: v.optional(v.string()),
    machineId: v.optional(v.string()),
    conversationId: v.optional(v.string()),
  },
  handler: async (ctx, a) => {
    const now = Date.now();
    const budgets = await ctx.db
      .query("budgets")
      .withIndex("by_user_period", (q) => q.eq("userId", a.userId))
      .collect();
    for (const b of budgets.sort((x, y) => (x.period === "month" ? -1 : y.period === "month" ? 1 : 0))) {
      const spent = (await spendRow(ctx, a.userId, periodKey(b.period, now)))?.costUsd ?? 0;
      if (spent >= b.limitUsd)
        return {
          refused: {
            period: b.period,
            spentUsd: spent,
            limitUsd: b.limitUsd,
            retryAfterS: secondsLeft(b.period, now),
          },
        } as const;
    }
    const row = await ctx.db
      .query("usage")
      .withIndex("by_requestId", (q) => q.eq("requestId", a.requestId))
      .unique();
    if (row) {
      if (row.userId !== a.userId) return { conflict: true } as const;
      const attempt = row.attempts + 1;
      await ctx.db.patch(row._id, {
        attempts: attempt,
        status: "started",
        provider: a.provider,
        ...(a.model ? { model: a.model } : {}),
      });
      return { attempt } as const;
    }
    await ctx.db.insert("usage", {
      requestId: a.requestId,
      userId: a.userId,
      ...(a.machineId ? { machineId: a.machineId } : {}),
      ...(a.conversationId ? { conversationId: a.conversationId } : {}),
      provider: a.provider,
      ...(a.model ? { model: a.model } : {}),
      status: "started",
      attempts: 1,
      finishedAttempts: [],
      ...zeroTokens(),
      costUsd: 0,
      day: dayKey(now),
      startedAt: now,
    });
    return { attempt: 1 } as const;
  },
});

/** Closes one attempt (idempotent on (requestId, attempt)): tokens and cost are added once. */
export const finish = internalMutation({
  args: {
    requestId: v.string(),
    attempt: v.number(),
    status: usageStatus,
    httpStatus: v.optional(v.number()),
    model: v.optional(v.string()),
    error: v.optional(v.string()),
    ...tokenFields,
  },
  handler: async (ctx, a) => {
    const row = await ctx.db
      .query("usage")
      .withIndex("by_requestId", (q) => q.eq("requestId", a.requestId))
      .unique();
    if (!row || row.finishedAttempts.includes(a.attempt)) return false;
    const model = a.model ?? row.model;
    const cost = costUsd(row.provider, model, a);
    const latest = Math.max(a.attempt, ...row.finishedAttempts) === a.attempt;
    const patch: Partial<Doc<"usage">> = {
      finishedAttempts: [...row.finishedAttempts, a.attempt],
      inputTokens: row.inputTokens + a.inputTokens,
      outputTokens: row.outputTokens + a.outputTokens,
      cacheReadTokens: row.cacheReadTokens + a.cacheReadTokens,
      cacheWriteTokens: row.cacheWriteTokens + a.cacheWriteTokens,
      reasoningTokens: row.reasoningTokens + a.reasoningTokens,
      costUsd: row.costUsd + cost,
      finishedAt: Date.now(),
      ...(model ? { model } : {}),
    };
    if (latest) {
      patch.status = a.status;
      if (a.httpStatus !== undefined) patch.httpStatus = a.httpStatus;
      patch.error = a.error;
    }
    await ctx.db.patch(row._id, patch);
    if (cost > 0 || a.status === "finalized") {
      for (const key of [dayKey(row.startedAt), monthKey(row.startedAt)]) {
        const s = await spendRow(ctx, row.userId, key);
        if (s) await ctx.db.patch(s._id, { costUsd: s.costUsd + cost, requests: s.requests + 1 });
        else await ctx.db.insert("spend", { userId: row.userId, periodKey: key, costUsd: cost, requests: 1 });
      }
    }
    return true;
  },
});

/** Longer than any action may run (30 min in the Convex runtime): a row still "started" after it was killed. */
export const STALE_STARTED_MS = 31 * 60_000;

/**
 * Cron: closes rows whose proxy action died without finishing them (killed, or cut at the runtime's
 * 30-minute limit) as "cut", so no row stays "started" forever. Tokens stay what was recorded.
 */
export const closeStale = internalMutation({
  args: {},
  handler: async (ctx) => {
    const rows = await ctx.db
      .query("usage")
      .withIndex("by_status", (q) => q.eq("status", "started").lt("startedAt", Date.now() - STALE_STARTED_MS))
      .take(500);
    for (const r of rows)
      await ctx.db.patch(r._id, {
        status: "cut",
        error: "the proxy never closed this row: its action was killed or hit the runtime's time limit",
        finishedAt: Date.now(),
      });
    return rows.length;
  },
});

/** One request's row (by its x-pipbot-request-id). */
export const byRequest = internalQuery({
  args: { requestId: v.string() },
  handler: async (ctx, a) =>
    await ctx.db
      .query("usage")
      .withIndex("by_requestId", (q) => q.eq("requestId", a.requestId))
      .unique(),
});

/** Usage by user, day and model with cost: the dashboard's table (one user, or everyone, for a day range). */
export const report = internalQuery({
  args: { fromDay: v.string(), toDay: v.string(), userId: v.optional(v.string()) },
  handler: async (ctx, a) => {
    const rows = a.userId
      ? await ctx.db
          .query("usage")
          .withIndex("by_user_day", (q) =>
            q.eq("userId", a.userId!).gte("day", a.fromDay).lte("day", a.toDay),
          )
          .collect()
      : await ctx.db
          .query("usage")
          .withIndex("by_day", (q) => q.gte("day", a.fromDay).lte("day", a.toDay))
          .collect();
    const groups = new Map<string, Record<string, string | number>>();
    for (const r of rows) {
      const key = JSON.stringify([r.userId, r.day, r.provider, r.model ?? ""]);
      const g = groups.get(key) ?? {
        userId: r.userId,
        day: r.day,
        provider: r.provider,
        model: r.model ?? "",
        requests: 0,
        started: 0,
        failed: 0,
        cut: 0,
        ...zeroTokens(),
        costUsd: 0,
      };
      groups.set(key, g);
      const add = (k: string, n: number) => {
        g[k] = (g[k] as number) + n;
      };
      add("requests", 1);
      if (r.status === "started" || r.status === "failed" || r.status === "cut") add(r.status, 1);
      for (const k of [
        "inputTokens",
        "outputTokens",
        "cacheReadTokens",
        "cacheWriteTokens",
        "reasoningTokens",
        "costUsd",
      ] as const)
        add(k, r[k]);
    }
    return [...groups.values()].sort((x, y) =>
      `${x.day}${x.userId}${x.model}`.localeCompare(`${y.day}${y.userId}${y.model}`),
    );
  },
});
