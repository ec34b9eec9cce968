/**
 * A fake Convex sync endpoint that implements sync-v1 EXACTLY (shared/specs/convex-contracts.md):
 * - `POST /sync/v1/push`, `content-type: application/json`;
 * - `x-pipbot-user-id` must be the user, `x-pipbot-timestamp` (unix seconds) at most 300 s from the
 *   receiver's clock, and `x-pipbot-signature: v1=<lowercase hex HMAC-SHA256(secret, ts + "." +
 *   rawBody)>` compared in constant time over the raw body bytes: 401 otherwise;
 * - the body validated strictly (exact keys, `userId` = the header, seqs ascending: 400), at most
 *   200 entries and 1 MB (read strictly as 1,000,000 bytes: 413);
 * - an idempotent upsert of each entry on (userId, id): a replay changes nothing;
 * - `200 {ackedThroughSeq, inserted, duplicates}`, where `ackedThroughSeq` is the highest seq of the
 *   batch through which every entry is stored.
 * Every answer carries a `Date` header from the receiver's clock (as a real HTTP server does).
 *
 * A real HTTP server (node:http, so a test can reset a connection) on 127.0.0.1, port 0 by default.
 * It deliberately does not import src/sync: signing is verified independently of the sender.
 * Faults are injected by mutating `faults`.
 */
import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { z } from "zod";

export const MAX_ENTRIES = 200;
export const MAX_BODY_BYTES = 1_000_000;
export const TIMESTAMP_TOLERANCE_S = 300;

const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/);
/** A message content block: text, or a reference to an attachment whose bytes travel as chunks. */
const blockSchema = z.union([
  z.object({ type: z.literal("text"), text: z.string() }).strict(),
  z
    .object({
      type: z.enum(["image", "document"]),
      attachmentId: z.string().min(1),
      mimeType: z.string().min(1),
      fileName: z.string().optional(),
      size: z.number().int().nonnegative(),
      sha256: sha256Hex,
      /** Never present: lets readers take `block.text` of any block. */
      text: z.never().optional(),
    })
    .strict(),
]);

const entrySchema = z
  .object({
    kind: z.literal("message").optional(),
    id: z.string().min(1),
    seq: z.number().int().positive(),
    sessionKey: z.string().min(1),
    sessionId: z.string().min(1),
    role: z.enum(["user", "assistant"]),
    content: z.array(blockSchema),
    createdAt: z.number().int().positive(),
    model: z.string().optional(),
    usage: z.record(z.string(), z.unknown()).optional(),
    stopReason: z.enum(["end_turn", "max_tokens", "tool_use", "aborted", "interrupted", "error"]).optional(),
    error: z.object({ code: z.string(), message: z.string() }).strict().optional(),
  })
  .strict();

/** sync-v1 extension: a deleted session (docs/SYNC.md). */
const tombstoneSchema = z
  .object({
    kind: z.literal("session_tombstone"),
    id: z.string().regex(/^tombstone:.+/),
    seq: z.number().int().positive(),
    sessionKey: z.string().min(1),
    sessionId: z.string().min(1),
    deletedAt: z.number().int().positive(),
  })
  .strict();

/** sync-v1 extension: one chunk (≤ 262144 raw bytes) of an attachment's bytes (docs/SYNC.md). */
export const CHUNK_MAX_BYTES = 262_144;
const chunkSchema = z
  .object({
    kind: z.literal("attachment_chunk"),
    id: z.string().regex(/^attachment:.+:\d+$/),
    seq: z.number().int().positive(),
    attachmentId: z.string().min(1),
    messageId: z.string().min(1),
    sessionId: z.string().min(1),
    mimeType: z.string().min(1),
    size: z.number().int().nonnegative(),
    sha256: sha256Hex,
    index: z.number().int().nonnegative(),
    count: z.number().int().positive(),
    data: z.base64(),
  })
  .strict();

const anyEntrySchema = z.union([tombstoneSchema, chunkSchema, entrySchema]);

const bodySchema = z
  .object({
    batchId: z.uuid(),
    userId: z.string().min(1),
    machineId: z.string().nullable(),
    entries: z.array(anyEntrySchema).min(1),
  })
  .strict();

export type ReceivedEntry = z.infer<typeof entrySchema>;
export type ReceivedTombstone = z.infer<typeof tombstoneSchema>;
export type ReceivedChunk = z.infer<typeof chunkSchema>;

