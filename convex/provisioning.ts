/**
 * Provisioning (the seeds' flyMachines.ts, done right): THE image ref new machines use lives in one
 * place (the `settings` row "imageRef"), is validated against the registry when it is set and again
 * before each use; creating a user's machine mints its credentials, creates its volume and machine
 * through the Fly Machines API, records it, waits for it to start and pass its checks, and reports a
 * failure with the machine's last events instead of destroying it.
 */
import { v } from "convex/values";
import { internal } from "./_generated/api";
import type { Id } from "./_generated/dataModel";
import { internalAction, internalMutation, internalQuery } from "./_generated/server";
import { randomHex } from "./lib/crypto";
import { FlyApi, flyFromEnv, lastEvents, waitHealthy } from "./lib/flyApi";
import { logLine } from "./lib/log";
import { machineConfig, tunables } from "./lib/machineConfig";
import { resolveImage } from "./lib/registry";
import { machineState } from "./schema";

export const currentImage = internalQuery({
  args: {},
  handler: async (ctx) => {
    const row = await ctx.db
      .query("settings")
      .withIndex("by_key", (q) => q.eq("key", "imageRef"))
      .unique();
    return row ? { imageRef: row.value, digest: row.digest ?? null, updatedAt: row.updatedAt } : null;
  },
});

export const storeImage = internalMutation({
  args: { imageRef: v.string(), digest: v.string() },
  handler: async (ctx, a) => {
    const row = await ctx.db
      .query("settings")
      .withIndex("by_key", (q) => q.eq("key", "imageRef"))
      .unique();
    const fields = { value: a.imageRef, digest: a.digest, updatedAt: Date.now() };
    if (row) await ctx.db.patch(row._id, fields);
    else await ctx.db.insert("settings", { key: "imageRef", ...fields });
  },
});

/** Sets the image new machines are created from, after checking the registry has it. */
export const setImageRef = internalAction({
  args: { imageRef: v.string() },
  handler: async (ctx, a) => {
    const { digest } = await resolveImage(a.imageRef);
    await ctx.runMutation(internal.provisioning.storeImage, { imageRef: a.imageRef, digest });
    logLine({ event: "image_set", imageRef: a.imageRef, digest });
    return { imageRef: a.imageRef, digest };
  },
});

export const insertMachine = internalMutation({
  args: { userId: v.string(), flyApp: v.string(), region: v.string(), imageRef: v.string() },
  handler: async (ctx, a) =>
    await ctx.db.insert("machines", {
      ...a,
      state: "creating",
      createdAt: Date.now(),
      updatedAt: Date.now(),
    }),
});

export const patchMachine = internalMutation({
  args: {
    id: v.id("machines"),
    state: v.optional(machineState),
    machineId: v.optional(v.string()),
    volumeId: v.optional(v.string()),
    imageRef: v.optional(v.string()),
    error: v.optional(v.string()),
    lastEvents: v.optional(v.array(v.any())),
    lastHealth: v.optional(v.object({ at: v.number(), status: v.string(), detail: v.optional(v.string()) })),
  },
  handler: async (ctx, { id, ...fields }) => {
    await ctx.db.patch(id, { ...fields, updatedAt: Date.now() });
  },
});

/**
 * Creates `userId`'s machine from the stored image. Returns the machine (and the gateway token the
 * user's apps connect with); on failure the machine is left in place and `error` + `events` say why.
 */
export type CreateResult =
  | { ok: true; machineDoc: Id<"machines">; machineId: string; gatewayToken: string }
  | { ok: false; machineDoc: Id<"machines">; machineId: string | null; error: string; events: unknown[] };

