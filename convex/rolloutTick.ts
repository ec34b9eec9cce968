/**
 * One step of a rollout, run by the scheduler: claim a batch of the current wave, update (or, when
 * rolling back, restore) each machine in place — POST /v1/apps/{app}/machines/{id} with the same
 * config and the new image, so the volume stays — wait for it to start and pass its checks, record
 * the outcomes, judge the wave, and schedule the next step. A machine already on the target image
 * (its update went out before a crash) is not updated again: only waited for.
 */
import { v } from "convex/values";
import { internal } from "./_generated/api";
import type { Id } from "./_generated/dataModel";
import { internalAction } from "./_generated/server";
import { FlyApi, FlyError, FlyUnavailable, flyFromEnv, lastEvents, waitHealthy } from "./lib/flyApi";
import { logLine } from "./lib/log";
import { tunables } from "./lib/machineConfig";
import { resolveImage } from "./lib/registry";
import type { Claimed } from "./rollout";

export const tick = internalAction({
  args: { rolloutId: v.id("rollouts") },
  handler: async (ctx, a): Promise<void> => {
    const r = await ctx.runQuery(internal.rollout.get, a);
    if (!r || (r.state !== "running" && r.state !== "rolling_back")) return;
    const fly = new FlyApi(flyFromEnv());
    const t = tunables();
    const batch: Claimed[] = await ctx.runMutation(internal.rollout.claim, {
      rolloutId: a.rolloutId,
      n: r.concurrency,
    });
    const results = await Promise.allSettled(
      batch.map(async (target) => {
        let m = await fly.getMachine(target.flyApp, target.machineId);
        if (m.config.image !== target.image)
          m = await fly.updateMachine(target.flyApp, target.machineId, { ...m.config, image: target.image });
        const { machine, problem } = await waitHealthy(
          fly,
          target.flyApp,
          target.machineId,
          m.instance_id,
          t,
        );
        await ctx.runMutation(internal.rollout.record, {
          target: target.id,
          ok: problem === null,
          ...(problem ? { error: problem, lastEvents: lastEvents(machine) } : {}),
          machineState: machine.state,
        });
        return problem;
      }),
    );
    let unavailable: unknown = null;
    for (const [i, res] of results.entries()) {
      if (res.status === "fulfilled") continue;
      if (res.reason instanceof FlyUnavailable) unavailable = res.reason;
      else
        await ctx.runMutation(internal.rollout.record, {
          target: batch[i]!.id,
          ok: false,
          ...(res.reason instanceof FlyError && res.reason.status === 404 ? { gone: true } : {}),
          error: String((res.reason as Error)?.message ?? res.reason).slice(0, 500),
        });
    }
    logLine({
      event: "rollout_tick",
      rolloutId: a.rolloutId,
      state: r.state,
      wave: r.currentWave,
      batch: batch.length,
      failed: results.filter((x) => x.status === "rejected" || x.value !== null).length,
      ...(unavailable ? { error: String((unavailable as Error).message) } : {}),
    });
    // The Fly API is down: stop here. The claimed targets keep their lease; `resume` (or the cron,
    // after the lease) picks them up, and a machine whose update already went out is only waited for.
    if (unavailable) throw unavailable;
    const more = await ctx.runMutation(internal.rollout.advance, a);
    if (more) await ctx.scheduler.runAfter(0, internal.rolloutTick.tick, a);
  },
});

/** Starts a rollout after checking the registry has the image (a missing image never reaches Fly). */
export const begin = internalAction({
  args: {
    imageRef: v.string(),
    fromImageRef: v.optional(v.string()),
    canary: v.optional(v.number()),
    growth: v.optional(v.number()),
    maxFailureRate: v.optional(v.number()),
    concurrency: v.optional(v.number()),
  },
  handler: async (
    ctx,
    a,
  ): Promise<{ rolloutId: Id<"rollouts">; total: number; waves: number[]; digest: string }> => {
    const { digest } = await resolveImage(a.imageRef);
    const r = await ctx.runMutation(internal.rollout.start, { ...a, digest });
    logLine({
      event: "rollout_started",
      rolloutId: r.rolloutId,
      imageRef: a.imageRef,
      total: r.total,
      waves: r.waves,
    });
    return { ...r, digest };
  },
});
