/** sync-v1 receiver (convex/syncPush.ts, syncIngest.ts, attachments.ts) under convex-test. */
import { afterEach, beforeEach, describe, expect, setDefaultTimeout, test } from "bun:test";
import { internal } from "../../convex/_generated/api";
import { sha256Hex } from "../../convex/lib/crypto.ts";
import { type captureLogs, newUserConvex, SYNC_SECRET, signedPush, type TestConvex, USER } from "./setup.ts";

// These tests run real servers, child processes and the scheduler: bun test's 5 s default is too short under load.
setDefaultTimeout(60_000);

let t: TestConvex;
let logs: ReturnType<typeof captureLogs>;
beforeEach(async () => {
  ({ t, logs } = await newUserConvex());
});
afterEach(() => {
  logs.restore();
  if (process.env.DEBUG_CONVEX) console.log(logs.lines.join("\n"));
});

let seq = 0;
const msg = (over: Record<string, unknown> = {}) => {
  seq++;
  return {
    id: `msg-${seq}`,
    seq,
    sessionKey: "agent:main:main",
    sessionId: "sess-1",
    role: "user",
    content: [{ type: "text", text: `hello ${seq}` }],
    createdAt: 1_760_000_000_000 + seq,
    ...over,
  };
};
const batch = (entries: unknown[], over: Record<string, unknown> = {}) => ({
  batchId: crypto.randomUUID(),
  userId: USER,
  machineId: "m-1",
  entries,
  ...over,
});
const all = <T extends "messages" | "conversations" | "tombstones" | "attachments" | "quarantine">(
  table: T,
) => t.run((ctx) => ctx.db.query(table).collect());

