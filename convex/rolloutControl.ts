/**
 * Operating a rollout: `resume` a stalled one (its tick died; leases released, a tick scheduled),
 * the cron's `resumeStalled` (once a lease has run out), `abort`, and the `status` progress query.
 */
import { v } from "convex/values";
import { internal } from "./_generated/api";
import type { Doc } from "./_generated/dataModel";
import { internalMutation, internalQuery, type MutationCtx } from "./_generated/server";
import { active, LEASE_MS } from "./rollout";

/** Restarts a stalled rollout (its tick crashed): leases are released and a tick is scheduled. */
export const resume = internalMutation({
  args: { rolloutId: v.optional(v.id("rollouts")) },
  handler: async (ctx, a) => {
    const r = a.rolloutId ? await ctx.db.get(a.rolloutId) : await active(ctx);
    if (!r || (r.state !== "running" && r.state !== "rolling_back")) return null;
    await releaseLeases(ctx, r);
    await ctx.scheduler.runAfter(0, internal.rolloutTick.tick, { rolloutId: r._id });
    return r._id;
  },
});

async function releaseLeases(ctx: MutationCtx, r: Doc<"rollouts">) {
  for (const state of ["updating", "restoring"] as const) {
    const rows = await ctx.db
      .query("rolloutTargets")
      .withIndex("by_rollout_wave", (q) =>
        q.eq("rolloutId", r._id).eq("wave", r.currentWave).eq("state", state),
      )
      .collect();
    for (const t of rows) await ctx.db.patch(t._id, { leaseUntil: 0 });
  }
}

/** Cron: resumes active rollouts whose tick has not been seen for longer than a lease. */
export const resumeStalled = internalMutation({
  args: {},
  handler: async (ctx) => {
    const r = await active(ctx);
    if (!r || Date.now() - r.tickAt < LEASE_MS) return null;
    await releaseLeases(ctx, r);
    await ctx.scheduler.runAfter(0, internal.rolloutTick.tick, { rolloutId: r._id });
    return r._id;
  },
});

/** Stops a rollout: no further machine is touched (an in-flight batch finishes and is recorded). */
export const abort = internalMutation({
  args: { rolloutId: v.optional(v.id("rollouts")) },
  handler: async (ctx, a) => {
    const r = a.rolloutId ? await ctx.db.get(a.rolloutId) : await active(ctx);
    if (!r || (r.state !== "running" && r.state !== "rolling_back")) return null;
    await ctx.db.patch(r._id, { state: "aborted", reason: "aborted by an operator", updatedAt: Date.now() });
    return r._id;
  },
});

/** Progress of one rollout (default: the latest): counts overall and per wave, and the failures. */
export const status = internalQuery({
  args: { rolloutId: v.optional(v.id("rollouts")) },
  handler: async (ctx, a) => {
    const r = a.rolloutId
      ? await ctx.db.get(a.rolloutId)
      : await ctx.db.query("rollouts").order("desc").first();
    if (!r) return null;
    const targets = await ctx.db
      .query("rolloutTargets")
      .withIndex("by_rollout_state", (q) => q.eq("rolloutId", r._id))
      .collect();
    const counts: Record<string, number> = {};
    const perWave = r.waves.map((size, wave) => ({ wave, size, updated: 0, failed: 0, restored: 0 }));
    for (const t of targets) {
      counts[t.state] = (counts[t.state] ?? 0) + 1;
      const w = perWave[t.wave];
      if (w && (t.state === "updated" || t.state === "failed" || t.state === "restored")) w[t.state]++;
    }
    const failures = targets
      .filter((t) => t.error !== undefined) // failed, restore_failed, or restored after failing
      .slice(0, 20)
      .map((t) => ({ machineId: t.machineId, flyApp: t.flyApp, state: t.state, error: t.error ?? null }));
    return {
      id: r._id,
      imageRef: r.imageRef,
      state: r.state,
      reason: r.reason ?? null,
      currentWave: r.currentWave,
      waves: r.waves,
      total: r.total,
      counts,
      perWave,
      failures,
      createdAt: r.createdAt,
      updatedAt: r.updatedAt,
    };
  },
});
