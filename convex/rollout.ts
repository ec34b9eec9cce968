/**
 * Fleet rollout state, all in tables so a crash loses nothing: `start` picks the machines and
 * assigns waves (canary, then ×growth), `claim` hands a tick the next targets under a lease,
 * `record` stores outcomes, `advance` judges the wave (next wave, done, or roll back past the
 * failure threshold). Resuming, aborting and progress are rolloutControl.ts; the work itself (Fly
 * API calls) is rolloutTick.ts.
 */
import { v } from "convex/values";
import { internal } from "./_generated/api";
import type { Doc, Id } from "./_generated/dataModel";
import { internalMutation, internalQuery, type MutationCtx } from "./_generated/server";

/** How long a tick owns a claimed target: longer than any one update + wait + checks. */
export const LEASE_MS = 15 * 60_000;
const ACTIVE = ["running", "rolling_back"] as const;

export function waveSizes(total: number, canary: number, growth: number): number[] {
  const sizes: number[] = [];
  let left = total;
  let next = Math.max(1, canary);
  while (left > 0) {
    const n = Math.min(next, left);
    sizes.push(n);
    left -= n;
    next = Math.max(next + 1, Math.floor(next * growth));
  }
  return sizes;
}

export async function active(ctx: MutationCtx) {
  for (const state of ACTIVE) {
    const r = await ctx.db
      .query("rollouts")
      .withIndex("by_state", (q) => q.eq("state", state))
      .first();
    if (r) return r;
  }
  return null;
}

export const start = internalMutation({
  args: {
    imageRef: v.string(),
    digest: v.optional(v.string()),
    fromImageRef: v.optional(v.string()),
    canary: v.optional(v.number()),
    growth: v.optional(v.number()),
    maxFailureRate: v.optional(v.number()),
    concurrency: v.optional(v.number()),
  },
  handler: async (ctx, a) => {
    const running = await active(ctx);
    if (running)
      throw new Error(
        `rollout ${running._id} to ${running.imageRef} is still ${running.state}: abort it first`,
      );
    const rate = a.maxFailureRate ?? 0;
    if (!(rate >= 0 && rate < 1)) throw new Error("maxFailureRate must be in [0, 1)");
    const machines = (await ctx.db.query("machines").collect()).filter(
      (m) =>
        m.machineId !== undefined &&
        (m.state === "started" || m.state === "stopped") &&
        m.imageRef !== a.imageRef &&
        (a.fromImageRef === undefined || m.imageRef === a.fromImageRef),
    );
    const waves = waveSizes(machines.length, a.canary ?? 1, Math.max(1.5, a.growth ?? 4));
    const now = Date.now();
    const id = await ctx.db.insert("rollouts", {
      imageRef: a.imageRef,
      ...(a.digest ? { digest: a.digest } : {}),
      ...(a.fromImageRef ? { fromImageRef: a.fromImageRef } : {}),
      state: machines.length ? "running" : "completed",
      waves,
      currentWave: 0,
      maxFailureRate: rate,
      concurrency: Math.max(1, Math.min(a.concurrency ?? 10, 100)),
      total: machines.length,
      tickAt: now,
      createdAt: now,
      updatedAt: now,
    });
    let i = 0;
    for (const [wave, size] of waves.entries()) {
      const slice = machines.slice(i, i + size);
      i += size;
      for (const m of slice)
        await ctx.db.insert("rolloutTargets", {
          rolloutId: id,
          machineDoc: m._id,
          flyApp: m.flyApp,
          machineId: m.machineId!,
          previousImage: m.imageRef,
          wave,
          state: "pending",
          leaseUntil: 0,
          updatedAt: now,
        });
    }
    if (machines.length) await ctx.scheduler.runAfter(0, internal.rolloutTick.tick, { rolloutId: id });
    return { rolloutId: id, total: machines.length, waves };
  },
});

export const get = internalQuery({
  args: { rolloutId: v.id("rollouts") },
  handler: async (ctx, a) => await ctx.db.get(a.rolloutId),
});

export interface Claimed {
  id: Id<"rolloutTargets">;
  flyApp: string;
  machineId: string;
  image: string;
}