describe("push", () => {
  test("stores a batch, acks through its last seq; a replay changes nothing", async () => {
    const entries = [
      msg(),
      msg({
        role: "assistant",
        model: "anthropic/claude",
        usage: { inputTokens: 3, outputTokens: 5 },
        stopReason: "error",
        error: { code: "upstream_error", message: "provider down" },
      }),
      msg({ kind: "message" }),
    ];
    const res = await signedPush(t, batch(entries));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ackedThroughSeq: entries[2]!.seq, inserted: 3, duplicates: 0 });
    const stored = await all("messages");
    expect(stored.map((m) => m.id)).toEqual(entries.map((e) => e.id));
    const assistant = stored.find((m) => m.role === "assistant")!;
    expect(assistant).toMatchObject({
      stopReason: "error",
      error: { code: "upstream_error" },
      machineId: "m-1",
    });
    const convs = await all("conversations");
    expect(convs).toHaveLength(1);
    expect(convs[0]).toMatchObject({ userId: USER, sessionId: "sess-1", messageCount: 3 });

    const replay = await signedPush(t, batch(entries));
    expect(await replay.json()).toEqual({ ackedThroughSeq: entries[2]!.seq, inserted: 0, duplicates: 3 });
    expect(await all("messages")).toEqual(stored);
    expect((await all("conversations"))[0]!.messageCount).toBe(3);
  });

  test("authentication: bad signature, stale timestamp, unknown user, revoked key → 401; no secret in logs", async () => {
    const b = batch([msg()]);
    const cases: [Parameters<typeof signedPush>[2], string][] = [
      [{ secret: "not-the-secret-0123456789" }, "bad signature"],
      [{ ts: Math.floor(Date.now() / 1000) - 301 }, "timestamp"],
      [{ ts: Math.floor(Date.now() / 1000) + 301 }, "timestamp"],
      [{ user: "user_nobody" }, "bad signature"],
    ];
    for (const [opts, why] of cases) {
      const res = await signedPush(t, b, opts);
      expect(res.status).toBe(401);
      expect(((await res.json()) as { error: string }).error).toContain(why);
    }
    expect((await signedPush(t, b, { ts: Math.floor(Date.now() / 1000) - 299 })).status).toBe(200);
    await t.mutation(internal.credentials.revoke, { userId: USER });
    expect((await signedPush(t, batch([msg()]))).status).toBe(401);
    expect(logs.lines.length).toBeGreaterThan(0);
    expect(logs.lines.join("\n")).not.toContain(SYNC_SECRET);
  });

  test("400 and 413 rules", async () => {
    const cases: [unknown, number, string, string?][] = [
      [batch([{ ...msg(), extra: 1 }]), 400, "entry"],
      [batch([msg()], { userId: "user_other" }), 400, "userId does not match"],
      [batch([msg({ seq: 9 }), msg({ seq: 3 })]), 400, "seqs must ascend"],
      [batch([{ ...msg(), kind: "reaction" }]), 400, "unknown kind"],
      [batch([msg({ content: [{ type: "video", url: "x" }] })]), 400, "entry"],
      [batch([]), 400, "invalid body"],
      [{ ...batch([msg()]), batchId: "not-a-uuid" }, 400, "invalid body"],
      [batch(Array.from({ length: 201 }, () => msg())), 413, "201 entries"],
      [batch([msg({ content: [{ type: "text", text: "x".repeat(1_000_001) }] })]), 413, "bytes"],
      [null, 400, "not UTF-8 JSON", "{not json"],
    ];
    for (const [body, status, why, raw] of cases) {
      const res = await signedPush(t, body, raw ? { raw } : {});
      expect(res.status).toBe(status);
      expect(((await res.json()) as { error: string }).error).toContain(why);
    }
    expect(await all("messages")).toHaveLength(0);
  });

  test("an entry the store refuses: acked through the one before it; alone it is a 400 naming it (never retried forever)", async () => {
    const good = msg();
    const bad = msg({ role: "assistant", usage: { $reserved: 1 } }); // Convex refuses "$" field names
    const after = msg();
    const res = await signedPush(t, batch([good, bad, after]));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ ackedThroughSeq: good.seq, inserted: 1, duplicates: 0 });
    const alone = await signedPush(t, batch([bad, after]));
    expect(alone.status).toBe(400);
    expect(((await alone.json()) as { error: string }).error).toContain(`entry ${bad.id} cannot be stored`);
    expect((await all("messages")).map((m) => m.id)).toEqual([good.id]);
    // the sender then isolates it; the entries after it go on
    expect(await (await signedPush(t, batch([after]))).json()).toMatchObject({
      ackedThroughSeq: after.seq,
      inserted: 1,
    });
  });

  test("a session tombstone removes the session's messages; a late message does not resurrect it", async () => {
    const a = msg();
    const b = msg();
    const other = msg({ sessionId: "sess-2" });
    expect((await signedPush(t, batch([a, b, other]))).status).toBe(200);
    seq++;
    const tomb = {
      kind: "session_tombstone",
      id: "tombstone:sess-1",
      seq,
      sessionKey: "agent:main:main",
      sessionId: "sess-1",
      deletedAt: 1_760_000_100_000,
    };
    const late = msg();
    const res = await signedPush(t, batch([tomb, late]));
    expect(await res.json()).toEqual({ ackedThroughSeq: late.seq, inserted: 1, duplicates: 1 });
    await t.finishAllScheduledFunctions(() => {});
    expect((await all("messages")).map((m) => m.id)).toEqual([other.id]);
    expect((await all("tombstones")).map((x) => x.sessionId)).toEqual(["sess-1"]);
    const listed = await t.query(internal.conversations.list, { userId: USER });
    expect(listed.map((c) => c.sessionId)).toEqual(["sess-2"]);
    const withDeleted = await t.query(internal.conversations.list, { userId: USER, includeDeleted: true });
    expect(withDeleted.find((c) => c.sessionId === "sess-1")?.deletedAt).toBe(tomb.deletedAt);
    // replaying the tombstone changes nothing
    expect(await (await signedPush(t, batch([tomb]))).json()).toMatchObject({ inserted: 0, duplicates: 1 });
  });
});

