/**
 * Per-user budgets (USD per UTC day and/or month). Over a monthly budget the proxy answers 402;
 * over a daily one 429 with retry-after = seconds to UTC midnight; both with x-should-retry: false.
 */
import { v } from "convex/values";
import { internalMutation, internalQuery } from "./_generated/server";
import { periodKey, secondsLeft } from "./lib/periods";

const period = v.union(v.literal("day"), v.literal("month"));

/** Sets (or with limitUsd null, removes) a user's budget for a period. */
export const set = internalMutation({
  args: { userId: v.string(), period, limitUsd: v.union(v.number(), v.null()) },
  handler: async (ctx, a) => {
    if (a.limitUsd !== null && !(a.limitUsd >= 0)) throw new Error("limitUsd must be a number ≥ 0, or null");
    const row = await ctx.db
      .query("budgets")
      .withIndex("by_user_period", (q) => q.eq("userId", a.userId).eq("period", a.period))
      .unique();
    if (a.limitUsd === null) {
      if (row) await ctx.db.delete(row._id);
      return;
    }
    if (row) await ctx.db.patch(row._id, { limitUsd: a.limitUsd, updatedAt: Date.now() });
    else
      await ctx.db.insert("budgets", {
        userId: a.userId,
        period: a.period,
        limitUsd: a.limitUsd,
        updatedAt: Date.now(),
      });
  },
});

/** A user's budgets with what is spent in the current periods. */
export const status = internalQuery({
  args: { userId: v.string() },
  handler: async (ctx, a) => {
    const now = Date.now();
    const out = [];
    for (const p of ["day", "month"] as const) {
      const key = periodKey(p, now);
      const spend = await ctx.db
        .query("spend")
        .withIndex("by_user_period", (q) => q.eq("userId", a.userId).eq("periodKey", key))
        .unique();
      const budget = await ctx.db
        .query("budgets")
        .withIndex("by_user_period", (q) => q.eq("userId", a.userId).eq("period", p))
        .unique();
      out.push({
        period: p,
        periodKey: key,
        spentUsd: spend?.costUsd ?? 0,
        requests: spend?.requests ?? 0,
        limitUsd: budget?.limitUsd ?? null,
        exceeded: budget ? (spend?.costUsd ?? 0) >= budget.limitUsd : false,
        resetsInS: secondsLeft(p, now),
      });
    }
    return out;
  },
});
