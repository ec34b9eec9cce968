/**
 * The operator API on the site host, behind `Authorization: Bearer $ADMIN_TOKEN` (compared in
 * constant time; the API is off until ADMIN_TOKEN is set). `pipbot release rollout` calls it.
 *   POST /admin/v1/rollouts          {imageRef, fromImageRef?, canary?, growth?, maxFailureRate?, concurrency?}
 *   GET  /admin/v1/rollouts/status   ?id=…  (default: the latest rollout)
 *   POST /admin/v1/rollouts/abort    {id?}
 *   POST /admin/v1/rollouts/resume   {id?}
 *   GET  /admin/v1/image             the image new machines are created from
 *   POST /admin/v1/image             {imageRef}: validated against the registry, then stored
 */
import { internal } from "./_generated/api";
import type { Id } from "./_generated/dataModel";
import { type ActionCtx, httpAction } from "./_generated/server";
import { constantTimeEqual } from "./lib/crypto";
import { logLine } from "./lib/log";

const json = (status: number, body: unknown) =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });

type Handler = (ctx: ActionCtx, body: Record<string, unknown>, url: URL) => Promise<Response>;

const optNum = (x: unknown) => (typeof x === "number" ? x : undefined);
const clean = <T extends Record<string, unknown>>(o: T) =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;

const ROUTES: Record<string, Handler> = {
  "POST /admin/v1/rollouts": async (ctx, b) => {
    if (typeof b.imageRef !== "string") return json(400, { error: "imageRef (string) is required" });
    const r = await ctx.runAction(
      internal.rolloutTick.begin,
      clean({
        imageRef: b.imageRef,
        fromImageRef: typeof b.fromImageRef === "string" ? b.fromImageRef : undefined,
        canary: optNum(b.canary),
        growth: optNum(b.growth),
        maxFailureRate: optNum(b.maxFailureRate),
        concurrency: optNum(b.concurrency),
      }),
    );
    return json(200, r);
  },
  "GET /admin/v1/rollouts/status": async (ctx, _b, url) => {
    const id = url.searchParams.get("id");
    const s = await ctx.runQuery(
      internal.rolloutControl.status,
      id ? { rolloutId: id as Id<"rollouts"> } : {},
    );
    return s ? json(200, s) : json(404, { error: "no rollout yet" });
  },
  "POST /admin/v1/rollouts/abort": async (ctx, b) => {
    const id = await ctx.runMutation(
      internal.rolloutControl.abort,
      typeof b.id === "string" ? { rolloutId: b.id as Id<"rollouts"> } : {},
    );
    return id ? json(200, { aborted: id }) : json(409, { error: "no running rollout to abort" });
  },
  "POST /admin/v1/rollouts/resume": async (ctx, b) => {
    const id = await ctx.runMutation(
      internal.rolloutControl.resume,
      typeof b.id === "string" ? { rolloutId: b.id as Id<"rollouts"> } : {},
    );
    return id ? json(200, { resumed: id }) : json(409, { error: "no running rollout to resume" });
  },
  "GET /admin/v1/image": async (ctx) => json(200, await ctx.runQuery(internal.provisioning.currentImage, {})),
  "POST /admin/v1/image": async (ctx, b) => {
    if (typeof b.imageRef !== "string") return json(400, { error: "imageRef (string) is required" });
    return json(200, await ctx.runAction(internal.provisioning.setImageRef, { imageRef: b.imageRef }));
  },
};

export const admin = httpAction(async (ctx, request) => {
  const url = new URL(request.url);
  const key = `${request.method} ${url.pathname}`;
  const expected = process.env.ADMIN_TOKEN;
  if (!expected || expected.length < 32)
    return json(503, { error: "the admin API is off: set ADMIN_TOKEN (≥ 32 characters)" });
  const presented = /^Bearer (.+)$/.exec(request.headers.get("authorization") ?? "")?.[1] ?? "";
  if (!constantTimeEqual(presented, expected)) return json(401, { error: "bad or missing admin token" });
  const route = ROUTES[key];
  if (!route) return json(404, { error: `no admin route ${key}` });
  let body: Record<string, unknown> = {};
  if (request.method === "POST") {
    try {
      body = ((await request.json()) ?? {}) as Record<string, unknown>;
    } catch {
      return json(400, { error: "the body must be JSON" });
    }
  }
  try {
    const res = await route(ctx, body, url);
    logLine({ event: "admin", route: key, status: res.status });
    return res;
  } catch (e) {
    // Convex wraps errors thrown in functions: keep the operator-facing sentence.
    const message = String((e as Error).message ?? e)
      .replace(/^.*?Uncaught Error: /s, "")
      .split("\n")[0];
    logLine({ event: "admin", route: key, status: 422, error: message });
    return json(422, { error: message });
  }
});