/** An attachment assembled from all its chunks, verified (size + sha256) or quarantined. */
export interface AssembledFile {
  attachmentId: string;
  messageId: string;
  mimeType: string;
  bytes: Uint8Array;
}

export interface Faults {
  /** Answer the next requests with these statuses (one per request, in order), after the signature check. */
  failNext: { status: number; retryAfter?: string; body?: string }[];
  /** Answer 401 to every correctly signed request (revoked credentials). */
  authFail: boolean;
  /** 413 when a batch has more entries than this (the contract limit is 200 regardless). */
  maxEntries?: number;
  /** 413 when a body is larger than this (the contract limit is 1 MB regardless). */
  maxBodyBytes?: number;
  /** 400 for any batch containing one of these message ids. */
  poisonIds: Set<string>;
  /** Upsert the batch, then wait this long before answering (a slow or timed-out response). */
  delayMs: number;
  /** Destroy the connection of the next N requests without an answer (connection reset). */
  resetNext: number;
  /** Upsert only the first N entries of each batch and ack through the last of them. */
  ackLimit?: number;
  /** Upsert the batch, then answer only once this settles (a response the test releases). */
  hold?: Promise<void>;
}

export interface BatchRecord {
  batchId: string;
  seqs: number[];
  ids: string[];
  inserted: number;
  duplicates: number;
}

export interface RequestRecord {
  at: number;
  status: number | "reset";
  entries: number;
  bytes: number;
  seqs: number[];
}

export interface SyncReceiver {
  url: string;
  port: number;
  faults: Faults;
  /** Stored message entries by `storeKey(userId, id)` (each stored exactly once: the effect). */
  store: Map<string, ReceivedEntry & { userId: string }>;
  /** Deleted sessions by sessionId (a later message for it does not resurrect it). */
  tombstones: Map<string, ReceivedTombstone>;
  /** Attachment chunks by entry id (idempotent like every entry). */
  chunks: Map<string, ReceivedChunk>;
  /** Attachments whose chunks are all here and whose size and sha256 match. */
  files: Map<string, AssembledFile>;
  /** Attachments whose assembled bytes did not match (reported, never dropped silently). */
  quarantined: Map<string, string>;
  /** Seqs of entries in the order they were FIRST inserted. */
  firstSeenSeqs: number[];
  /** Every accepted (2xx) batch. */
  accepted: BatchRecord[];
  /** Every request, answered or not. */
  requests: RequestRecord[];
  /** Replays whose content differed from what was stored (must stay 0). */
  conflicts: number;
  /** Requests being handled right now, and the most ever at once (one batch in flight: 1). */
  inFlight: number;
  maxInFlight: number;
  /** Called after a batch was upserted and before its answer is sent. */
  onAccepted?: (b: BatchRecord) => void;
  ids(): Set<string>;
  /** Stop listening and drop open connections (connection refused until `up()`). */
  down(): Promise<void>;
  /** Listen again on the same port. */
  up(): Promise<void>;
  stop(): Promise<void>;
}

export interface ReceiverOptions {
  secret: string;
  userId: string;
  port?: number;
  /** The receiver's clock (epoch ms). */
  now?: () => number;
}

export function defaultFaults(): Faults {
  return { failNext: [], authFail: false, poisonIds: new Set(), delayMs: 0, resetNext: 0 };
}

/** The upsert key: (userId, id), unambiguous whatever characters the ids contain. */
export const storeKey = (userId: string, id: string) => JSON.stringify([userId, id]);

/** HMAC over the raw body BYTES (not a decoded string), compared in constant time. */
function verifySignature(secret: string, timestamp: string, rawBody: Buffer, header: string): boolean {
  const m = /^v1=([0-9a-f]{64})$/.exec(header);
  if (!m) return false;
  const expected = createHmac("sha256", secret).update(`${timestamp}.`).update(rawBody).digest();
  return timingSafeEqual(Buffer.from(m[1]!, "hex"), expected);
}

