/**
 * The backend's tables. Every row keyed by a user carries the Clerk user id (`userId`) the VM was
 * provisioned with; sync rows are upserted on (userId, id), usage rows on the request id.
 */
import { defineSchema, defineTable } from "convex/server";
import { v } from "convex/values";

export const machineState = v.union(
  v.literal("creating"),
  v.literal("starting"),
  v.literal("started"),
  v.literal("failed"),
  v.literal("stopped"),
  v.literal("updating"),
  v.literal("destroyed"),
);

export const usageStatus = v.union(
  v.literal("started"), // written before the upstream call; left as is when the action was killed
  v.literal("finalized"), // the upstream answered 2xx and its usage was read
  v.literal("failed"), // the upstream answered an error (nothing billed by it)
  v.literal("cut"), // the stream ended early (client gone, upstream cut): tokens are what was seen
);

/** The token counts a usage row carries (and `usage.finish` adds), as normalised by lib/usageMeter. */
export const tokenFields = {
  inputTokens: v.number(),
  outputTokens: v.number(),
  cacheReadTokens: v.number(),
  cacheWriteTokens: v.number(),
  reasoningTokens: v.number(),
};

/** What a synced attachment is, on each of its chunks and on its assembled row. */
const attachmentFields = {
  userId: v.string(),
  attachmentId: v.string(),
  messageId: v.string(),
  sessionId: v.string(),
  mimeType: v.string(),
  size: v.number(),
  sha256: v.string(),
  count: v.number(),
};

