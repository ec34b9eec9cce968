/**
 * Per-machine credentials: the service token (proxy-v1, stored only as its SHA-256) and the sync
 * HMAC key (sync-v1). Minted by provisioning, revocable; verified in constant time.
 */
import { v } from "convex/values";
import { internal } from "./_generated/api";
import { type ActionCtx, internalMutation, internalQuery } from "./_generated/server";
import { constantTimeEqual, hmacSha256Hex, sha256Hex } from "./lib/crypto";

export const register = internalMutation({
  args: {
    userId: v.string(),
    machineId: v.optional(v.string()),
    serviceToken: v.string(),
    syncSecret: v.string(),
  },
  handler: async (ctx, a) => {
    if (a.serviceToken.length < 16 || a.syncSecret.length < 16)
      throw new Error("serviceToken and syncSecret must be at least 16 characters");
    const user = await ctx.db
      .query("users")
      .withIndex("by_userId", (q) => q.eq("userId", a.userId))
      .unique();
    if (!user) await ctx.db.insert("users", { userId: a.userId, createdAt: Date.now() });
    return await ctx.db.insert("credentials", {
      userId: a.userId,
      ...(a.machineId ? { machineId: a.machineId } : {}),
      serviceTokenHash: await sha256Hex(a.serviceToken),
      syncSecret: a.syncSecret,
      createdAt: Date.now(),
    });
  },
});

/** Revokes every credential of a user (or only one machine's); returns how many. */
export const revoke = internalMutation({
  args: { userId: v.string(), machineId: v.optional(v.string()) },
  handler: async (ctx, a) => {
    const rows = await ctx.db
      .query("credentials")
      .withIndex("by_user", (q) => q.eq("userId", a.userId))
      .collect();
    let n = 0;
    for (const r of rows) {
      if (r.revokedAt !== undefined || (a.machineId && r.machineId !== a.machineId)) continue;
      await ctx.db.patch(r._id, { revokedAt: Date.now() });
      n++;
    }
    return n;
  },
});

export const activeForUser = internalQuery({
  args: { userId: v.string() },
  handler: async (ctx, { userId }) => {
    const user = await ctx.db
      .query("users")
      .withIndex("by_userId", (q) => q.eq("userId", userId))
      .unique();
    if (!user || user.disabledAt !== undefined) return [];
    const rows = await ctx.db
      .query("credentials")
      .withIndex("by_user", (q) => q.eq("userId", userId))
      .collect();
    return rows
      .filter((r) => r.revokedAt === undefined)
      .map((r) => ({ serviceTokenHash: r.serviceTokenHash, syncSecret: r.syncSecret }));
  },
});

/** True when `token` is an active service token of `userId` (every candidate compared, constant time). */
export async function verifyServiceToken(ctx: ActionCtx, userId: string, token: string): Promise<boolean> {
  const creds = await ctx.runQuery(internal.credentials.activeForUser, { userId });
  const presented = await sha256Hex(token);
  let ok = false;
  for (const c of creds) ok = constantTimeEqual(presented, c.serviceTokenHash) || ok;
  return ok;
}

/** True when `signature` is `v1=<hex HMAC(syncSecret, ts + "." + raw)>` for an active key of `userId`. */
export async function verifySyncSignature(
  ctx: ActionCtx,
  userId: string,
  timestamp: string,
  raw: Uint8Array,
  signature: string,
): Promise<boolean> {
  const m = /^v1=([0-9a-f]{64})$/.exec(signature);
  if (!m?.[1]) return false;
  const creds = await ctx.runQuery(internal.credentials.activeForUser, { userId });
  let ok = false;
  for (const c of creds) {
    const expected = await hmacSha256Hex(c.syncSecret, [`${timestamp}.`, raw]);
    ok = constantTimeEqual(m[1], expected) || ok;
  }
  return ok;
}