export async function startSyncReceiver(opts: ReceiverOptions): Promise<SyncReceiver> {
  const now = opts.now ?? Date.now;
  const sockets = new Set<import("node:net").Socket>();
  let server: Server;

  const send = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(status, {
      "content-type": "application/json",
      date: new Date(now()).toUTCString(),
      ...headers,
    });
    res.end(typeof body === "string" ? body : JSON.stringify(body));
  };

  const r: SyncReceiver = {
    url: "",
    port: 0,
    faults: defaultFaults(),
    store: new Map(),
    tombstones: new Map(),
    chunks: new Map(),
    files: new Map(),
    quarantined: new Map(),
    firstSeenSeqs: [],
    accepted: [],
    requests: [],
    conflicts: 0,
    inFlight: 0,
    maxInFlight: 0,
    ids: () => new Set([...r.store.values()].map((e) => e.id)),
    down: async () => {
      await new Promise<void>((res) => {
        server.close(() => res());
        for (const s of sockets) s.destroy();
      });
    },
    up: async () => {
      server = makeServer();
      await listen(r.port);
    },
    stop: async () => {
      if (server.listening) await r.down();
    },
  };

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks);
    const rawBody = raw.toString("utf8");
    const rec: RequestRecord = { at: now(), status: 0, entries: 0, bytes: raw.length, seqs: [] };
    r.requests.push(rec);
    try {
      const peek = JSON.parse(rawBody) as { entries?: { seq?: number }[] };
      rec.entries = peek.entries?.length ?? 0;
      rec.seqs = (peek.entries ?? []).map((e) => e.seq ?? -1);
    } catch {
      /* judged below */
    }
    const reply = (status: number, body: unknown, headers?: Record<string, string>) => {
      rec.status = status;
      send(res, status, body, headers);
    };

    if (r.faults.resetNext > 0) {
      r.faults.resetNext--;
      rec.status = "reset";
      req.socket.destroy();
      return;
    }
    if (req.url !== "/sync/v1/push") return reply(404, { error: "not found" });
    if (req.method !== "POST") return reply(405, { error: "use POST" });
    if (req.headers["content-type"] !== "application/json")
      return reply(400, { error: "content-type must be application/json" });

    // Authentication: user, timestamp window, signature over the raw body.
    const userId = req.headers["x-pipbot-user-id"];
    const ts = req.headers["x-pipbot-timestamp"];
    const sig = req.headers["x-pipbot-signature"];
    if (typeof userId !== "string" || typeof ts !== "string" || typeof sig !== "string") {
      return reply(401, { error: "missing signature headers" });
    }
    if (userId !== opts.userId) return reply(401, { error: "unknown user" });
    if (!/^\d+$/.test(ts) || Math.abs(Math.floor(now() / 1000) - Number(ts)) > TIMESTAMP_TOLERANCE_S) {
      return reply(401, { error: "timestamp outside the allowed window" });
    }
    if (!verifySignature(opts.secret, ts, raw, sig)) return reply(401, { error: "bad signature" });

    // Injected faults.
    if (r.faults.authFail) return reply(401, { error: "token revoked" });
    const f = r.faults.failNext.shift();
    if (f)
      return reply(
        f.status,
        f.body ?? { error: `injected ${f.status}` },
        f.retryAfter ? { "retry-after": f.retryAfter } : {},
      );
    if (raw.length > Math.min(r.faults.maxBodyBytes ?? MAX_BODY_BYTES, MAX_BODY_BYTES)) {
      return reply(413, { error: `body of ${raw.length} bytes is too large` });
    }

    // Validation.
    let json: unknown;
    try {
      json = JSON.parse(rawBody);
    } catch {
      return reply(400, { error: "body is not JSON" });
    }
    const parsed = bodySchema.safeParse(json);
    if (!parsed.success) return reply(400, { error: `invalid body: ${parsed.error.issues[0]?.message}` });
    const body = parsed.data;
    if (body.userId !== userId) return reply(400, { error: "userId does not match x-pipbot-user-id" });
    if (body.entries.length > Math.min(r.faults.maxEntries ?? MAX_ENTRIES, MAX_ENTRIES)) {
      return reply(413, { error: `${body.entries.length} entries is too many` });
    }
    for (let i = 1; i < body.entries.length; i++) {
      if (body.entries[i]!.seq <= body.entries[i - 1]!.seq) return reply(400, { error: "seqs must ascend" });
    }
    const bigChunk = body.entries.find(
      (e) => e.kind === "attachment_chunk" && Buffer.from(e.data, "base64").length > CHUNK_MAX_BYTES,
    );
    if (bigChunk)
      return reply(400, { error: `chunk ${bigChunk.id} holds more than ${CHUNK_MAX_BYTES} bytes` });
    const poisoned = body.entries.find((e) => r.faults.poisonIds.has(e.id));
    if (poisoned) return reply(400, { error: `entry ${poisoned.id} is invalid` });

    // Idempotent upsert on (userId, id).
    const take = r.faults.ackLimit === undefined ? body.entries : body.entries.slice(0, r.faults.ackLimit);
    const batch: BatchRecord = { batchId: body.batchId, seqs: [], ids: [], inserted: 0, duplicates: 0 };
    for (const e of take) {
      if (e.kind === "session_tombstone" || e.kind === "attachment_chunk") {
        const seen = e.kind === "session_tombstone" ? r.tombstones.has(e.sessionId) : r.chunks.has(e.id);
        if (seen) batch.duplicates++;
        else {
          if (e.kind === "session_tombstone") r.tombstones.set(e.sessionId, e);
          else {
            r.chunks.set(e.id, e);
            assemble(e);
          }
          r.firstSeenSeqs.push(e.seq);
          batch.inserted++;
        }
        batch.seqs.push(e.seq);
        batch.ids.push(e.id);
        continue;
      }
      const key = storeKey(userId, e.id);
      const existing = r.store.get(key);
      if (existing) {
        batch.duplicates++;
        const { userId: _u, ...stored } = existing;
        if (JSON.stringify(stored) !== JSON.stringify(e)) {
          r.conflicts++; // an upsert: the latest version wins (local messages never change, so: 0)
          r.store.set(key, { ...e, userId });
        }
      } else {
        r.store.set(key, { ...e, userId });
        r.firstSeenSeqs.push(e.seq);
        batch.inserted++;
      }
      batch.seqs.push(e.seq);
      batch.ids.push(e.id);
    }
    r.accepted.push(batch);
    r.onAccepted?.(batch);
    if (r.faults.delayMs > 0) await new Promise((res) => setTimeout(res, r.faults.delayMs));
    if (r.faults.hold) await r.faults.hold;
    if (res.destroyed) return;
    reply(200, {
      ackedThroughSeq: take.at(-1)?.seq ?? 0,
      inserted: batch.inserted,
      duplicates: batch.duplicates,
    });
  }

  /** When every chunk of an attachment is here: join, verify size and sha256, store or quarantine. */
  function assemble(c: ReceivedChunk): void {
    const parts: Buffer[] = [];
    for (let i = 0; i < c.count; i++) {
      const part = r.chunks.get(`attachment:${c.attachmentId}:${i}`);
      if (!part) return;
      parts.push(Buffer.from(part.data, "base64"));
    }
    const bytes = Buffer.concat(parts);
    const sha = createHash("sha256").update(bytes).digest("hex");
    if (bytes.length !== c.size || sha !== c.sha256) {
      r.quarantined.set(
        c.attachmentId,
        `size ${bytes.length}/${c.size}, sha256 ${sha === c.sha256 ? "ok" : "mismatch"}`,
      );
      return;
    }
    r.files.set(c.attachmentId, {
      attachmentId: c.attachmentId,
      messageId: c.messageId,
      mimeType: c.mimeType,
      bytes: new Uint8Array(bytes),
    });
  }

  function makeServer(): Server {
    const s = createServer((req, res) => {
      r.inFlight++;
      r.maxInFlight = Math.max(r.maxInFlight, r.inFlight);
      let counted = true;
      const release = () => {
        if (counted) r.inFlight--;
        counted = false;
      };
      res.on("close", release);
      handle(req, res).catch((e) => {
        if (!res.headersSent) send(res, 500, { error: String(e) });
      });
    });
    s.on("connection", (sock) => {
      sockets.add(sock);
      sock.on("close", () => sockets.delete(sock));
    });
    return s;
  }

  function listen(port: number): Promise<void> {
    return new Promise((res, rej) => {
      server.once("error", rej);
      server.listen(port, "127.0.0.1", () => {
        server.off("error", rej);
        const a = server.address();
        r.port = typeof a === "object" && a ? a.port : port;
        r.url = `http://127.0.0.1:${r.port}`;
        res();
      });
    });
  }

  server = makeServer();
  await listen(opts.port ?? 0);
  return r;
}