/** Claims up to `n` targets of the current wave: to update (running) or to restore (rolling back). */
export const claim = internalMutation({
  args: { rolloutId: v.id("rollouts"), n: v.number() },
  handler: async (ctx, a): Promise<Claimed[]> => {
    const r = await ctx.db.get(a.rolloutId);
    if (!r || (r.state !== "running" && r.state !== "rolling_back")) return [];
    const now = Date.now();
    await ctx.db.patch(r._id, { tickAt: now });
    const from: Doc<"rolloutTargets">["state"][] =
      r.state === "running" ? ["pending", "updating"] : ["updated", "failed", "updating", "restoring"];
    const out: Claimed[] = [];
    for (const state of from) {
      const rows = await ctx.db
        .query("rolloutTargets")
        .withIndex("by_rollout_wave", (q) =>
          q.eq("rolloutId", r._id).eq("wave", r.currentWave).eq("state", state),
        )
        .take(a.n * 4);
      for (const t of rows) {
        if (out.length >= a.n) break;
        if ((state === "updating" || state === "restoring") && t.leaseUntil > now) continue; // another tick's
        const next = r.state === "running" ? "updating" : "restoring";
        await ctx.db.patch(t._id, { state: next, leaseUntil: now + LEASE_MS, updatedAt: now });
        out.push({
          id: t._id,
          flyApp: t.flyApp,
          machineId: t.machineId,
          image: r.state === "running" ? r.imageRef : t.previousImage,
        });
      }
    }
    return out;
  },
});

/** Stores one target's outcome and mirrors it on the machine row. */
export const record = internalMutation({
  args: {
    target: v.id("rolloutTargets"),
    ok: v.boolean(),
    /** Fly no longer has the machine: nothing to update, not a failure of the image. */
    gone: v.optional(v.boolean()),
    error: v.optional(v.string()),
    machineState: v.optional(v.string()),
    lastEvents: v.optional(v.array(v.any())),
  },
  handler: async (ctx, a) => {
    const t = await ctx.db.get(a.target);
    if (!t || (t.state !== "updating" && t.state !== "restoring")) return;
    if (a.gone) {
      await ctx.db.patch(t._id, { state: "skipped", leaseUntil: 0, updatedAt: Date.now(), error: a.error });
      await ctx.db.patch(t.machineDoc, {
        state: "destroyed",
        lastHealth: { at: Date.now(), status: "gone", detail: "Fly has no such machine" },
        updatedAt: Date.now(),
      });
      return;
    }
    const r = await ctx.db.get(t.rolloutId);
    const restoring = t.state === "restoring";
    const state = restoring ? (a.ok ? "restored" : "restore_failed") : a.ok ? "updated" : "failed";
    await ctx.db.patch(t._id, {
      state,
      leaseUntil: 0,
      updatedAt: Date.now(),
      ...(a.error ? { error: a.error } : {}),
    });
    const now = Date.now();
    await ctx.db.patch(t.machineDoc, {
      ...(a.ok
        ? { imageRef: restoring ? t.previousImage : (r?.imageRef ?? t.previousImage), state: "started" }
        : {}),
      ...(!a.ok && a.machineState === "stopped" ? { state: "stopped" } : {}),
      lastHealth: { at: now, status: a.ok ? "passing" : "critical", ...(a.error ? { detail: a.error } : {}) },
      ...(a.lastEvents ? { lastEvents: a.lastEvents } : {}),
      updatedAt: now,
    });
  },
});

async function waveCounts(ctx: MutationCtx, rolloutId: Id<"rollouts">, wave: number) {
  const rows = await ctx.db
    .query("rolloutTargets")
    .withIndex("by_rollout_wave", (q) => q.eq("rolloutId", rolloutId).eq("wave", wave))
    .collect();
  const c: Record<string, number> = {};
  for (const t of rows) c[t.state] = (c[t.state] ?? 0) + 1;
  return { rows, c: (s: string) => c[s] ?? 0 };
}

/** Judges the current wave after a tick; returns whether the rollout still has work. */
export const advance = internalMutation({
  args: { rolloutId: v.id("rollouts") },
  handler: async (ctx, a): Promise<boolean> => {
    const r = await ctx.db.get(a.rolloutId);
    if (!r || (r.state !== "running" && r.state !== "rolling_back")) return false;
    const now = Date.now();
    const { rows, c } = await waveCounts(ctx, r._id, r.currentWave);
    const size = r.waves[r.currentWave] ?? 0;
    if (r.state === "running") {
      const allowed = Math.floor(size * r.maxFailureRate);
      if (c("failed") > allowed) {
        const reason = `wave ${r.currentWave} (${size} machine${size === 1 ? "" : "s"}): ${c("failed")} failed, at most ${allowed} allowed`;
        for (const t of rows)
          if (t.state === "pending") await ctx.db.patch(t._id, { state: "skipped", updatedAt: now });
        await ctx.db.patch(r._id, { state: "rolling_back", reason, updatedAt: now });
        return true;
      }
      if (c("pending") + c("updating") > 0) return true;
      if (r.currentWave + 1 < r.waves.length) {
        await ctx.db.patch(r._id, { currentWave: r.currentWave + 1, updatedAt: now });
        return true;
      }
      await ctx.db.patch(r._id, { state: "completed", updatedAt: now });
      return false;
    }
    if (c("updated") + c("failed") + c("updating") + c("restoring") > 0) return true;
    await ctx.db.patch(r._id, { state: "failed", updatedAt: now });
    return false;
  },
});
