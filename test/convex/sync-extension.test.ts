/**
 * The sync-v1 extension end to end with the REAL sender: a real store (a run with image and PDF
 * attachments, a second session that is then deleted) drained by the real SyncRunner through the
 * loopback adapter into the Convex receiver. The attachments are assembled in Convex file storage
 * byte for byte, the deleted session leaves a tombstone and no messages, and a full replay of the
 * outbox changes nothing.
 */
import { afterEach, beforeEach, expect, setDefaultTimeout, test } from "bun:test";
import { createHash } from "node:crypto";
import { internal } from "../../convex/_generated/api";
import { createLogger, memoryDestination } from "../../src/shared/log.ts";
import { openStore, type Store } from "../../src/shared/store/index.ts";
import { SyncRunner } from "../../src/sync/runner.ts";
import { tempDir, waitFor } from "../helpers/index.ts";
import { recordingSleep } from "../sync/harness.ts";
import {
  type Loopback,
  SYNC_SECRET,
  startUserLoopback,
  type TestConvex,
  USER,
  type UserLoopback,
} from "./setup.ts";

// These tests run real servers and the scheduler: bun test's 5 s default is too short under load.
setDefaultTimeout(60_000);

let convex: UserLoopback;
let t: TestConvex;
let lb: Loopback;
let dir: { path: string; cleanup(): void };
let writer: Store;
let runner: SyncRunner | null = null;
let workerStore: Store | null = null;

beforeEach(async () => {
  convex = await startUserLoopback();
  ({ t, lb } = convex);
  dir = tempDir("pipbot-convex-ext-");
  writer = openStore(dir.path);
});
afterEach(async () => {
  await runner?.stop(100);
  workerStore?.close();
  await convex.stop();
  writer.close();
  dir.cleanup();
});

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const file = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * seed + 11) % 256);
const att = (type: "image" | "document", mimeType: string, data: Uint8Array, fileName?: string) => ({
  ref: {
    type,
    attachmentId: crypto.randomUUID(),
    mimeType,
    ...(fileName ? { fileName } : {}),
    size: data.length,
    sha256: sha(data),
  },
  data,
});

function startRunner(): SyncRunner {
  workerStore = openStore(dir.path);
  runner = new SyncRunner({
    store: workerStore,
    target: { siteUrl: lb.url, userId: USER, machineId: "m-1", secret: SYNC_SECRET, timeoutMs: 10_000 },
    logger: createLogger({
      proc: "sync",
      level: "info",
      destination: memoryDestination(),
      secrets: [SYNC_SECRET],
    }),
    sleep: recordingSleep([]),
    backoff: { baseMs: 10, capMs: 100 },
    authRetryMs: 20,
    pollIntervalMs: 5,
    quarantineAfter: 3,
  });
  void runner.start();
  return runner;
}

test("attachments assembled byte for byte, a deleted session tombstoned and emptied, replays change nothing", async () => {
  const kept = writer.getOrCreateSession("main");
  const image = att("image", "image/png", file(600_000, 7), "photo.png"); // 3 chunks
  const pdf = att("document", "application/pdf", file(5_000, 13), "doc.pdf");
  writer.startRun({
    runId: "run-1",
    sessionId: kept.id,
    userText: "what is in these?",
    attachments: [image, pdf],
  });
  writer.appendMessage({
    sessionId: kept.id,
    role: "assistant",
    content: [{ type: "text", text: "a photo and a pdf" }],
    stopReason: "end_turn",
  });
  const doomed = writer.getOrCreateSession("doomed");
  for (let i = 0; i < 3; i++)
    writer.appendMessage({
      sessionId: doomed.id,
      role: "user",
      content: [{ type: "text", text: `bye ${i}` }],
    });
  expect(writer.deleteSession("doomed")).not.toBeNull();

  startRunner();
  await waitFor(() => writer.outboxStats().pending === 0, {
    timeoutMs: 30_000,
    what: "the outbox delivered",
  });
  await t.finishAllScheduledFunctions(() => {});

  for (const a of [image, pdf]) {
    const stored = await t.query(internal.attachments.get, {
      userId: USER,
      attachmentId: a.ref.attachmentId,
    });
    expect(stored).toMatchObject({
      status: "stored",
      size: a.data.length,
      sha256: a.ref.sha256,
      mimeType: a.ref.mimeType,
    });
    const bytes = await t.run(
      async (ctx) => await (await ctx.storage.get(stored!.storageId!))!.arrayBuffer(),
    );
    expect(sha(new Uint8Array(bytes))).toBe(a.ref.sha256);
  }
  const messages = await t.run((ctx) => ctx.db.query("messages").collect());
  expect(messages.every((m) => m.sessionId === kept.id)).toBe(true);
  expect(messages).toHaveLength(2);
  const user = messages.find((m) => m.role === "user")!;
  expect(
    user.content
      .filter((b: { type: string }) => b.type !== "text")
      .map((b: { attachmentId: string }) => b.attachmentId),
  ).toEqual([image.ref.attachmentId, pdf.ref.attachmentId]);
  expect((await t.run((ctx) => ctx.db.query("tombstones").collect())).map((x) => x.sessionId)).toEqual([
    doomed.id,
  ]);
  const listed = await t.query(internal.conversations.list, { userId: USER, includeDeleted: true });
  expect(listed.find((c) => c.sessionId === doomed.id)?.deletedAt).toBeGreaterThan(0);
  expect(await t.query(internal.conversations.quarantined, { userId: USER })).toEqual([]);

  // replay everything: nothing changes
  const snapshot = async () => ({
    messages: await t.run((ctx) => ctx.db.query("messages").collect()),
    attachments: await t.run((ctx) => ctx.db.query("attachments").collect()),
    tombstones: await t.run((ctx) => ctx.db.query("tombstones").collect()),
  });
  const before = await snapshot();
  writer.db.run("UPDATE outbox SET delivered_at = NULL");
  await waitFor(() => writer.outboxStats().pending === 0, {
    timeoutMs: 30_000,
    what: "the replay delivered",
  });
  await t.finishAllScheduledFunctions(() => {});
  expect(await snapshot()).toEqual(before);
});