export const createMachine = internalAction({
  args: { userId: v.string(), region: v.optional(v.string()), flyApp: v.optional(v.string()) },
  handler: async (ctx, a): Promise<CreateResult> => {
    const image: { imageRef: string } | null = await ctx.runQuery(internal.provisioning.currentImage, {});
    if (!image) throw new Error("no image ref is set: run provisioning:setImageRef first");
    await resolveImage(image.imageRef); // still in the registry (Fly does not keep images forever)
    const flyApp = a.flyApp ?? process.env.FLY_USER_APP;
    if (!flyApp) throw new Error("no Fly app: pass flyApp or set FLY_USER_APP on the deployment");
    const region = a.region ?? process.env.PIPBOT_MACHINE_REGION ?? "iad";
    const siteUrl = process.env.CONVEX_SITE_URL;
    const cloudUrl = process.env.CONVEX_CLOUD_URL;
    if (!siteUrl || !cloudUrl) throw new Error("CONVEX_SITE_URL / CONVEX_CLOUD_URL are not available");
    const fly = new FlyApi(flyFromEnv());
    const t = tunables();

    const serviceToken = randomHex(32);
    const syncSecret = randomHex(32);
    const gatewayToken = randomHex(24);
    const doc: Id<"machines"> = await ctx.runMutation(internal.provisioning.insertMachine, {
      userId: a.userId,
      flyApp,
      region,
      imageRef: image.imageRef,
    });
    const fail = async (error: string, events: unknown[] = [], machineId?: string): Promise<CreateResult> => {
      await ctx.runMutation(internal.provisioning.patchMachine, {
        id: doc,
        state: "failed",
        error,
        lastEvents: events,
      });
      logLine({ event: "machine_create", userId: a.userId, flyApp, machineId, ok: false, error });
      return { ok: false, machineDoc: doc, machineId: machineId ?? null, error, events };
    };
    let volumeId: string;
    let created: Awaited<ReturnType<FlyApi["createMachine"]>>;
    try {
      volumeId = (await fly.createVolume(flyApp, { name: "pipbot_data", region, size_gb: 1 })).id;
      await ctx.runMutation(internal.provisioning.patchMachine, { id: doc, volumeId });
      created = await fly.createMachine(flyApp, {
        name: `pipbot-${a.userId}`
          .toLowerCase()
          .replace(/[^a-z0-9-]/g, "-")
          .slice(0, 60),
        region,
        config: machineConfig({
          image: image.imageRef,
          volumeId,
          env: {
            CONVEX_URL: cloudUrl,
            CONVEX_SITE_URL: siteUrl,
            PIPBOT_SERVICE_TOKEN: serviceToken,
            CLERK_USER_ID: a.userId,
            SYNC_SECRET: syncSecret,
            CLAWDBOT_GATEWAY_TOKEN: gatewayToken,
          },
        }),
      });
    } catch (e) {
      return await fail((e as Error).message);
    }
    await ctx.runMutation(internal.credentials.register, {
      userId: a.userId,
      machineId: created.id,
      serviceToken,
      syncSecret,
    });
    await ctx.runMutation(internal.provisioning.patchMachine, {
      id: doc,
      machineId: created.id,
      state: "starting",
    });
    const { machine, problem } = await waitHealthy(fly, flyApp, created.id, created.instance_id, t);
    if (problem) return await fail(problem, lastEvents(machine), created.id);
    await ctx.runMutation(internal.provisioning.patchMachine, {
      id: doc,
      state: "started",
      lastHealth: { at: Date.now(), status: "passing" },
    });
    logLine({ event: "machine_create", userId: a.userId, flyApp, machineId: created.id, ok: true });
    return { ok: true, machineDoc: doc, machineId: created.id, gatewayToken };
  },
});

/** Machines by image ref and state (the dashboard's fleet view); both filters optional. */
export const machines = internalQuery({
  args: { imageRef: v.optional(v.string()), state: v.optional(machineState), limit: v.optional(v.number()) },
  handler: async (ctx, a) => {
    const limit = Math.min(a.limit ?? 500, 5000);
    const q = a.imageRef
      ? ctx.db
          .query("machines")
          .withIndex("by_image_state", (i) =>
            a.state ? i.eq("imageRef", a.imageRef!).eq("state", a.state) : i.eq("imageRef", a.imageRef!),
          )
      : a.state
        ? ctx.db.query("machines").withIndex("by_state", (i) => i.eq("state", a.state!))
        : ctx.db.query("machines");
    return (await q.take(limit)).map(({ _creationTime, ...m }) => m);
  },
});

/** How many machines run which image, per state (the rollout's before/after picture). */
export const fleetSummary = internalQuery({
  args: {},
  handler: async (ctx) => {
    const counts: Record<string, Record<string, number>> = {};
    for await (const m of ctx.db.query("machines")) {
      const byState = counts[m.imageRef] ?? {};
      counts[m.imageRef] = byState;
      byState[m.state] = (byState[m.state] ?? 0) + 1;
    }
    return counts;
  },
});