describe("attachments", () => {
  const chunked = async (bytes: Uint8Array, size = 100_000, claim?: { size?: number; sha256?: string }) => {
    const sha256 = claim?.sha256 ?? (await sha256Hex(bytes));
    const count = Math.ceil(bytes.length / size);
    const attachmentId = `att-${crypto.randomUUID()}`;
    return Array.from({ length: count }, (_, index) => {
      seq++;
      return {
        kind: "attachment_chunk",
        id: `attachment:${attachmentId}:${index}`,
        seq,
        attachmentId,
        messageId: "msg-with-file",
        sessionId: "sess-1",
        mimeType: "application/pdf",
        size: claim?.size ?? bytes.length,
        sha256,
        index,
        count,
        data: Buffer.from(bytes.subarray(index * size, (index + 1) * size)).toString("base64"),
      };
    });
  };
  const file = (n: number) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + 7) % 256);

  test("chunks across batches and replays are assembled once, verified and stored", async () => {
    const bytes = file(250_000);
    const chunks = await chunked(bytes);
    expect(chunks).toHaveLength(3);
    expect((await signedPush(t, batch([chunks[0], chunks[2]]))).status).toBe(200);
    expect((await signedPush(t, batch([chunks[0]]))).status).toBe(200); // replay
    await t.finishAllScheduledFunctions(() => {});
    expect((await all("attachments"))[0]).toMatchObject({ status: "receiving", received: 2 });
    const res = await signedPush(t, batch([chunks[1], chunks[2]]));
    expect(await res.json()).toMatchObject({ inserted: 1, duplicates: 1 });
    await t.finishAllScheduledFunctions(() => {});
    const att = await t.query(internal.attachments.get, {
      userId: USER,
      attachmentId: chunks[0]!.attachmentId,
    });
    expect(att).toMatchObject({ status: "stored", size: 250_000, mimeType: "application/pdf" });
    const stored = await t.run(async (ctx) => await (await ctx.storage.get(att!.storageId!))!.arrayBuffer());
    expect(new Uint8Array(stored)).toEqual(bytes);
    // chunks are removed once stored; a late replay of a chunk is a duplicate, not a new assembly
    expect(await t.run((ctx) => ctx.db.query("attachmentChunks").collect())).toHaveLength(0);
    expect(await (await signedPush(t, batch([chunks[1]]))).json()).toMatchObject({
      inserted: 0,
      duplicates: 1,
    });
    expect(await all("quarantine")).toHaveLength(0);
  });

  test("a sha256 or size mismatch is quarantined with its reason, never dropped", async () => {
    const bytes = file(1000);
    const badSha = await chunked(bytes, 600, { sha256: "0".repeat(64) });
    const badSize = await chunked(bytes, 600, { size: 999 });
    expect((await signedPush(t, batch([...badSha, ...badSize]))).status).toBe(200);
    await t.finishAllScheduledFunctions(() => {});
    const q = await t.query(internal.conversations.quarantined, { userId: USER });
    expect(q.map((r) => r.ref).sort()).toEqual([badSha[0]!.attachmentId, badSize[0]!.attachmentId].sort());
    expect(q.find((r) => r.ref === badSha[0]!.attachmentId)?.reason).toContain("sha256");
    expect(q.find((r) => r.ref === badSize[0]!.attachmentId)?.reason).toContain("999");
    expect((await all("attachments")).every((a) => a.status === "quarantined")).toBe(true);
    // the chunks are kept for inspection
    expect(await t.run((ctx) => ctx.db.query("attachmentChunks").collect())).toHaveLength(4);
  });

  test("a chunk over 262144 bytes is 413; a malformed id is 400", async () => {
    const [big] = await chunked(file(262_145), 262_145);
    expect((await signedPush(t, batch([big]))).status).toBe(413);
    const [c] = await chunked(file(10));
    expect((await signedPush(t, batch([{ ...c, id: "attachment:other:0" }]))).status).toBe(400);
  });
});
