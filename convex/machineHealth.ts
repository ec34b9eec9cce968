/**
 * Keeps `machines.state` and `machines.lastHealth` true to Fly: a sweep pages through the recorded
 * machines, reads each from the Machines API (state and checks) and records what it saw. Started
 * by a cron every 10 minutes, one page (at most 50 machines) per action, the next page scheduled.
 */
import { paginationOptsValidator } from "convex/server";
import { v } from "convex/values";
import { internal } from "./_generated/api";
import type { Id } from "./_generated/dataModel";
import { internalAction, internalMutation, internalQuery } from "./_generated/server";
import { FlyApi, FlyError, flyFromEnv, lastEvents } from "./lib/flyApi";
import { logLine } from "./lib/log";

const PAGE = 50;

type State = "started" | "stopped" | "updating" | "destroyed" | "failed" | "starting" | "creating";

/** Fly's machine state → ours. */
export function ourState(fly: string): State {
  if (fly === "started") return "started";
  if (fly === "stopped" || fly === "suspended" || fly === "stopping") return "stopped";
  if (fly === "replacing" || fly === "updating") return "updating";
  if (fly === "destroyed" || fly === "destroying") return "destroyed";
  if (fly === "failed") return "failed";
  if (fly === "starting") return "starting";
  return "creating";
}

export const page = internalQuery({
  args: { paginationOpts: paginationOptsValidator },
  handler: async (ctx, a) => {
    const p = await ctx.db.query("machines").paginate(a.paginationOpts);
    return {
      ...p,
      page: p.page
        .filter((m) => m.machineId !== undefined && m.state !== "destroyed")
        .map((m) => ({ id: m._id, flyApp: m.flyApp, machineId: m.machineId! })),
    };
  },
});

export const observe = internalMutation({
  args: {
    id: v.id("machines"),
    state: v.string(),
    health: v.object({ at: v.number(), status: v.string(), detail: v.optional(v.string()) }),
    lastEvents: v.optional(v.array(v.any())),
  },
  handler: async (ctx, a) => {
    const m = await ctx.db.get(a.id);
    if (!m || m.state === "updating") return; // a rollout owns it right now
    await ctx.db.patch(a.id, {
      state: ourState(a.state),
      lastHealth: a.health,
      ...(a.lastEvents ? { lastEvents: a.lastEvents } : {}),
      updatedAt: Date.now(),
    });
  },
});

/** One page of the sweep; schedules the next page until every machine was looked at. */
export const sweep = internalAction({
  args: { cursor: v.optional(v.union(v.string(), v.null())) },
  handler: async (ctx, a): Promise<{ seen: number; done: boolean }> => {
    const fly = new FlyApi(flyFromEnv());
    const p: {
      page: { id: Id<"machines">; flyApp: string; machineId: string }[];
      isDone: boolean;
      continueCursor: string;
    } = await ctx.runQuery(internal.machineHealth.page, {
      paginationOpts: { numItems: PAGE, cursor: a.cursor ?? null },
    });
    for (const m of p.page) {
      const at = Date.now();
      try {
        const fm = await fly.getMachine(m.flyApp, m.machineId);
        const bad = (fm.checks ?? []).filter((c) => c.status !== "passing");
        const status = fm.state !== "started" ? fm.state : bad.length ? bad[0]!.status : "passing";
        await ctx.runMutation(internal.machineHealth.observe, {
          id: m.id,
          state: fm.state,
          health: {
            at,
            status,
            ...(bad.length ? { detail: bad.map((c) => `${c.name}=${c.status}`).join(", ") } : {}),
          },
          ...(status !== "passing" ? { lastEvents: lastEvents(fm) } : {}),
        });
      } catch (e) {
        if (e instanceof FlyError && e.status === 404)
          await ctx.runMutation(internal.machineHealth.observe, {
            id: m.id,
            state: "destroyed",
            health: { at, status: "gone", detail: "Fly has no such machine" },
          });
        else throw e; // Fly unreachable: the next sweep tries again
      }
    }
    if (!p.isDone)
      await ctx.scheduler.runAfter(0, internal.machineHealth.sweep, { cursor: p.continueCursor });
    else logLine({ event: "health_sweep_done" });
    return { seen: p.page.length, done: p.isDone };
  },
});
