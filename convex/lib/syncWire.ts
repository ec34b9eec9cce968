/**
 * The sync-v1 request body as the receiver accepts it (docs/SYNC.md + the extension in
 * docs/CONVEX.md): exact keys, three entry kinds, limits. One schema, used by the push action.
 */
import { z } from "zod";

export const MAX_ENTRIES = 200;
export const MAX_BODY_BYTES = 1_000_000;
export const TIMESTAMP_TOLERANCE_S = 300;
export const MAX_CHUNK_BYTES = 262_144;

const HEX64 = /^[0-9a-f]{64}$/;

const textBlock = z.object({ type: z.literal("text"), text: z.string() }).strict();
const fileRef = z
  .object({
    type: z.enum(["image", "document"]),
    attachmentId: z.string().min(1),
    mimeType: z.string().min(1),
    fileName: z.string().optional(),
    size: z.number().int().nonnegative(),
    sha256: z.string().regex(HEX64, "sha256 must be 64 lowercase hex digits"),
  })
  .strict();

const usage = z.record(z.string(), z.unknown());

const messageEntry = z
  .object({
    kind: z.literal("message").optional(),
    id: z.string().min(1),
    seq: z.number().int().positive(),
    sessionKey: z.string().min(1),
    sessionId: z.string().min(1),
    role: z.enum(["user", "assistant"]),
    content: z.array(z.discriminatedUnion("type", [textBlock, fileRef])),
    createdAt: z.number().int().positive(),
    model: z.string().optional(),
    usage: usage.optional(),
    stopReason: z.string().min(1).max(64).optional(),
    error: z.object({ code: z.string(), message: z.string() }).strict().optional(),
  })
  .strict();

const tombstoneEntry = z
  .object({
    kind: z.literal("session_tombstone"),
    id: z.string().min(1),
    seq: z.number().int().positive(),
    sessionKey: z.string().min(1),
    sessionId: z.string().min(1),
    deletedAt: z.number().int().positive(),
  })
  .strict()
  .refine((e) => e.id === `tombstone:${e.sessionId}`, {
    message: "a tombstone's id must be tombstone:<sessionId>",
  });

const chunkEntry = z
  .object({
    kind: z.literal("attachment_chunk"),
    id: z.string().min(1),
    seq: z.number().int().positive(),
    attachmentId: z.string().min(1),
    messageId: z.string().min(1),
    sessionId: z.string().min(1),
    mimeType: z.string().min(1),
    size: z.number().int().nonnegative(),
    sha256: z.string().regex(HEX64, "sha256 must be 64 lowercase hex digits"),
    index: z.number().int().nonnegative(),
    count: z.number().int().positive(),
    data: z.string(),
  })
  .strict()
  .refine((e) => e.index < e.count, { message: "index must be below count" })
  .refine((e) => e.id === `attachment:${e.attachmentId}:${e.index}`, {
    message: "a chunk's id must be attachment:<attachmentId>:<index>",
  });

export const entrySchema = z.union([messageEntry, tombstoneEntry, chunkEntry]);

export const bodySchema = z
  .object({
    batchId: z.uuid(),
    userId: z.string().min(1),
    machineId: z.string().nullable(),
    entries: z.array(z.unknown()).min(1),
  })
  .strict();

export type MessageEntry = z.infer<typeof messageEntry>;
export type TombstoneEntry = z.infer<typeof tombstoneEntry>;
export type ChunkEntry = z.infer<typeof chunkEntry>;
export type SyncEntry = MessageEntry | TombstoneEntry | ChunkEntry;

/** Parses one entry by its kind, so an error names the entry and its own problem. */
export function parseEntry(raw: unknown): { ok: true; entry: SyncEntry } | { ok: false; error: string } {
  const kind = (raw as { kind?: unknown } | null)?.kind ?? "message";
  const schema =
    kind === "message"
      ? messageEntry
      : kind === "session_tombstone"
        ? tombstoneEntry
        : kind === "attachment_chunk"
          ? chunkEntry
          : null;
  const id = (raw as { id?: unknown } | null)?.id;
  const name = typeof id === "string" ? `entry ${id}` : "an entry";
  if (!schema) return { ok: false, error: `${name}: unknown kind ${JSON.stringify(kind)}` };
  const r = schema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0];
    const at = issue?.path.length ? ` at ${issue.path.join(".")}` : "";
    return { ok: false, error: `${name}: ${issue?.message ?? "invalid"}${at}` };
  }
  return { ok: true, entry: r.data as SyncEntry };
}