export default defineSchema({
  users: defineTable({
    userId: v.string(),
    createdAt: v.number(),
    disabledAt: v.optional(v.number()),
  }).index("by_userId", ["userId"]),

  /** Per-machine secrets: a service token (stored as its SHA-256) and a sync HMAC key. Revocable. */
  credentials: defineTable({
    userId: v.string(),
    machineId: v.optional(v.string()),
    serviceTokenHash: v.string(),
    syncSecret: v.string(),
    createdAt: v.number(),
    revokedAt: v.optional(v.number()),
  }).index("by_user", ["userId"]),

  machines: defineTable({
    userId: v.string(),
    flyApp: v.string(),
    machineId: v.optional(v.string()),
    region: v.string(),
    imageRef: v.string(),
    volumeId: v.optional(v.string()),
    state: machineState,
    lastHealth: v.optional(v.object({ at: v.number(), status: v.string(), detail: v.optional(v.string()) })),
    error: v.optional(v.string()),
    lastEvents: v.optional(v.array(v.any())),
    createdAt: v.number(),
    updatedAt: v.number(),
  })
    .index("by_user", ["userId"])
    .index("by_machineId", ["machineId"])
    .index("by_image_state", ["imageRef", "state"])
    .index("by_state", ["state"]),

  usage: defineTable({
    requestId: v.string(),
    userId: v.string(),
    machineId: v.optional(v.string()),
    conversationId: v.optional(v.string()),
    provider: v.string(),
    model: v.optional(v.string()),
    status: usageStatus,
    httpStatus: v.optional(v.number()),
    attempts: v.number(),
    finishedAttempts: v.array(v.number()),
    ...tokenFields,
    costUsd: v.number(),
    day: v.string(),
    startedAt: v.number(),
    finishedAt: v.optional(v.number()),
    error: v.optional(v.string()),
  })
    .index("by_requestId", ["requestId"])
    .index("by_status", ["status", "startedAt"])
    .index("by_user_day", ["userId", "day"])
    .index("by_day", ["day"]),

  /** Spend per user and period key ("2026-12" or "2026-12-04"), kept in step with usage. */
  spend: defineTable({
    userId: v.string(),
    periodKey: v.string(),
    costUsd: v.number(),
    requests: v.number(),
  }).index("by_user_period", ["userId", "periodKey"]),

  budgets: defineTable({
    userId: v.string(),
    period: v.union(v.literal("day"), v.literal("month")),
    limitUsd: v.number(),
    updatedAt: v.number(),
  }).index("by_user_period", ["userId", "period"]),

  conversations: defineTable({
    userId: v.string(),
    sessionId: v.string(),
    sessionKey: v.string(),
    firstAt: v.number(),
    lastAt: v.number(),
    messageCount: v.number(),
    deletedAt: v.optional(v.number()),
  })
    .index("by_user_session", ["userId", "sessionId"])
    .index("by_user_last", ["userId", "lastAt"]),

  messages: defineTable({
    userId: v.string(),
    id: v.string(),
    seq: v.number(),
    sessionKey: v.string(),
    sessionId: v.string(),
    role: v.union(v.literal("user"), v.literal("assistant")),
    content: v.array(v.any()),
    createdAt: v.number(),
    model: v.optional(v.string()),
    usage: v.optional(v.any()),
    stopReason: v.optional(v.string()),
    error: v.optional(v.object({ code: v.string(), message: v.string() })),
    machineId: v.optional(v.string()),
    receivedAt: v.number(),
  })
    .index("by_user_id", ["userId", "id"])
    .index("by_user_session", ["userId", "sessionId", "createdAt"]),

  tombstones: defineTable({
    userId: v.string(),
    id: v.string(),
    sessionId: v.string(),
    sessionKey: v.string(),
    deletedAt: v.number(),
    receivedAt: v.number(),
  })
    .index("by_user_id", ["userId", "id"])
    .index("by_user_session", ["userId", "sessionId"]),

  attachmentChunks: defineTable({
    ...attachmentFields,
    id: v.string(),
    index: v.number(),
    data: v.bytes(),
  })
    .index("by_user_id", ["userId", "id"])
    .index("by_user_attachment", ["userId", "attachmentId", "index"]),

  /** One row per attachment: its receive counter, then where the assembled file is stored. */
  attachments: defineTable({
    ...attachmentFields,
    received: v.number(),
    status: v.union(v.literal("receiving"), v.literal("stored"), v.literal("quarantined")),
    storageId: v.optional(v.id("_storage")),
    updatedAt: v.number(),
  }).index("by_user_attachment", ["userId", "attachmentId"]),

  /** What the receiver refused to store silently: kept with the reason, listed for operators. */
  quarantine: defineTable({
    userId: v.string(),
    kind: v.string(),
    ref: v.string(),
    reason: v.string(),
    at: v.number(),
  }).index("by_user", ["userId"]),

  /** Settings with one owner each; `imageRef` is THE image new machines are created from. */
  settings: defineTable({
    key: v.string(),
    value: v.string(),
    digest: v.optional(v.string()),
    updatedAt: v.number(),
  }).index("by_key", ["key"]),

  rollouts: defineTable({
    imageRef: v.string(),
    digest: v.optional(v.string()),
    fromImageRef: v.optional(v.string()),
    state: v.union(
      v.literal("running"),
      v.literal("rolling_back"),
      v.literal("completed"),
      v.literal("failed"),
      v.literal("aborted"),
    ),
    waves: v.array(v.number()),
    currentWave: v.number(),
    /** A wave fails when more than floor(size × maxFailureRate) of its machines fail. */
    maxFailureRate: v.number(),
    concurrency: v.number(),
    total: v.number(),
    reason: v.optional(v.string()),
    tickAt: v.number(),
    createdAt: v.number(),
    updatedAt: v.number(),
  }).index("by_state", ["state"]),

  rolloutTargets: defineTable({
    rolloutId: v.id("rollouts"),
    machineDoc: v.id("machines"),
    flyApp: v.string(),
    machineId: v.string(),
    previousImage: v.string(),
    wave: v.number(),
    state: v.union(
      v.literal("pending"),
      v.literal("updating"),
      v.literal("updated"),
      v.literal("failed"),
      v.literal("restoring"),
      v.literal("restored"),
      v.literal("restore_failed"),
      v.literal("skipped"),
    ),
    error: v.optional(v.string()),
    /** A tick owns an updating/restoring target until then (a crashed tick's targets are reclaimed after). */
    leaseUntil: v.number(),
    updatedAt: v.number(),
  })
    .index("by_rollout_wave", ["rolloutId", "wave", "state"])
    .index("by_rollout_state", ["rolloutId", "state"]),
});
