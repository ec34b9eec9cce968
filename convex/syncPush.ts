/**
 * sync-v1 receiver: `POST /sync/v1/push`. Authenticates (user, ±300 s timestamp, HMAC over the raw
 * body bytes), validates strictly (400/413 as docs/SYNC.md says), upserts the entries in slices
 * of bounded transactions and answers `{ackedThroughSeq, inserted, duplicates}`: the highest seq
 * through which every entry of the batch is stored.
 */
import { internal } from "./_generated/api";
import { httpAction } from "./_generated/server";
import { verifySyncSignature } from "./credentials";
import { base64ToBytes } from "./lib/crypto";
import { logLine } from "./lib/log";
import {
  bodySchema,
  type ChunkEntry,
  MAX_BODY_BYTES,
  MAX_CHUNK_BYTES,
  MAX_ENTRIES,
  parseEntry,
  type SyncEntry,
  TIMESTAMP_TOLERANCE_S,
} from "./lib/syncWire";

/** Entries upserted per mutation: keeps each transaction far below Convex's write limits. */
const SLICE = 50;

const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json", ...headers } });

export const push = httpAction(async (ctx, request) => {
  const started = Date.now();
  const line: Record<string, unknown> = { event: "sync_push" };
  const reply = (status: number, body: Record<string, unknown>) => {
    logLine({
      ...line,
      status,
      durationMs: Date.now() - started,
      ...(status >= 400 ? { error: body.error } : {}),
    });
    return json(status, body);
  };
  const type = request.headers.get("content-type") ?? "";
  if (!/^application\/json\s*(;|$)/i.test(type))
    return reply(400, { error: "content-type must be application/json" });

  const userId = request.headers.get("x-pipbot-user-id");
  const ts = request.headers.get("x-pipbot-timestamp");
  const sig = request.headers.get("x-pipbot-signature");
  if (!userId || !ts || !sig)
    return reply(401, { error: "missing x-pipbot-user-id, -timestamp or -signature" });
  line.userId = userId;
  if (!/^\d+$/.test(ts) || Math.abs(Math.floor(Date.now() / 1000) - Number(ts)) > TIMESTAMP_TOLERANCE_S)
    return reply(401, { error: "timestamp outside the allowed window" });
  const raw = new Uint8Array(await request.arrayBuffer());
  line.bytes = raw.length;
  if (!(await verifySyncSignature(ctx, userId, ts, raw, sig)))
    return reply(401, { error: "bad signature or unknown user" });
  if (raw.length > MAX_BODY_BYTES)
    return reply(413, { error: `body of ${raw.length} bytes is over 1,000,000` });

  let parsedJson: unknown;
  try {
    parsedJson = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(raw));
  } catch {
    return reply(400, { error: "body is not UTF-8 JSON" });
  }
  const body = bodySchema.safeParse(parsedJson);
  if (!body.success) return reply(400, { error: `invalid body: ${body.error.issues[0]?.message}` });
  const { batchId, machineId } = body.data;
  line.batchId = batchId;
  if (body.data.userId !== userId) return reply(400, { error: "userId does not match x-pipbot-user-id" });
  if (body.data.entries.length > MAX_ENTRIES)
    return reply(413, { error: `${body.data.entries.length} entries is over ${MAX_ENTRIES}` });
  const entries: SyncEntry[] = [];
  for (const raw of body.data.entries) {
    const p = parseEntry(raw);
    if (!p.ok) return reply(400, { error: p.error });
    entries.push(p.entry);
  }
  for (let i = 1; i < entries.length; i++)
    if (entries[i]!.seq <= entries[i - 1]!.seq) return reply(400, { error: "seqs must ascend" });
  type WireEntry = Exclude<SyncEntry, ChunkEntry> | (Omit<ChunkEntry, "data"> & { data: ArrayBuffer });
  const wire: WireEntry[] = [];
  for (const e of entries) {
    if (e.kind !== "attachment_chunk") {
      wire.push(e);
      continue;
    }
    const data = base64ToBytes(e.data);
    if (!data) return reply(400, { error: `entry ${e.id}: data is not base64` });
    if (data.length > MAX_CHUNK_BYTES)
      return reply(413, { error: `entry ${e.id}: a chunk holds at most ${MAX_CHUNK_BYTES} bytes` });
    wire.push({
      ...e,
      data: data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) as ArrayBuffer,
    });
  }
  line.entries = entries.length;
  line.firstSeq = entries[0]?.seq;
  line.lastSeq = entries.at(-1)?.seq;

  let ackedThroughSeq = 0;
  let inserted = 0;
  let duplicates = 0;
  const store = async (slice: typeof wire) => {
    const r = await ctx.runMutation(internal.syncIngest.ingest, {
      userId,
      ...(machineId ? { machineId } : {}),
      entries: slice,
    });
    inserted += r.inserted;
    duplicates += r.duplicates;
    ackedThroughSeq = slice.at(-1)!.seq;
  };
  let rejected: { id: string; reason: string } | null = null;
  for (let i = 0; i < wire.length && !rejected; i += SLICE) {
    const slice = wire.slice(i, i + SLICE);
    try {
      await store(slice);
    } catch {
      // Find the entry the store refuses (Convex limits: nesting, fields, document size): the
      // ones before it are stored and acked; it is answered 400 when it comes first, so the
      // sender isolates it and, after its retries, quarantines it — never retried forever.
      for (const entry of slice) {
        try {
          await store([entry]);
        } catch (e) {
          rejected = { id: entry.id, reason: String((e as Error).message ?? e).slice(0, 300) };
          break;
        }
      }
    }
  }
  if (rejected) {
    line.storeError = rejected.reason;
    line.rejectedId = rejected.id;
    if (ackedThroughSeq === 0)
      return reply(400, { error: `entry ${rejected.id} cannot be stored: ${rejected.reason}` });
  }
  Object.assign(line, { ackedThroughSeq, inserted, duplicates });
  return reply(200, { ackedThroughSeq, inserted, duplicates });
});
